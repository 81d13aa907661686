# Mask R-CNN + WaveFormer-B, 1x schedule: the S config with the B backbone.
_base_ = './mask_rcnn_wavemsa_s_fpn_1x_coco.py'

model = dict(
    backbone=dict(arch='b', init_cfg=dict(checkpoint='{{ fileDirname }}/../../../pretrained/wavemsa_b_in1k.pth')),
    neck=dict(in_channels=[64, 128, 320, 512]))
