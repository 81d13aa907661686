# EncoderDecoder on a WaveFormer-S backbone: what upernet_wavemsa.py and fpn_wavemsa.py share (they add the
# neck and heads). The backbone is the wavemsa library's, registered by the `wavemsa_seg` plug-in
# (custom_imports); its settings are the originals' (jack-li123/WaveMSA, YehLi/ImageNetModel
# semantic_segmentation: mmseg/models/backbones/wavevit.py builds every backbone BatchNorm with
# requires_grad=False and leaves it in training mode).
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
    backbone=dict(
        type='WaveFormer',
        arch='s',
        out_indices=(0, 1, 2, 3),
        drop_path_rate=0.1,
        wave_stages=2,  # WaveMSA in stages 1-2; 3 = the published code's stages 1-3 reading
        frozen_stages=-1,
        norm_eval=False,  # BatchNorm statistics keep updating in training
        bn_requires_grad=False,  # BatchNorm scale/shift frozen, as in the originals
        with_cp=False,
        # ImageNet-1k checkpoint of image_classification/main.py (paths from the repository root; the
        # classifier is ignored): its non-EMA weights, as the originals load theirs. EMA weights:
        # --cfg-options model.backbone.init_cfg.use_ema=True; another file: ...init_cfg.checkpoint=PATH
        init_cfg=dict(type='Pretrained', checkpoint='pretrained/wavemsa_s_in1k.pth', use_ema=False)),
    train_cfg=dict(),
    test_cfg=dict(mode='whole'))
