# Cascade Mask R-CNN + WaveFormer-S, 3x schedule (36 epochs), multi-scale training with random crops
# (DETR-style), AdamW, fp16 (static loss scale 512): the original jack-li123/WaveMSA
# object_detection/configs/wavemsa/cascade_mask_rcnn_wavemsa_s_fpn_3x_mstrain_fp16.py on its
# _base_/models/cascade_mask_rcnn_vit_fpn.py, which is MMDetection's Cascade Mask R-CNN with, in each of
# the three stages, a 4-conv + 1-fc box head (SyncBN) regressing decoded boxes with a GIoU loss
# (differences: ../../README.md, "Recipes: ours vs the originals").
_base_ = [
    'mmdet::cascade_rcnn/cascade-mask-rcnn_r50_fpn_1x_coco.py',
    '../_base_/wavemsa_s_coco.py',
    '../_base_/datasets/coco_ms_crop.py',
    '../_base_/schedules/adamw_3x_fp16.py',
]

model = dict(
    backbone=_base_.wavemsa_backbone,
    neck=dict(in_channels=[64, 128, 320, 448]),
    roi_head=dict(bbox_head=[
        dict(
            type='ConvFCBBoxHead',
            num_shared_convs=4,
            num_shared_fcs=1,
            in_channels=256,
            conv_out_channels=256,
            fc_out_channels=1024,
            roi_feat_size=7,
            num_classes=80,
            bbox_coder=dict(type='DeltaXYWHBBoxCoder', target_means=[0., 0., 0., 0.], target_stds=stds),
            reg_class_agnostic=False,
            reg_decoded_bbox=True,
            norm_cfg=dict(type='SyncBN', requires_grad=True),
            loss_cls=dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0),
            loss_bbox=dict(type='GIoULoss', loss_weight=10.0))
        # the three stages' regression target scales
        for stds in ([0.1, 0.1, 0.2, 0.2], [0.05, 0.05, 0.1, 0.1], [0.033, 0.033, 0.067, 0.067])
    ]))

train_pipeline = _base_.ms_crop_pipeline_masks
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
