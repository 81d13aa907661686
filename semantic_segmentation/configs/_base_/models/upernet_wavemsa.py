# UperNet (UPerHead + FCN auxiliary head) on a WaveFormer-S backbone; override arch/in_channels for B/L.
# The backbone is the wavemsa library's, registered by the `wavemsa_seg` plug-in (custom_imports).
custom_imports = dict(imports=['wavemsa_seg'], allow_failed_imports=False)
norm_cfg = dict(type='SyncBN', requires_grad=True)  # BN on a machine without CUDA (tools/train.py)
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
    decode_head=dict(
        type='UPerHead',
        in_channels=[64, 128, 320, 448],
        in_index=[0, 1, 2, 3],
        pool_scales=(1, 2, 3, 6),
        channels=512,
        dropout_ratio=0.1,
        num_classes=150,
        norm_cfg=norm_cfg,
        align_corners=False,
        loss_decode=dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0)),
    auxiliary_head=dict(
        type='FCNHead',
        in_channels=320,
        in_index=2,
        channels=256,
        num_convs=1,
        concat_input=False,
        dropout_ratio=0.1,
        num_classes=150,
        norm_cfg=norm_cfg,
        align_corners=False,
        loss_decode=dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=0.4)),
    train_cfg=dict(),
    test_cfg=dict(mode='whole'))
