# Semantic FPN + WaveFormer-S on ADE20K, 512x512 crops, 80k iterations of 16 images (8 GPUs x 2).
# Paper (Semantic FPN, WaveFormer-S): 23.4 M params, 40.4 GFLOPs, 47.2 mIoU.
_base_ = [
    '../_base_/models/fpn_wavemsa.py', '../_base_/datasets/ade20k.py',
    '../_base_/default_runtime.py', '../_base_/schedules/adamw_80k.py'
]
crop_size = (512, 512)
checkpoint_file = 'pretrained/wavemsa_s_in1k.pth'  # see wavemsa_s_512x512_160k_ade20k.py
data_preprocessor = dict(size=crop_size)
model = dict(
    data_preprocessor=data_preprocessor,
    backbone=dict(
        arch='s',
        drop_path_rate=0.1,
        init_cfg=dict(type='Pretrained', checkpoint=checkpoint_file)),
    neck=dict(in_channels=[64, 128, 320, 448]),
    decode_head=dict(num_classes=150))
train_dataloader = dict(batch_size=2)
val_dataloader = dict(batch_size=1)
test_dataloader = val_dataloader
