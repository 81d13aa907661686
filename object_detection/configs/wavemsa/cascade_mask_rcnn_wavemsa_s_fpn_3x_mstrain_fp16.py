# Cascade Mask R-CNN + WaveFormer-S, 3x schedule (36 epochs), multi-scale training with random crops
# (shorter side 480-800, as for Swin), AdamW, mixed precision (mmengine AmpOptimWrapper).
_base_ = [
    'mmdet::cascade_rcnn/cascade-mask-rcnn_r50_fpn_1x_coco.py',
    '../_base_/wavemsa_s_coco.py',
    '../_base_/schedules/adamw_3x_fp16.py',
]

model = dict(backbone=_base_.wavemsa_backbone, neck=dict(in_channels=[64, 128, 320, 448]))

ms_scales = [(1333, s) for s in range(480, 801, 32)]
train_pipeline = [
    dict(type='LoadImageFromFile', backend_args={{_base_.backend_args}}),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(type='RandomFlip', prob=0.5),
    dict(
        type='RandomChoice',
        transforms=[
            [dict(type='RandomChoiceResize', scales=ms_scales, keep_ratio=True)],
            [
                dict(type='RandomChoiceResize', scales=[(1333, 400), (1333, 500), (1333, 600)],
                     keep_ratio=True),
                dict(type='RandomCrop', crop_type='absolute_range', crop_size=(384, 600),
                     allow_negative_crop=True),
                dict(type='RandomChoiceResize', scales=ms_scales, keep_ratio=True),
            ],
        ]),
    dict(type='PackDetInputs'),
]
data_root = _base_.coco_root
train_dataloader = dict(dataset=dict(data_root=data_root, pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(data_root=data_root))
test_dataloader = val_dataloader
val_evaluator = dict(ann_file=data_root + 'annotations/instances_val2017.json')
test_evaluator = val_evaluator

max_epochs = _base_.adamw_3x_fp16.max_epochs
train_cfg = dict(max_epochs=max_epochs)
param_scheduler = _base_.adamw_3x_fp16.param_scheduler
optim_wrapper = _base_.adamw_3x_fp16.optim_wrapper
