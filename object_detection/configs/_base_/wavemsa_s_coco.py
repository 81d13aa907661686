# What every config of ../wavemsa/ shares: the wavemsa_det plug-in, the WaveFormer-S backbone of
# <repo>/configs/_base_/wavemsa_s_backbone.py (the one the segmentation configs use too) in place of the
# detector config's ResNet-50, and COCO under <repo>/datasets/coco.
# The configs' other base, MMDetection's detector config, sets `model` and `data_root` too, and mmengine
# lets no two bases set the same key, so the configs take these by name:
#     model = dict(backbone=_base_.wavemsa_backbone, neck=...)
#     data_root = _base_.coco_root
_base_ = ['../../../configs/_base_/wavemsa_s_backbone.py']
custom_imports = dict(imports=['wavemsa_det'], allow_failed_imports=False)

repo_root = '{{ fileDirname }}/../../..'

# _delete_: replaces the detector config's ResNet-50 as a whole (under its own name: merged into a base key of the
# same name, mmengine would drop the _delete_ flag)
wavemsa_backbone = dict(_delete_=True, **_base_.backbone_wavemsa_s)

# COCO under <repo>/datasets/coco (train.py/test.py --data-root DIR points elsewhere)
coco_root = repo_root + '/datasets/coco/'

# the originals' DDP setting (their configs: find_unused_parameters = True)
find_unused_parameters = True
