# Sparse R-CNN + WaveFormer-S, 300 learnable proposals, 3x schedule (36 epochs), multi-scale training
# with random crops (DETR-style), AdamW lr 2e-5 (= 2.5e-5 / 1.25) with gradient clipping, 1 image per
# GPU, fp16 (static loss scale 512): the original jack-li123/WaveMSA
# object_detection/configs/wavemsa/sparse_rcnn_wavemsa_s_fpn_300_proposals_crop_mstrain_480-800_3x_coco.py,
# whose detector settings equal MMDetection's Sparse R-CNN config
# (differences: ../../README.md, "Recipes: ours vs the originals").
_base_ = [
    'mmdet::sparse_rcnn/sparse-rcnn_r50_fpn_300-proposals_crop-ms-480-800-3x_coco.py',
    '../_base_/wavemsa_s_coco.py',
    '../_base_/datasets/coco_ms_crop.py',
    '../_base_/schedules/adamw_3x_fp16.py',
]

model = dict(backbone=_base_.wavemsa_backbone, neck=dict(in_channels=[64, 128, 320, 448]))

train_pipeline = _base_.ms_crop_pipeline
data_root = _base_.coco_root
# 1 image (and 1 loader worker) per GPU: 8 images per step on the originals' 8 GPUs
train_dataloader = dict(
    batch_size=1, num_workers=1,
    dataset=dict(type=_base_.coco_dataset, data_root=data_root, pipeline=train_pipeline))
val_dataloader = dict(num_workers=1, dataset=dict(type=_base_.coco_dataset, data_root=data_root))
test_dataloader = val_dataloader
val_evaluator = dict(ann_file=data_root + 'annotations/instances_val2017.json')
test_evaluator = val_evaluator
auto_scale_lr = dict(base_batch_size=8)

max_epochs = _base_.adamw_3x_fp16.max_epochs
# mmengine's epoch loop, continuing a run stopped mid-epoch at the step where it stopped (wavemsa_det registers it)
train_cfg = dict(type='ResumableEpochBasedTrainLoop', max_epochs=max_epochs)
param_scheduler = _base_.adamw_3x_fp16.param_scheduler
optim_wrapper = dict(
    _delete_=True,
    type='AmpOptimWrapper',
    loss_scale=512.,
    optimizer=dict(type='AdamW', lr=0.000025 / 1.25, betas=(0.9, 0.999), weight_decay=0.0001),
    clip_grad=dict(max_norm=1, norm_type=2))
find_unused_parameters = False  # the original leaves it commented out
