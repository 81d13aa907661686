"""Checkpoints of the OpenMMLab runners, read with ``torch.load(weights_only=True)`` and checked.

- :func:`mmengine_checkpoint_globals`: what an mmengine (0.10) checkpoint pickles besides tensors and
  containers. :func:`allow_mmengine_checkpoints` adds exactly these to torch's allow-list for the whole
  process; the plug-ins ``wavemsa_det`` / ``wavemsa_seg`` call it on import, so every tool that imports a
  config's ``custom_imports`` (ours, ``mmdet/.mim/tools/test.py``, ``DetInferencer``, ...) reads the
  project's checkpoints without falling back to unrestricted unpickling.
- :func:`check_checkpoint_fits`: a checkpoint given to ``load_from`` / ``--resume`` / ``test.py`` must hold
  every weight of the model (except the modules a config declares ``scratch_modules``) with the right
  shapes; anything else is an :class:`~wavemsa.errors.InputError` naming the file, never a silent run on
  random weights.
"""
from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager

import torch
from torch import nn

from ..checkpoint import load_state_dict
from ..errors import InputError, first_few

__all__ = ["allow_mmengine_checkpoints", "check_checkpoint_fits", "check_pretrained_backbones",
           "mmengine_checkpoint_globals", "mmengine_safe_globals", "read_weights"]


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


def mmengine_safe_globals() -> AbstractContextManager:
    """Context in which ``torch.load(weights_only=True)`` also accepts :func:`mmengine_checkpoint_globals`
    (and nothing else). On exit it withdraws only what it added: torch's ``safe_globals`` removes its list on
    exit, which would also withdraw what :func:`allow_mmengine_checkpoints` allowed for the whole process."""
    return torch.serialization.safe_globals(_not_yet_allowed())


def allow_mmengine_checkpoints() -> None:
    """Add :func:`mmengine_checkpoint_globals` to torch's allow-list for this process (idempotent).

    mmengine 0.10 loads with ``torch.load``'s default, ``weights_only=True`` since torch 2.6, which refuses
    the message hub every mmengine checkpoint carries; with this call it reads them, still restricted."""
    torch.serialization.add_safe_globals(_not_yet_allowed())


def read_weights(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """The model weights of a checkpoint (mmengine's ``state_dict``, a trainer's ``model``, a bare state dict;
    ``module.`` prefixes stripped), read with ``weights_only=True``.

    Raises :class:`InputError` naming the file when it is missing, unreadable (truncated, not PyTorch) or
    holds no tensors."""
    try:
        with mmengine_safe_globals():
            return load_state_dict(path)
    except InputError:
        raise
    except (OSError, KeyError, ValueError) as err:
        raise InputError(str(err.args[0] if err.args else err)) from err


def check_checkpoint_fits(model: nn.Module, path: str | os.PathLike, scratch_modules: Sequence[str] = (),
                          what: str = "checkpoint", weights: Mapping[str, torch.Tensor] | None = None
                          ) -> Mapping[str, torch.Tensor]:
    """Check that the checkpoint at ``path`` holds every weight of ``model`` with its shape; return its weights
    (``weights``: the file's, already read by :func:`read_weights`).

    ``scratch_modules`` are module names (``'roi_head.bbox_head.fc_cls'``, ``'auxiliary_head'``) whose weights
    may be absent: a config declares them when it fine-tunes from a checkpoint of another head. Weights of the
    checkpoint that the model lacks are tolerated (mmengine ignores them). Raises :class:`InputError` naming
    the file and the first offending keys otherwise.
    """
    path = os.fspath(path)
    theirs = read_weights(path) if weights is None else weights
    own = model.state_dict()
    name = type(model).__name__
    scratch = tuple(m.rstrip(".") + "." for m in scratch_modules)
    needed = {k for k in own if not k.startswith(scratch)}
    missing = needed - set(theirs)
    if missing == needed and needed:
        hint = (" It looks like a classification checkpoint: give it as the backbone's pretrained weights "
                "(train.py --pretrained CKPT, or model.backbone.init_cfg.checkpoint)."
                if any(k.startswith("stages.") for k in theirs) else "")
        raise InputError(f"{what} {path} holds none of the {len(needed)} weights of {name} (its keys: "
                         f"{first_few(theirs, 4, sort=True)}).{hint}")
    problems = []
    if missing:
        problems.append(f"{len(missing)} of {len(needed)} weights missing: {first_few(missing, 6, sort=True)} "
                        "(modules trained from scratch must be declared in the config: scratch_modules = [...])")
    shapes = [f"{k} {tuple(theirs[k].shape)} vs {tuple(own[k].shape)}" for k in sorted(needed & set(theirs))
              if theirs[k].shape != own[k].shape]  # scratch modules may differ (a head of another class count)
    if shapes:
        problems.append(f"{len(shapes)} shape mismatch(es): {first_few(shapes, 3)}")
    if problems:
        raise InputError(f"{what} {path} does not fit {name}: " + "; ".join(problems))
    return theirs


def check_pretrained_backbones(model: nn.Module) -> list[str]:
    """Load the ``init_cfg`` checkpoint of every WaveFormer backbone of ``model`` now, so that a missing,
    unreadable or mismatched file (or ``use_ema=True`` on a file without EMA weights) is an
    :class:`InputError` before training starts; return the checked paths."""
    from ..backbone import WaveFormerBackbone

    checked = []
    for module in model.modules():
        if isinstance(module, WaveFormerBackbone) and module.init_cfg:
            path = module.init_cfg.get("checkpoint")
            try:
                with mmengine_safe_globals():
                    module.init_weights()
                module.is_init = True  # mmengine's init_weights of the parent model skips it: the file is read once
            except (OSError, KeyError, ValueError) as err:  # InputError too: the prefix says where it came from
                raise InputError(f"model.backbone.init_cfg: {err.args[0] if err.args else err}") from err
            checked.append(path)
    return checked


def unwrap(model: nn.Module) -> nn.Module:
    """The model inside mmengine's DDP wrapper and test-time-augmentation wrapper, if any."""
    from mmengine.model import BaseTTAModel, is_model_wrapper

    if is_model_wrapper(model):
        model = model.module
    if isinstance(model, BaseTTAModel):
        model = model.module
    return model
