# Sparse R-CNN + WaveFormer-S, 300 learnable proposals, 3x schedule (36 epochs), multi-scale training
# with random crops (shorter side 480-800). AdamW (lr 2.5e-5, clip 1.0) as in MMDetection's config.
_base_ = 'mmdet::sparse_rcnn/sparse-rcnn_r50_fpn_300-proposals_crop-ms-480-800-3x_coco.py'
custom_imports = dict(imports=['wavemsa_det'], allow_failed_imports=False)

repo_root = '{{ fileDirname }}/../../..'
pretrained = repo_root + '/pretrained/wavemsa_s.pth'

model = dict(
    backbone=dict(
        _delete_=True,
        type='WaveFormer',
        arch='s',
        out_indices=(0, 1, 2, 3),
        drop_path_rate=0.1,
        frozen_stages=-1,
        norm_eval=True,
        with_cp=False,
        init_cfg=dict(type='Pretrained', checkpoint=pretrained)),
    neck=dict(in_channels=[64, 128, 320, 448]))

data_root = repo_root + '/datasets/coco/'
train_dataloader = dict(dataset=dict(data_root=data_root))
val_dataloader = dict(dataset=dict(data_root=data_root))
test_dataloader = val_dataloader
val_evaluator = dict(ann_file=data_root + 'annotations/instances_val2017.json')
test_evaluator = val_evaluator

optim_wrapper = dict(
    optimizer=dict(_delete_=True, type='AdamW', lr=0.000025, betas=(0.9, 0.999), weight_decay=0.0001),
    clip_grad=dict(max_norm=1, norm_type=2))
