# CPU demo (0.32 GFLOPs per 128x128 image): UperNet (64 channels) + the tiny WaveFormer (arch='t')
# on the built-in digit scenes (datasets/make_ade20k.py: ADEChallengeData2016 layout, 11 classes: raw 1 =
# background, 2..11 = digits 0..9; raw 0 = other, ignored as in ADE20K, unused by the built-in set).
# The backbone starts from the classification demo's checkpoint (output/demo/best.pth) when it exists,
# from scratch otherwise. Run by `make demo-seg`; paths are relative to the repository root.
_base_ = ['../_base_/models/upernet_wavemsa.py', '../_base_/default_runtime.py']
import os.path as osp  # noqa: E402  (after _base_: mmengine reads an import first as a lazy-import config)

max_iters = 2400
crop_size = (128, 128)
data_root = 'datasets/builtin/ADEChallengeData2016'
classification_checkpoint = 'output/demo/best.pth'
init_cfg = (dict(type='Pretrained', checkpoint=classification_checkpoint)
            if osp.isfile(classification_checkpoint) else None)

norm_cfg = dict(type='BN', requires_grad=True)
# The background covers most of each scene, each digit a small part: the loss weighs the background 0.2 and each
# digit 1, with the plug-in's ClassWeightedCrossEntropyLoss, which averages
# over the pixels that are not ignored (raw 0 'other', raw 255; mmseg's CrossEntropyLoss with class_weight fails
# on them, open-mmlab/mmsegmentation#3734). The padding of down-scaled crops is labelled background, as it looks
# (black).
class_weight = [0.2] + [1.0] * 10
weighted_loss = dict(type='ClassWeightedCrossEntropyLoss', class_weight=class_weight)
model = dict(
    data_preprocessor=dict(size=crop_size, seg_pad_val=0),
    backbone=dict(arch='t', drop_path_rate=0.05, init_cfg=init_cfg,
                  bn_requires_grad=True),  # pinned: the ADE20K configs freeze BN scale/shift
    decode_head=dict(in_channels=[32, 64, 128, 192], channels=64, num_classes=11, norm_cfg=norm_cfg,
                     loss_decode=weighted_loss),
    auxiliary_head=dict(in_channels=128, channels=32, num_classes=11, norm_cfg=norm_cfg,
                        loss_decode=weighted_loss))

# Digits are not mirror-symmetric: no flip. Scale jitter and colour distortion only.
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='CheckSegMap'),
    dict(type='RandomResize', scale=crop_size, ratio_range=(0.75, 1.5), keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size),
    dict(type='PhotoMetricDistortion'),
    dict(type='PackSegInputs')
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='CheckSegMap'),
    dict(type='PackSegInputs')
]
train_dataloader = dict(
    batch_size=8,
    num_workers=1,
    persistent_workers=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(
        type='DigitScenesDataset',
        data_root=data_root,
        data_prefix=dict(img_path='images/training', seg_map_path='annotations/training'),
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=8,
    num_workers=1,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type='DigitScenesDataset',
        data_root=data_root,
        data_prefix=dict(img_path='images/validation', seg_map_path='annotations/validation'),
        pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(type='IoUMetric', iou_metrics=['mIoU'])
test_evaluator = val_evaluator

optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=1e-3, betas=(0.9, 0.999), weight_decay=0.01),
    paramwise_cfg=dict(norm_decay_mult=0.0, bias_decay_mult=0.0),
    clip_grad=dict(max_norm=5.0))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=False, begin=0, end=60),
    dict(type='PolyLR', eta_min=0.0, power=1.0, begin=60, end=max_iters, by_epoch=False),
]
train_cfg = dict(type='ResumableIterBasedTrainLoop', max_iters=max_iters, val_interval=max_iters // 2)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=20, log_metric_by_epoch=False),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=max_iters, max_keep_ckpts=1),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    # with --show-dir, tools/test.py draws every 5th validation batch (ground truth | prediction)
    visualization=dict(type='SegVisualizationHook', interval=5))
env_cfg = dict(cudnn_benchmark=False, dist_cfg=dict(backend='gloo'))
randomness = dict(seed=0)
