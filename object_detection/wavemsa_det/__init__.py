"""WaveFormer for MMDetection 3.x: the plug-in every detection config imports
(``custom_imports = dict(imports=['wavemsa_det'], allow_failed_imports=False)``).

``make install`` installs it (``pyproject.toml`` maps it to ``object_detection/wavemsa_det``). Importing it
registers the library's backbone in ``mmdet.registry.MODELS`` (the model itself lives only in ``wavemsa/``),
``CheckpointFitHook`` and the checked dataset ``CheckedCocoDataset`` (``data``), and allows mmengine's checkpoint
classes for ``weights_only`` loading (:func:`wavemsa.mm.plugin.setup_plugin`), so ``DetInferencer`` and
``mmdet/.mim/tools/*`` open this project's configs and checkpoints with the same checks. ``task`` holds what the
shared entry points (``wavemsa.mm``) need to know about detection.
"""
from mmdet.registry import MODELS

from wavemsa.backbone import WaveFormerBackbone
from wavemsa.mm.plugin import setup_plugin

from .data import CheckedCocoDataset, check_coco_annotations

setup_plugin(MODELS)

__all__ = ["CheckedCocoDataset", "WaveFormerBackbone", "check_coco_annotations"]
