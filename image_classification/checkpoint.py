"""The trainer's checkpoints: what ``main.py`` saves, resumes, evaluates and fine-tunes from, and what
``make_token_labels.py`` reads its teacher from.

Files are read through the library's checked loader (:func:`wavemsa.checkpoint.read_checkpoint`,
``weights_only=True``); every known problem is an ``InputError`` naming the file. A checkpoint is a dict
of tensors, numbers, strings and plain containers only: ``model`` (the plain model's state dict, also under
token labelling), ``model_ema`` (optional), ``optimizer``, ``lr_scheduler``, ``scaler``, ``epoch`` (last
finished), ``max_accuracy``, ``args`` (``vars(args)``), ``classes`` (the class folder names) and, when the run
stopped inside an epoch, ``position``: the epoch, the steps done, the loss and image count so far (summed over the
ranks), the number of processes and each rank's own state (random generators, BatchNorm statistics).
``best.pth`` holds the weights part only (and ``test_acc1``). Writes are atomic (:mod:`wavemsa.files`): a full
disk is one ``InputError`` naming the file and the free space, the previous checkpoint kept.
"""
from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from wavemsa.checkpoint import filter_classification_state_dict, load_state_dict, load_weights
from wavemsa.checkpoint import read_checkpoint as _read_checked
from wavemsa.errors import InputError
from wavemsa.files import atomic_write

from .folders import check_same_classes
from .seeding import rng_state

log = logging.getLogger("image_classification")

HEAD_PREFIXES = ("head.", "aux_head.", "fc.", "classifier.")


def save_atomic(obj: dict, path: str | Path) -> None:
    """``torch.save`` through :func:`wavemsa.files.atomic_write`: a crash or a full disk mid-write never leaves a
    truncated checkpoint behind."""
    atomic_write(path, lambda tmp: torch.save(obj, tmp))


