# EncoderDecoder on a WaveFormer-S backbone: what upernet_wavemsa.py and fpn_wavemsa.py share (they add the
# neck and heads). The backbone is the wavemsa library's, registered by the `wavemsa_seg` plug-in
# (custom_imports), with the settings of <repo>/configs/_base_/wavemsa_s_backbone.py (the originals':
# jack-li123/WaveMSA, YehLi/ImageNetModel semantic_segmentation: mmseg/models/backbones/wavevit.py builds every
# backbone BatchNorm with requires_grad=False and leaves it in training mode), shared with the detection configs.
_base_ = ['../../../../configs/_base_/wavemsa_s_backbone.py']
custom_imports = dict(imports=['wavemsa_seg'], allow_failed_imports=False)
data_preprocessor = dict(
    type='SegDataPreProcessor',
    mean=[123.675, 116.28, 103.53],  # ImageNet statistics, as the classification training used
    std=[58.395, 57.12, 57.375],
    bgr_to_rgb=True,
    pad_val=0,
    seg_pad_val=255)
model = dict(
    type='EncoderDecoder',
    data_preprocessor=data_preprocessor,
    pretrained=None,
    backbone=_base_.backbone_wavemsa_s,
    train_cfg=dict(),
    test_cfg=dict(mode='whole'))
