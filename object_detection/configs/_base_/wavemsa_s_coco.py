# What every config of ../wavemsa/ shares: the wavemsa_det plug-in, the WaveFormer-S backbone initialised
# from an ImageNet-1k checkpoint under <repo>/pretrained, and COCO under <repo>/datasets/coco.
# The configs' other base, MMDetection's detector config, sets `model` and `data_root` too, and mmengine
# lets no two bases set the same key, so the configs take these by name:
#     model = dict(backbone=_base_.wavemsa_backbone, neck=...)
#     data_root = _base_.coco_root
custom_imports = dict(imports=['wavemsa_det'], allow_failed_imports=False)

repo_root = '{{ fileDirname }}/../../..'
# ImageNet-1k classification checkpoint of the classification trainer (EMA or not; head ignored)
pretrained = repo_root + '/pretrained/wavemsa_s.pth'

wavemsa_backbone = dict(
    _delete_=True,  # replaces the detector config's ResNet-50 as a whole
    type='WaveFormer',
    arch='s',
    out_indices=(0, 1, 2, 3),
    drop_path_rate=0.1,
    frozen_stages=-1,
    norm_eval=True,  # BN statistics of the pretrained backbone, frozen (2 images per device)
    with_cp=False,
    init_cfg=dict(type='Pretrained', checkpoint=pretrained))

# COCO under <repo>/datasets/coco (train.py/test.py --data-root DIR points elsewhere)
coco_root = repo_root + '/datasets/coco/'
