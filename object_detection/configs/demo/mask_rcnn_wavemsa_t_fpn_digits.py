# Demo: Mask R-CNN + the tiny WaveFormer (arch 't') on the built-in COCO-format digit scenes, on the CPU.
# `make demo-det` builds the data (datasets/make_coco.py), trains from the classification demo's
# checkpoint when output/demo/best.pth exists (from scratch otherwise), tests, writes metrics.json.
# The detector is the COCO Mask R-CNN config with a thinner neck/heads (64 channels) for 2 CPU cores.
_base_ = '../wavemsa/mask_rcnn_wavemsa_s_fpn_1x_coco.py'

classes = ('0', '1', '2', '3', '4', '5', '6', '7', '8', '9')
width = 64
model = dict(
    backbone=dict(arch='t', drop_path_rate=0.0, norm_eval=False, init_cfg=None,
                  bn_requires_grad=True),  # pinned: the COCO configs freeze BN scale/shift
    neck=dict(in_channels=[32, 64, 128, 192], out_channels=width),
    rpn_head=dict(in_channels=width, feat_channels=width),
    roi_head=dict(
        bbox_roi_extractor=dict(out_channels=width, roi_layer=dict(sampling_ratio=2)),
        bbox_head=dict(in_channels=width, fc_out_channels=256, num_classes=len(classes)),
        mask_roi_extractor=dict(out_channels=width, roi_layer=dict(sampling_ratio=2)),
        mask_head=dict(in_channels=width, conv_out_channels=width, num_classes=len(classes))),
    train_cfg=dict(rpn_proposal=dict(nms_pre=1000, max_per_img=300),
                   rcnn=dict(sampler=dict(num=128))),
    test_cfg=dict(rpn=dict(nms_pre=500, max_per_img=300)))

data_root = '{{ fileDirname }}/../../../datasets/builtin/coco_digits/'
metainfo = dict(
    classes=classes,
    palette=[(230, 25, 75), (60, 180, 75), (255, 225, 25), (0, 130, 200), (245, 130, 48),
             (145, 30, 180), (70, 240, 240), (240, 50, 230), (210, 245, 60), (250, 190, 212)])
# images at their own size (128-256 px; digits 24-72 px); no flips: a mirrored digit is not a digit
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(type='Resize', scale_factor=1.0, keep_ratio=True),
    dict(type='PackDetInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale_factor=1.0, keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(type='PackDetInputs', meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor')),
]
train_dataloader = dict(
    batch_size=8,
    num_workers=1,
    persistent_workers=True,
    dataset=dict(
        data_root=data_root,
        metainfo=metainfo,
        ann_file='annotations/instances_train.json',
        data_prefix=dict(img='train/'),
        filter_cfg=dict(filter_empty_gt=False, min_size=0),  # images without digits are negatives
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=8,
    num_workers=1,
    persistent_workers=True,
    dataset=dict(
        data_root=data_root,
        metainfo=metainfo,
        ann_file='annotations/instances_val.json',
        data_prefix=dict(img='val/'),
        pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(ann_file=data_root + 'annotations/instances_val.json', metric=['bbox', 'segm'])
test_evaluator = val_evaluator

max_epochs = 4
train_cfg = dict(max_epochs=max_epochs, val_interval=2)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=100),
    dict(type='CosineAnnealingLR', T_max=max_epochs, eta_min_ratio=0.01, begin=0, end=max_epochs,
         by_epoch=True, convert_to_iter_based=True),
]
# pinned float32 AdamW: the COCO configs train in fp16 (AmpOptimWrapper, loss scale 512)
optim_wrapper = dict(_delete_=True, type='OptimWrapper',
                     optimizer=dict(type='AdamW', lr=0.001, betas=(0.9, 0.999), weight_decay=0.05))
auto_scale_lr = dict(enable=False, base_batch_size=8)
find_unused_parameters = False  # pinned: the COCO configs set True, as their originals

default_hooks = dict(
    logger=dict(interval=10),
    checkpoint=dict(interval=max_epochs, max_keep_ckpts=1, save_last=True))
vis_backends = [dict(type='LocalVisBackend'), dict(type='TensorboardVisBackend')]
visualizer = dict(vis_backends=vis_backends)
log_processor = dict(window_size=10)
randomness = dict(seed=0)
