# Semantic FPN + WaveFormer-S on ADE20K, 512x512 crops, 40k iterations of 32 images (8 GPUs x 4),
# PVT's Semantic FPN recipe (no original config exists; ../../README.md, "Recipes: ours vs the originals").
# Backbone initialised from pretrained/wavemsa_s_in1k.pth (../_base_/models/encoder_decoder_wavemsa.py).
# Paper (Semantic FPN, WaveFormer-S): 23.4 M params, 40.4 GFLOPs, 47.2 mIoU.
_base_ = [
    '../_base_/models/fpn_wavemsa.py', '../_base_/datasets/ade20k.py',
    '../_base_/default_runtime.py', '../_base_/schedules/adamw_40k.py'
]
crop_size = (512, 512)
data_preprocessor = dict(size=crop_size)
model = dict(data_preprocessor=data_preprocessor, decode_head=dict(num_classes=150))
train_dataloader = dict(batch_size=4)
val_dataloader = dict(batch_size=1)
test_dataloader = val_dataloader
