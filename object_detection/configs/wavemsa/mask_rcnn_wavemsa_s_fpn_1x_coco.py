# Mask R-CNN + WaveFormer-S, 1x schedule (12 epochs), single scale, AdamW (as the original config).
_base_ = 'mmdet::mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py'
custom_imports = dict(imports=['wavemsa_det'], allow_failed_imports=False)

repo_root = '{{ fileDirname }}/../../..'
# ImageNet-1k classification checkpoint of the classification trainer (EMA or not; head ignored)
pretrained = repo_root + '/pretrained/wavemsa_s.pth'

model = dict(
    backbone=dict(
        _delete_=True,
        type='WaveFormer',
        arch='s',
        out_indices=(0, 1, 2, 3),
        drop_path_rate=0.1,
        frozen_stages=-1,
        norm_eval=True,  # BN statistics of the pretrained backbone, frozen (2 images per device)
        with_cp=False,
        init_cfg=dict(type='Pretrained', checkpoint=pretrained)),
    neck=dict(in_channels=[64, 128, 320, 448]))

# COCO under <repo>/datasets/coco (train.py/test.py --data-root DIR points elsewhere)
data_root = repo_root + '/datasets/coco/'
train_dataloader = dict(dataset=dict(data_root=data_root))
val_dataloader = dict(dataset=dict(data_root=data_root))
test_dataloader = val_dataloader
val_evaluator = dict(ann_file=data_root + 'annotations/instances_val2017.json')
test_evaluator = val_evaluator

optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=0.0002, betas=(0.9, 0.999), weight_decay=0.0001))
