"""What importing a plug-in (``wavemsa_det``, ``wavemsa_seg``: the ``custom_imports`` of every config) does."""
from __future__ import annotations

from ..backbone import register_mm_backbone
from . import stops  # noqa: F401  (registers StopOnSignalHook and the resumable training loops)
from .checkpoint import allow_mmengine_checkpoints


def setup_plugin(models_registry) -> None:
    """Register the library's ``WaveFormerBackbone`` as ``type='WaveFormer'`` in the framework's ``MODELS``
    registry, and let torch's ``weights_only=True`` loader read mmengine checkpoints by allowing exactly the
    classes they hold (:func:`~wavemsa.mm.checkpoint.allow_mmengine_checkpoints`): the frameworks' own tools
    (inferencers, ``.mim/tools/test.py``) then open this project's checkpoints without unrestricted
    unpickling. Importing this module registers :class:`~wavemsa.mm.checkpoint.CheckpointFitHook`,
    :class:`~wavemsa.mm.stops.StopOnSignalHook` and the resumable training loops."""
    register_mm_backbone(models_registry)
    allow_mmengine_checkpoints()
