"""Config adjustments shared by ``tools/train.py`` and ``tools/test.py``.

The configs are written for GPUs (SyncBN, NCCL), as mmseg's are. On a machine without CUDA the same
configs run unchanged: SyncBN becomes BN (SyncBN needs a GPU), fp16 (AmpOptimWrapper, which asserts a
GPU) becomes float32, the process group uses gloo, and DDP wraps the CPU model without device ids.
"""
from __future__ import annotations

import os
from typing import Any

import torch
import torch.distributed as dist
from mmengine.config import Config
from mmengine.logging import print_log


def _replace_sync_bn(node: Any) -> int:
    """Turn every ``dict(type='SyncBN', ...)`` under ``node`` into BN in place; return how many."""
    n = 0
    if isinstance(node, dict):
        if node.get("type") == "SyncBN":
            node["type"] = "BN"
            n += 1
        for v in node.values():
            n += _replace_sync_bn(v)
    elif isinstance(node, (list, tuple)):
        for v in node:
            n += _replace_sync_bn(v)
    return n


def adapt_to_device(cfg: Config, launcher: str) -> Config:
    """Make a GPU config run on the CPU when no CUDA device is present (no-op otherwise).

    With ``launcher != 'none'`` the gloo process group is initialised here (mmengine would pick the
    config's NCCL backend and a CUDA device) and DDP is set to wrap a CPU module.
    """
    if torch.cuda.is_available():
        return cfg
    n = _replace_sync_bn(cfg.model)
    if n:
        print_log(f"no CUDA device: {n} SyncBN layer config(s) use BN instead", logger="current")
    if cfg.get("optim_wrapper", {}).get("type") == "AmpOptimWrapper":
        print_log("no CUDA device: AmpOptimWrapper (fp16) replaced by OptimWrapper (float32)", logger="current")
        fp32 = {k: v for k, v in cfg.optim_wrapper.items() if k not in ("loss_scale", "dtype", "use_fsdp")}
        cfg.optim_wrapper = dict(fp32, type="OptimWrapper")
    cfg.setdefault("env_cfg", {}).setdefault("dist_cfg", {})["backend"] = "gloo"
    if launcher == "pytorch":
        if not dist.is_initialized():
            dist.init_process_group(backend="gloo", rank=int(os.environ["RANK"]),
                                    world_size=int(os.environ["WORLD_SIZE"]))
        wrapper = dict(cfg.get("model_wrapper_cfg") or {})
        wrapper.setdefault("type", "MMDistributedDataParallel")
        wrapper.update(device_ids=None)
        wrapper.setdefault("broadcast_buffers", False)
        wrapper.setdefault("find_unused_parameters", cfg.get("find_unused_parameters", False))
        cfg.model_wrapper_cfg = wrapper
    elif launcher != "none":
        raise ValueError(f"launcher {launcher!r} needs CUDA here; on the CPU use 'none' or 'pytorch'")
    return cfg

