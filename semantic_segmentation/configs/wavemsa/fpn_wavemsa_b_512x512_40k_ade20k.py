# Semantic FPN + WaveFormer-B on ADE20K: the S recipe with the B backbone (last stage 512 channels).
_base_ = './fpn_wavemsa_s_512x512_40k_ade20k.py'
model = dict(
    backbone=dict(arch='b', init_cfg=dict(checkpoint='{{ fileDirname }}/../../../pretrained/wavemsa_b_in1k.pth')),
    neck=dict(in_channels=[64, 128, 320, 512]))
