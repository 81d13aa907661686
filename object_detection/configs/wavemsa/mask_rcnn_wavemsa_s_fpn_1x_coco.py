# Mask R-CNN + WaveFormer-S, 1x schedule (12 epochs), single scale, AdamW lr 2e-4, fp16 (static loss
# scale 512): the original jack-li123/WaveMSA object_detection/configs/wavemsa/mask_rcnn_wavemsa_s_fpn_1x_coco.py
# on MMDetection's Mask R-CNN, COCO and 1x-schedule bases
# (differences: ../../README.md, "Recipes: ours vs the originals").
_base_ = ['mmdet::mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py', '../_base_/wavemsa_s_coco.py']

model = dict(backbone=_base_.wavemsa_backbone, neck=dict(in_channels=[64, 128, 320, 448]))

data_root = _base_.coco_root
train_dataloader = dict(dataset=dict(type=_base_.coco_dataset, data_root=data_root))
val_dataloader = dict(dataset=dict(type=_base_.coco_dataset, data_root=data_root))
test_dataloader = val_dataloader
val_evaluator = dict(ann_file=data_root + 'annotations/instances_val2017.json')
test_evaluator = val_evaluator

optim_wrapper = dict(
    _delete_=True,
    type='AmpOptimWrapper',
    loss_scale=512.,
    optimizer=dict(type='AdamW', lr=0.0002, betas=(0.9, 0.999), weight_decay=0.0001))
# mmengine's epoch loop, continuing a run stopped mid-epoch at the step where it stopped (wavemsa_det registers it)
train_cfg = dict(type='ResumableEpochBasedTrainLoop')
