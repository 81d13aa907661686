"""Checkpoints that ``torch.load(weights_only=True)`` (torch's default since 2.6) can read.

mmengine 0.10 saves the runner's MessageHub next to the weights and loads checkpoints with
``torch.load``'s default. The hub's ``HistoryBuffer`` objects pickle bound methods through
``getattr``, which the safe loader rightly refuses. :class:`WeightsOnlyCheckpointHook` leaves those
smoothing buffers (only used to average logged values) out of saved checkpoints; resuming keeps
everything else. NumPy arrays/scalars (plain data in ``runtime_info``) are allow-listed.
"""
from __future__ import annotations

import numpy as np
import torch
from mmdet.registry import HOOKS
from mmengine.hooks import Hook


def allow_numpy_in_checkpoints() -> None:
    """Register NumPy array/scalar/dtype reconstruction as safe globals for ``weights_only`` loads."""
    core = getattr(np, "_core", None) or np.core
    dtypes = [getattr(np.dtypes, n) for n in dir(np.dtypes) if n.endswith("DType")]
    torch.serialization.add_safe_globals(
        [core.multiarray._reconstruct, core.multiarray.scalar, np.ndarray, np.dtype, *dtypes])


@HOOKS.register_module()
class WeightsOnlyCheckpointHook(Hook):
    """Drop ``message_hub.log_scalars`` from checkpoints so they load with ``weights_only=True``."""

    priority = "VERY_LOW"

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        hub = checkpoint.get("message_hub")
        if isinstance(hub, dict):
            hub["log_scalars"] = {}
