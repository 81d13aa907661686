"""MMSegmentation plug-in for WaveFormer: imported by the configs through ``custom_imports``.

Registers the library's backbone (``wavemsa.backbone.WaveFormerBackbone``, no copy of the model) as
``type='WaveFormer'`` in mmseg's ``MODELS``, plus the checked ADE20K-layout datasets and the
``CheckSegMap`` transform (``wavemsa_seg.data``).
"""
from mmseg.registry import MODELS

from wavemsa.backbone import register_mm_backbone

from .data import CheckedADE20KDataset, CheckSegMap, DigitScenesDataset

register_mm_backbone(MODELS)

__all__ = ["CheckedADE20KDataset", "CheckSegMap", "DigitScenesDataset"]
