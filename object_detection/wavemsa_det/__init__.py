"""WaveFormer for MMDetection 3.x: the plug-in every detection config imports
(``custom_imports = dict(imports=['wavemsa_det'], allow_failed_imports=False)``).

``make install`` installs it (``pyproject.toml`` maps it to ``object_detection/wavemsa_det``). Importing it
registers the library's backbone in ``mmdet.registry.MODELS`` (the model itself lives only in ``wavemsa/``) and
allows mmengine's checkpoint classes for ``weights_only`` loading (:func:`wavemsa.mm.plugin.setup_plugin`), so
``DetInferencer`` and ``mmdet/.mim/tools/*`` open this project's configs and checkpoints. ``checks`` holds the
up-front COCO checks, ``task`` what the shared entry points (``wavemsa.mm``) need to know about detection.
"""
from mmdet.registry import MODELS

from wavemsa.backbone import WaveFormerBackbone
from wavemsa.mm.plugin import setup_plugin

from .checks import check_coco_annotations, check_dataset_cfgs

setup_plugin(MODELS)

__all__ = ["WaveFormerBackbone", "check_coco_annotations", "check_dataset_cfgs"]
