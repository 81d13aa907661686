# RetinaNet + WaveFormer-S, 1x schedule (12 epochs), single scale, AdamW.
_base_ = 'mmdet::retinanet/retinanet_r50_fpn_1x_coco.py'
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
    # P3-P7 from stages 2-4 plus two extra convs, as for ResNet
    neck=dict(in_channels=[64, 128, 320, 448], start_level=1, add_extra_convs='on_input'))

data_root = repo_root + '/datasets/coco/'
train_dataloader = dict(dataset=dict(data_root=data_root))
val_dataloader = dict(dataset=dict(data_root=data_root))
test_dataloader = val_dataloader
val_evaluator = dict(ann_file=data_root + 'annotations/instances_val2017.json')
test_evaluator = val_evaluator

optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=0.0001, betas=(0.9, 0.999), weight_decay=0.0001))
