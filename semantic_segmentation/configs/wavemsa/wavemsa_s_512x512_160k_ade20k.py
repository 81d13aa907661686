# UperNet + WaveFormer-S on ADE20K, 512x512 crops, 160k iterations of 16 images (8 GPUs x 2), AdamW,
# fp16: the original jack-li123/WaveMSA semantic_sgemention/configs/wavemsa/wavemsa_s_512x512_160k_ade20k.py
# (differences: ../../README.md, "Recipes: ours vs the originals"). Backbone initialised from
# pretrained/wavemsa_s_in1k.pth (../_base_/models/encoder_decoder_wavemsa.py).
# Paper (UperNet, WaveFormer-S): 48.7 M params, 240 GFLOPs, 49.3 mIoU (single scale).
_base_ = [
    '../_base_/models/upernet_wavemsa.py', '../_base_/datasets/ade20k.py',
    '../_base_/default_runtime.py', '../_base_/schedules/adamw_160k.py'
]
crop_size = (512, 512)
data_preprocessor = dict(size=crop_size)
model = dict(
    data_preprocessor=data_preprocessor,
    decode_head=dict(in_channels=[64, 128, 320, 448], num_classes=150),
    auxiliary_head=dict(in_channels=320, num_classes=150))
train_dataloader = dict(batch_size=2)
val_dataloader = dict(batch_size=1)
test_dataloader = val_dataloader
