# Sparse R-CNN + WaveFormer-S, 300 learnable proposals, 3x schedule (36 epochs), multi-scale training
# with random crops (shorter side 480-800). AdamW (lr 2.5e-5, clip 1.0) as in MMDetection's config.
_base_ = [
    'mmdet::sparse_rcnn/sparse-rcnn_r50_fpn_300-proposals_crop-ms-480-800-3x_coco.py',
    '../_base_/wavemsa_s_coco.py',
]

model = dict(backbone=_base_.wavemsa_backbone, neck=dict(in_channels=[64, 128, 320, 448]))

data_root = _base_.coco_root
train_dataloader = dict(dataset=dict(data_root=data_root))
val_dataloader = dict(dataset=dict(data_root=data_root))
test_dataloader = val_dataloader
val_evaluator = dict(ann_file=data_root + 'annotations/instances_val2017.json')
test_evaluator = val_evaluator

optim_wrapper = dict(
    optimizer=dict(_delete_=True, type='AdamW', lr=0.000025, betas=(0.9, 0.999), weight_decay=0.0001),
    clip_grad=dict(max_norm=1, norm_type=2))
