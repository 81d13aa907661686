# GFL + WaveFormer-S, 3x schedule (36 epochs), multi-scale training with random crops (DETR-style, longer
# side at most 1200), AdamW, fp16 (static loss scale 512): the original jack-li123/WaveMSA
# object_detection/configs/wavemsa/gfl_wavemsa_s_fpn_3x_mstrain_fp16.py, whose detector settings equal
# MMDetection's GFL config (differences: ../../README.md, "Recipes: ours vs the originals").
_base_ = [
    'mmdet::gfl/gfl_r50_fpn_1x_coco.py',
    '../_base_/wavemsa_s_coco.py',
    '../_base_/datasets/coco_ms_crop.py',
    '../_base_/schedules/adamw_3x_fp16.py',
]

model = dict(
    backbone=_base_.wavemsa_backbone,
    neck=dict(in_channels=[64, 128, 320, 448], start_level=1, add_extra_convs='on_output'))

train_pipeline = _base_.ms_crop_pipeline_1200
data_root = _base_.coco_root
train_dataloader = dict(dataset=dict(type=_base_.coco_dataset, data_root=data_root, pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(type=_base_.coco_dataset, data_root=data_root))
test_dataloader = val_dataloader
val_evaluator = dict(ann_file=data_root + 'annotations/instances_val2017.json')
test_evaluator = val_evaluator

max_epochs = _base_.adamw_3x_fp16.max_epochs
# mmengine's epoch loop, continuing a run stopped mid-epoch at the step where it stopped (wavemsa_det registers it)
train_cfg = dict(type='ResumableEpochBasedTrainLoop', max_epochs=max_epochs)
param_scheduler = _base_.adamw_3x_fp16.param_scheduler
optim_wrapper = _base_.adamw_3x_fp16.optim_wrapper
