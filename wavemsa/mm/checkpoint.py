"""Checkpoints of the OpenMMLab runners, read with ``torch.load(weights_only=True)`` and checked.

- :func:`mmengine_checkpoint_globals`: what an mmengine (0.10) checkpoint pickles besides tensors and
  containers. :func:`allow_mmengine_checkpoints` adds exactly these to torch's allow-list for the whole
  process; the plug-ins ``wavemsa_det`` / ``wavemsa_seg`` call it on import, so every tool that imports a
  config's ``custom_imports`` (ours, ``mmdet/.mim/tools/test.py``, ``DetInferencer``, ...) reads the
  project's checkpoints without falling back to unrestricted unpickling.
- :class:`CheckpointFitHook` (every config's ``custom_hooks``; registered in mmengine's root ``HOOKS``, where
  both frameworks find it): mmengine loads ``load_from`` / resume checkpoints with ``strict=False``, so a
  checkpoint of another model, or a classification checkpoint given to ``test.py``, would leave layers at
  random weights with a warning. The hook runs :func:`check_checkpoint_fits` before the runner loads the file,
  for the project's tools and the frameworks' own (``mmdet/.mim/tools/train.py``, ``test.py``) alike.
"""
from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

import torch
from mmengine.hooks import Hook
from mmengine.model import BaseTTAModel, is_model_wrapper
from mmengine.optim import OptimWrapper
from mmengine.registry import HOOKS
from mmengine.runner import find_latest_checkpoint
from torch import nn

from ..checkpoint import load_state_dict
from ..errors import InputError, first_few

__all__ = ["CheckpointFitHook", "allow_mmengine_checkpoints", "check_checkpoint_fits", "checkpoint_to_resume",
           "mmengine_checkpoint_globals", "read_weights", "unwrap"]


def mmengine_checkpoint_globals() -> list:
    """The allow-list for mmengine (0.10) checkpoints: what they pickle besides tensors and containers.

    mmengine saves the runner's message hub next to the weights: ``HistoryBuffer`` objects (NumPy arrays;
    their statistics methods pickled through ``getattr``) and NumPy scalars in ``runtime_info``. Allowed
    callables can only be called by name, so ``getattr`` fetches attributes but cannot call what it fetches
    unless that is itself allowed.
    """
    import numpy as np
    from mmengine.logging.history_buffer import HistoryBuffer

    core = getattr(np, "_core", None) or np.core
    return [HistoryBuffer, np.ndarray, np.dtype, core.multiarray._reconstruct, core.multiarray.scalar, getattr,
            *(getattr(np.dtypes, n) for n in dir(np.dtypes) if n.endswith("DType"))]


def _not_yet_allowed() -> list:
    known = set(torch.serialization.get_safe_globals())
    return [g for g in mmengine_checkpoint_globals() if g not in known]


def allow_mmengine_checkpoints() -> None:
    """Add :func:`mmengine_checkpoint_globals` to torch's allow-list for this process (idempotent).

    mmengine 0.10 loads with ``torch.load``'s default, ``weights_only=True`` since torch 2.6, which refuses
    the message hub every mmengine checkpoint carries; with this call it reads them, still restricted."""
    torch.serialization.add_safe_globals(_not_yet_allowed())


def read_weights(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """The model weights of a checkpoint (mmengine's ``state_dict``, a trainer's ``model``, a bare state dict;
    ``module.`` prefixes stripped), read with ``weights_only=True`` (mmengine's: after
    :func:`allow_mmengine_checkpoints`, which the plug-ins call).

    Raises :class:`InputError` naming the file when it is missing, unreadable (truncated, not PyTorch) or
    holds no tensors."""
    try:
        return load_state_dict(path)
    except InputError:
        raise
    except (OSError, KeyError, ValueError) as err:
        raise InputError(str(err.args[0] if err.args else err)) from err


def check_checkpoint_fits(model: nn.Module, path: str | os.PathLike, scratch_modules: Sequence[str] = ()
                          ) -> Mapping[str, torch.Tensor]:
    """Check that the checkpoint at ``path`` (read by :func:`read_weights`) holds every weight of ``model`` with
    its shape; return its weights.

    ``scratch_modules`` are module names (``'roi_head.bbox_head.fc_cls'``, ``'auxiliary_head'``) whose weights
    may be absent (a fine-tuning config lists them in its ``CheckpointFitHook``). Weights of the
    checkpoint that the model lacks are tolerated (mmengine ignores them). Raises :class:`InputError` naming
    the file and the first offending keys otherwise.
    """
    path = os.fspath(path)
    theirs = read_weights(path)
    own = model.state_dict()
    name = type(model).__name__
    scratch = tuple(m.rstrip(".") + "." for m in scratch_modules)
    needed = {k for k in own if not k.startswith(scratch)}
    missing = needed - set(theirs)
    if missing == needed and needed:
        hint = (" It looks like a classification checkpoint: give it as the backbone's pretrained weights "
                "(train.py --pretrained CKPT, or model.backbone.init_cfg.checkpoint)."
                if any(k.startswith("stages.") for k in theirs) else "")
        raise InputError(f"checkpoint {path} holds none of the {len(needed)} weights of {name} (its keys: "
                         f"{first_few(theirs, 4, sort=True)}).{hint}")
    problems = []
    if missing:
        problems.append(f"{len(missing)} of {len(needed)} weights missing: {first_few(missing, 6, sort=True)} "
                        "(modules a training run starts from scratch are declared in the config: "
                        "custom_hooks = [dict(type='CheckpointFitHook', scratch_modules=[...])])")
    shapes = [f"{k} {tuple(theirs[k].shape)} vs {tuple(own[k].shape)}" for k in sorted(needed & set(theirs))
              if theirs[k].shape != own[k].shape]  # scratch modules may differ (a head of another class count)
    if shapes:
        problems.append(f"{len(shapes)} shape mismatch(es): {first_few(shapes, 3)}")
    if problems:
        raise InputError(f"checkpoint {path} does not fit {name}: " + "; ".join(problems))
    return theirs


def checkpoint_to_resume(cfg, work_dir: str) -> str | None:
    """The checkpoint a runner of ``cfg`` resumes from: ``load_from`` when ``resume`` is set, else the latest of
    ``work_dir`` (mmengine's ``last_checkpoint``); None when it does not resume."""
    if not cfg.get("resume"):
        return None
    return cfg.get("load_from") or find_latest_checkpoint(work_dir)


def unwrap(model: nn.Module) -> nn.Module:
    """The model inside mmengine's DDP wrapper and test-time-augmentation wrapper, if any."""

    if is_model_wrapper(model):
        model = model.module
    if isinstance(model, BaseTTAModel):
        model = model.module
    return model


@HOOKS.register_module()
class CheckpointFitHook(Hook):
    """Before the runner loads its checkpoint (``load_from``, ``resume``): :func:`check_checkpoint_fits`.

    Args:
        scratch_modules: modules (``'roi_head.bbox_head.fc_cls'``, ``'auxiliary_head'``) a training run may
            start without (fine-tuning from a checkpoint with another head); testing needs every weight.
    """

    priority = "VERY_HIGH"

    def __init__(self, scratch_modules: Sequence[str] = ()) -> None:
        self.scratch_modules = tuple(scratch_modules)

    def before_run(self, runner) -> None:
        path = checkpoint_to_resume(runner.cfg, runner.work_dir) or runner.cfg.get("load_from")
        if path:
            training = isinstance(runner.optim_wrapper, OptimWrapper)  # runner.train() builds it before this hook
            check_checkpoint_fits(unwrap(runner.model), path, self.scratch_modules if training else ())