def plain(value: Any) -> Any:
    """``value`` with tuples, paths and other objects turned into types ``weights_only`` accepts."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if value is None or isinstance(value, (bool, int, float, str, torch.Tensor)):
        return value
    return str(value)


def read_checkpoint(path: str | Path) -> dict:
    """The checkpoint dict of ``path`` (library reader, ``weights_only=True``); problems are ``InputError``."""
    try:
        return dict(_read_checked(path))
    except FileNotFoundError:
        raise InputError(f"checkpoint '{path}' does not exist") from None
    except ValueError as e:
        raise InputError(f"checkpoint {e}") from None


def model_state(ckpt: dict, path: str | Path, use_ema: bool = False) -> dict:
    """The model weights of a trainer, DeiT or timm checkpoint or of a bare state dict (the library's
    unwrapping of 'model' / 'state_dict' and 'module.' prefixes); ``use_ema``: its EMA weights."""
    if use_ema and "model_ema" not in ckpt:
        raise InputError(f"--use-ema: checkpoint '{path}' has no EMA weights ('model_ema')")
    state = filter_classification_state_dict(ckpt, use_ema)
    if not state:
        raise InputError(f"checkpoint '{path}' holds no model weights (keys: {sorted(ckpt)[:8]})")
    return state


def load_model_weights(model: nn.Module, state: dict, path: str | Path, model_name: str,
                       ckpt_model: str | None = None, ignore: tuple[str, ...] = ()) -> list[str]:
    """Load ``state`` into ``model``; a checkpoint of another architecture gives one clear message."""
    try:
        return load_weights(model, state, strict=True, ignore=ignore, source=f"checkpoint '{path}'")
    except ValueError as e:
        made_by = f" (it was written for model '{ckpt_model}')" if ckpt_model and ckpt_model != model_name else ""
        raise InputError(f"checkpoint '{path}' does not fit model '{model_name}'{made_by}: {e}") from None


def finetune_state(model: nn.Module, state: dict) -> tuple[dict, tuple[str, ...]]:
    """DeiT's fine-tuning rule: drop classifier weights whose shape differs from the new model's (another
    number of classes) and an auxiliary head the new model lacks; returns the state and the dropped keys."""
    own = model.state_dict()
    dropped = tuple(k for k in state if k.startswith(HEAD_PREFIXES)
                    and (k not in own and k.startswith("aux_head.") or k in own and own[k].shape != state[k].shape))
    return {k: v for k, v in state.items() if k not in dropped}, dropped


def read_weights(path: str | Path) -> tuple[dict, str | None]:
    """The model weights of ``path`` and the model they were written for (when the file says): a trainer,
    DeiT or timm checkpoint, a ``.safetensors`` file or a timm model folder (``config.json`` +
    ``model.safetensors``, what ``tools/export.py`` and timm's ``save_for_hf`` write)."""
    if not (os.path.isdir(path) or str(path).endswith(".safetensors")):
        ckpt = read_checkpoint(path)
        return model_state(ckpt, path), ckpt.get("args", {}).get("model")
    try:
        state = load_state_dict(path)
    except (OSError, KeyError, ValueError) as e:
        raise InputError(f"checkpoint {e}") from None
    config = Path(path) / "config.json"
    try:
        arch = json.loads(config.read_text()).get("architecture") if config.is_file() else None
    except (OSError, ValueError, AttributeError):
        arch = None  # the weights are what counts; a broken config.json only loses the hint
    return state, arch


def load_finetune(model: nn.Module, path: str | Path, model_name: str) -> tuple[str, ...]:
    """Start ``model`` from the weights of ``path`` (``--finetune``: any file :func:`read_weights` reads);
    classifier weights that do not fit stay at their initial values (they are returned)."""
    state, written_for = read_weights(path)
    state, dropped = finetune_state(model, state)
    new = tuple(k for k in model.state_dict() if k.startswith(HEAD_PREFIXES) and k not in state)
    load_model_weights(model, state, path, model_name, written_for, ignore=new)
    return tuple(sorted(set(dropped) | set(new)))


@dataclass
class Resumed:
    """Where a resumed run starts: the first epoch to run, the best top-1 so far, and ``position`` (the
    checkpoint's, see the module docstring) when the run stopped inside that epoch."""

    start_epoch: int
    max_accuracy: float
    position: dict | None = None

    @property
    def start_step(self) -> int:
        return int(self.position["step"]) if self.position else 0


def resume(ckpt: dict, path: str | Path, model: nn.Module, model_name: str, optimizer, lr_scheduler, scaler,
           model_ema=None, classes: list[str] | None = None, data_path: str | Path = "") -> Resumed:
    """Restore a run from checkpoint ``ckpt`` (read from ``path``): weights, optimiser, lr scheduler, grad scaler
    and EMA weights; with ``classes``, the run's class folders must be the checkpoint's."""
    if classes is not None and "classes" in ckpt:
        check_same_classes(ckpt["classes"], classes, f"checkpoint '{path}' was trained on", data_path)
    load_model_weights(model, model_state(ckpt, path), path, model_name, ckpt.get("args", {}).get("model"))
    if "optimizer" not in ckpt:
        raise InputError(f"checkpoint '{path}' has weights only (no optimizer state) and cannot resume a run; "
                         "start from it with --finetune instead")
    optimizer.load_state_dict(ckpt["optimizer"])
    lr_scheduler.load_state_dict(ckpt["lr_scheduler"])
    scaler.load_state_dict(ckpt["scaler"])
    if model_ema is not None:
        if "model_ema" in ckpt:
            model_ema.module.load_state_dict(ckpt["model_ema"])
        else:
            log.warning("checkpoint %s has no EMA weights; the EMA restarts from the model", path)
            model_ema.set(model)
    position = ckpt.get("position")
    log.info("resumed from %s (%s)", path, describe(ckpt))
    return Resumed(int(ckpt["epoch"]) + 1, float(ckpt.get("max_accuracy", 0.0)), position)


def describe(ckpt: dict) -> str:
    """'end of epoch 3' or 'epoch 4, step 120 of 500'."""
    position = ckpt.get("position")
    if position:
        return f"epoch {position['epoch']}, step {position['step']} of {position['steps']}"
    return f"end of epoch {ckpt.get('epoch')}"


def rank_state(model: nn.Module, model_ema=None) -> dict:
    """What differs between the ranks inside an epoch and is needed to continue it exactly: the generators of
    this process and the BatchNorm statistics (buffers) of the model and of its EMA copy (each rank updates its
    own until they are averaged at the end of the epoch)."""
    state = {"rng": rng_state(), "buffers": {k: v.detach().cpu().clone() for k, v in model.named_buffers()}}
    if model_ema is not None:
        state["ema_buffers"] = {k: v.detach().cpu().clone() for k, v in model_ema.module.named_buffers()}
    return state


def restore_rank_buffers(state: dict, model: nn.Module, model_ema=None) -> None:
    """Put the buffers of a :func:`rank_state` back into ``model`` (and the EMA copy)."""
    for module, key in ((model, "buffers"), (model_ema.module if model_ema is not None else None, "ema_buffers")):
        if module is None or key not in state:
            continue
        own = dict(module.named_buffers())
        with torch.no_grad():
            for name, value in state[key].items():
                if name in own:
                    own[name].copy_(value)


def save(output_dir: str | Path, epoch: int, model: nn.Module, optimizer, lr_scheduler, scaler, model_ema,
         args: dict, classes: list[str], max_accuracy: float, test_acc1: float | None = None,
         position: dict | None = None) -> Path:
    """Write ``OUTPUT_DIR/checkpoint.pth`` (everything to resume; ``epoch`` the last finished one; ``position``
    when the run stops inside the next) and, when ``test_acc1`` is given (a new best), ``OUTPUT_DIR/best.pth``
    (the weights part). Returns the checkpoint's path."""
    weights = {"model": model.state_dict(), "epoch": epoch, "max_accuracy": max_accuracy, "args": plain(args),
               "classes": list(classes)}
    if model_ema is not None:
        weights["model_ema"] = model_ema.module.state_dict()
    state = {**weights, "optimizer": optimizer.state_dict(), "lr_scheduler": lr_scheduler.state_dict(),
             "scaler": scaler.state_dict()}
    if position is not None:
        state["position"] = position
    path = Path(output_dir) / "checkpoint.pth"
    save_atomic(state, path)
    if test_acc1 is not None:
        save_atomic({**weights, "test_acc1": test_acc1}, Path(output_dir) / "best.pth")
    return path
