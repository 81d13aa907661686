# EncoderDecoder on a WaveFormer-S backbone: what upernet_wavemsa.py and fpn_wavemsa.py share (they add the
# neck and heads). The backbone is the wavemsa library's, registered by the `wavemsa_seg` plug-in
# (custom_imports).
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
        frozen_stages=-1,
        norm_eval=False,
        with_cp=False),
    train_cfg=dict(),
    test_cfg=dict(mode='whole'))
