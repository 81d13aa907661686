"""Trainer checkpoints: atomic writes, RNG state as tensors, resume with clear errors.

A checkpoint is a dict of tensors, numbers, strings and plain containers only, so it loads with
``torch.load(weights_only=True)``: ``model``, ``model_ema`` (optional), ``optimizer``, ``lr_scheduler``,
``scaler``, ``epoch`` (last finished), ``max_accuracy``, ``args`` (``vars(args)``), ``rng``.
"""
from __future__ import annotations

import os
import pickle
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from wavemsa.checkpoint import load_weights

from .errors import UsageError


def save_atomic(obj: dict, path: str | Path) -> None:
    """``torch.save`` to a temporary file in the same folder, then ``os.replace`` it over ``path``: a
    crash mid-write never leaves a truncated checkpoint behind."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def plain(value: Any) -> Any:
    """``value`` with tuples, paths and other objects turned into types ``weights_only`` accepts."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if value is None or isinstance(value, (bool, int, float, str, torch.Tensor)):
        return value
    return str(value)


def rng_state() -> dict:
    """The python, numpy, torch (and CUDA) generator states as tensors and numbers."""
    py = random.getstate()
    np_state = np.random.get_state()
    state = {
        "python": {"version": py[0], "state": torch.tensor(py[1], dtype=torch.int64), "gauss": py[2]},
        "numpy": {"keys": torch.from_numpy(np_state[1].astype(np.int64)), "pos": int(np_state[2]),
                  "has_gauss": int(np_state[3]), "cached_gaussian": float(np_state[4])},
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    """Restore what ``rng_state`` captured."""
    py = state["python"]
    random.setstate((py["version"], tuple(int(x) for x in py["state"].tolist()), py["gauss"]))
    n = state["numpy"]
    np.random.set_state(("MT19937", n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"],
                         n["cached_gaussian"]))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def read_checkpoint(path: str | Path) -> dict:
    """Load a trainer checkpoint with ``weights_only=True``; errors name the file."""
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"checkpoint '{path}' does not exist")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except (RuntimeError, pickle.UnpicklingError, EOFError, ValueError, OSError) as e:
        first = str(e).splitlines()[0] if str(e) else ""
        raise UsageError(f"checkpoint '{path}' is not a readable PyTorch checkpoint "
                         f"({type(e).__name__}: {first})") from e
    if not isinstance(ckpt, dict):
        raise UsageError(f"checkpoint '{path}' holds a {type(ckpt).__name__}, not a dict")
    return ckpt


def load_model_weights(model: torch.nn.Module, state: dict, path: str | Path, model_name: str,
                       ckpt_model: str | None = None, ignore: tuple[str, ...] = ()) -> list[str]:
    """Load ``state`` into ``model``; a checkpoint of another architecture gives one clear message."""
    try:
        return load_weights(model, state, strict=True, ignore=ignore, source=f"checkpoint '{path}'")
    except ValueError as e:
        made_by = f" (it was written for model '{ckpt_model}')" if ckpt_model and ckpt_model != model_name else ""
        raise UsageError(f"checkpoint '{path}' does not fit model '{model_name}'{made_by}: {e}") from None


def finetune_state(model: torch.nn.Module, state: dict) -> tuple[dict, tuple[str, ...]]:
    """DeiT's fine-tuning rule: drop classifier weights whose shape differs from the new model's (a
    different number of classes); returns the state and the prefixes left at their initial values."""
    own = model.state_dict()
    dropped = tuple(k for k in state if k in own and own[k].shape != state[k].shape
                    and k.startswith(("head.", "aux_head.", "fc.", "classifier.")))
    return {k: v for k, v in state.items() if k not in dropped}, dropped
