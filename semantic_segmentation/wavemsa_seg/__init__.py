"""MMSegmentation 1.x plug-in for WaveFormer, imported by every segmentation config through
``custom_imports = dict(imports=['wavemsa_seg'], allow_failed_imports=False)`` and installed by
``make install`` (``pyproject.toml`` maps it to ``semantic_segmentation/wavemsa_seg``).

On import: the library's backbone goes into mmseg's ``MODELS`` as ``type='WaveFormer'``, ``CheckpointFitHook``
into mmengine's ``HOOKS`` and mmengine's checkpoint classes into torch's ``weights_only`` allow-list
(:func:`wavemsa.mm.plugin.setup_plugin`: how ``MMSegInferencer`` and ``mmseg/.mim/tools/*`` read the project's
checkpoints); ``data`` registers the checked ADE20K-layout datasets and the ``CheckSegMap`` transform, ``losses``
the ``ClassWeightedCrossEntropyLoss``; ``task`` is segmentation for ``wavemsa.mm``.
"""
from mmseg.registry import MODELS

from wavemsa.mm.plugin import setup_plugin

from .data import CheckedADE20KDataset, CheckSegMap, DigitScenesDataset
from .losses import ClassWeightedCrossEntropyLoss

setup_plugin(MODELS)

__all__ = ["CheckSegMap", "CheckedADE20KDataset", "ClassWeightedCrossEntropyLoss", "DigitScenesDataset"]
