"""Safe checkpoint loading: ``torch.load(weights_only=True)`` or safetensors (a timm model folder's
``model.safetensors``, or the folder itself), unwrapping of trainer checkpoints and clear errors for missing,
corrupt or mismatched files. (The allow-list for the checkpoints mmengine writes lives with the detection /
segmentation runtime, :mod:`wavemsa.mm.checkpoint`.)"""
from __future__ import annotations

import os
import pickle
import re
from collections.abc import Iterable, Mapping

import torch
from torch import nn

from .errors import first_few

_WRAPPER_KEYS = ("model", "state_dict", "model_ema", "module")


def filter_classification_state_dict(ckpt: Mapping, use_ema: bool = False) -> dict:
    """The model weights inside a checkpoint: unwraps ``model`` / ``model_ema`` / ``state_dict`` and
    strips a ``module.`` (DistributedDataParallel) prefix. ``use_ema`` picks ``model_ema`` and fails
    clearly when the checkpoint has none."""
    if use_ema:
        if "model_ema" not in ckpt:
            raise KeyError(f"use_ema=True but the checkpoint has no 'model_ema' entry (keys: {sorted(ckpt)[:8]})")
        ckpt = ckpt["model_ema"]
    else:
        for key in _WRAPPER_KEYS:
            if key in ckpt and isinstance(ckpt[key], Mapping):
                ckpt = ckpt[key]
                break
    out = {}
    for k, v in ckpt.items():
        if not isinstance(v, torch.Tensor):
            continue
        out[k[len("module."):] if k.startswith("module.") else k] = v
    return out


SAFETENSORS_NAME = "model.safetensors"  # the weights file of a timm model folder (timm.models.save_for_hf)


def _load_safetensors(path: str) -> dict[str, torch.Tensor]:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        return load_file(path, device="cpu")
    except (SafetensorError, OSError, ValueError) as err:
        raise ValueError(f"{path}: not a readable safetensors file ({type(err).__name__}: {err})") from err


def _first_line(err: BaseException) -> str:
    """The first line of an exception's message without terminal colour codes (torch's weights_only errors)."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(err))
    return text.splitlines()[0] if text else ""


def read_checkpoint(path: str | os.PathLike) -> Mapping:
    """The whole object saved in a PyTorch checkpoint file, read with ``weights_only=True`` (a checkpoint that
    needs arbitrary pickled objects is refused); it must be a dict. Errors name the file."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"checkpoint not found: {path}")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        if "weights_only" in str(err) and "mmengine" in str(err):
            raise ValueError(f"{path}: an mmengine (detection / segmentation) training checkpoint, not a "
                             "classification or backbone checkpoint; use it with that task's tools/test.py") from err
        raise ValueError(f"{path}: not a readable PyTorch checkpoint (UnpicklingError: "
                         f"{_first_line(err)})") from err
    except (RuntimeError, EOFError, ValueError, OSError) as err:
        raise ValueError(f"{path}: not a readable PyTorch checkpoint ({type(err).__name__}: "
                         f"{_first_line(err)})") from err
    if not isinstance(ckpt, Mapping):
        raise ValueError(f"{path}: expected a dict of tensors, found {type(ckpt).__name__}")
    return ckpt


def load_state_dict(path: str | os.PathLike, use_ema: bool = False) -> dict[str, torch.Tensor]:
    """Read the model weights of a checkpoint: a PyTorch file (classification trainer, timm, or a bare state
    dict; through :func:`read_checkpoint`), a ``.safetensors`` file, or a timm model folder (its
    ``model.safetensors``)."""
    path = os.fspath(path)
    if os.path.isdir(path):
        folder, path = path, os.path.join(path, SAFETENSORS_NAME)
        if not os.path.isfile(path):
            raise FileNotFoundError(f"{folder} is a folder without {SAFETENSORS_NAME} (not a timm model folder)")
    if path.endswith(".safetensors"):
        if not os.path.isfile(path):
            raise FileNotFoundError(f"checkpoint not found: {path}")
        if use_ema:
            raise KeyError(f"{path}: use_ema=True but a safetensors file holds one set of weights")
        state = _load_safetensors(path)
        if not state:
            raise ValueError(f"{path}: holds no tensors")
        return filter_classification_state_dict(state)
    ckpt = read_checkpoint(path)
    try:
        state = filter_classification_state_dict(ckpt, use_ema)
    except KeyError as err:
        raise KeyError(f"{path}: {err.args[0]}") from None
    if not state:
        raise ValueError(f"{path}: holds no tensors (top-level keys: {sorted(ckpt)[:8]})")
    return state


def check_weights_fit(model: nn.Module, state_dict: Mapping[str, torch.Tensor], strict: bool = True,
                      ignore: Iterable[str] = ("head.", "aux_head."), source: str = "checkpoint",
                      ignore_shapes: Iterable[str] = ()) -> list[str]:
    """Raise a ValueError naming ``source`` and the offending keys when ``state_dict`` does not fit ``model``
    (keys starting with a prefix in ``ignore`` aside): mis-shaped tensors (except the keys in
    ``ignore_shapes``) always, missing and unexpected keys with ``strict``. Returns the missing keys."""
    ignore, ignore_shapes = tuple(ignore), set(ignore_shapes)
    own = {k: v for k, v in model.state_dict().items() if not k.startswith(ignore)}
    theirs = {k: v for k, v in state_dict.items() if not k.startswith(ignore)}
    missing = set(own) - set(theirs)
    unexpected = set(theirs) - set(own)
    shapes = {k for k in set(own) & set(theirs) if own[k].shape != theirs[k].shape and k not in ignore_shapes}
    problems = []
    if shapes:
        problems.append("shape mismatch: " + first_few((f"{k} {tuple(theirs[k].shape)} vs {tuple(own[k].shape)}"
                                                    for k in shapes), 8, sort=True))
    if strict and missing:
        problems.append("missing: " + first_few(missing, 8, sort=True))
    if strict and unexpected:
        problems.append("unexpected: " + first_few(unexpected, 8, sort=True))
    if problems:
        raise ValueError(f"{source} does not fit {type(model).__name__} ({len(own)} tensors): "
                         + "; ".join(problems))
    return sorted(missing)


def load_weights(model: nn.Module, state_dict: Mapping[str, torch.Tensor], strict: bool = True,
                 ignore: Iterable[str] = ("head.", "aux_head."), source: str = "checkpoint") -> list[str]:
    """Load ``state_dict`` into ``model``, skipping keys that start with a prefix in ``ignore``.

    Mis-shaped tensors always raise; with ``strict`` so do missing and unexpected keys. The error names
    the ``source`` and lists the offending keys, so a checkpoint of another model is recognised at once.
    Returns the model keys that were left at their initial values.
    """
    missing = check_weights_fit(model, state_dict, strict, ignore, source)
    ignore = tuple(ignore)
    own = model.state_dict()
    model.load_state_dict({k: v for k, v in state_dict.items() if k in own and not k.startswith(ignore)},
                          strict=False)
    return missing

