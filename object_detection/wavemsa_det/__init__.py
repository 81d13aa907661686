"""WaveFormer for MMDetection 3.x.

Importing this package registers the library's :class:`wavemsa.backbone.WaveFormerBackbone` as
``type='WaveFormer'`` in ``mmdet.registry.MODELS`` (the model itself lives only in ``wavemsa/``).
Configs load it with ``custom_imports = dict(imports=['wavemsa_det'], allow_failed_imports=False)``;
``train.py`` / ``test.py`` / ``dist_*.sh`` put this folder on ``sys.path``.
"""
from mmdet.registry import MODELS

from wavemsa.backbone import WaveFormerBackbone, register_mm_backbone

from .checks import check_coco_annotations, check_dataset_cfgs

register_mm_backbone(MODELS)

__all__ = ["WaveFormerBackbone", "check_coco_annotations", "check_dataset_cfgs"]
