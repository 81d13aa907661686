"""Run the GPU configs unchanged on a machine without CUDA (no-op when CUDA is present).

The configs are written for GPUs, as MMDetection's and MMSegmentation's are: SyncBN, fp16 through
mmengine's ``AmpOptimWrapper`` (which asserts a GPU), NCCL, DDP with device ids. Without CUDA,
:func:`adapt_to_device` turns SyncBN into BN, AMP into float32 (with a warning), NCCL into gloo, creates
the gloo process group itself for the ``pytorch`` (torchrun) and ``slurm`` (srun) launchers (mmengine's
own set-up calls ``torch.cuda.set_device``) and wraps the CPU model in DDP without device ids.
"""
from __future__ import annotations

import os
import subprocess
import warnings
from typing import Any

import torch

from ..errors import InputError

__all__ = ["adapt_to_device", "enable_amp", "init_distributed", "slurm_environment"]


def _replace_sync_bn(node: Any) -> int:
    """Turn every ``dict(type='SyncBN' | 'MMSyncBN', ...)`` under ``node`` into BN in place; return how many."""
    n = 0
    if isinstance(node, dict):
        if node.get("type") in ("SyncBN", "MMSyncBN"):
            node["type"] = "BN"
            n += 1
        for v in node.values():
            n += _replace_sync_bn(v)
    elif isinstance(node, (list, tuple)):
        for v in node:
            n += _replace_sync_bn(v)
    return n


def enable_amp(cfg) -> None:
    """``--amp``: mmengine's AmpOptimWrapper with a dynamic loss scale (kept when the config has it)."""
    ow = cfg.optim_wrapper
    if ow.get("type", "OptimWrapper") not in ("OptimWrapper", "AmpOptimWrapper"):
        raise InputError(f"--amp needs optim_wrapper.type OptimWrapper, the config has {ow.type!r}")
    if ow.get("type") != "AmpOptimWrapper":
        ow.type = "AmpOptimWrapper"
        ow.setdefault("loss_scale", "dynamic")


def slurm_environment(env: dict | None = None) -> dict[str, str]:
    """torch.distributed's variables (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT) from the ones
    ``srun`` sets for each task; MASTER_ADDR / MASTER_PORT already set are kept, otherwise the first host of
    the job (``scontrol show hostnames``) and 29500."""
    env = os.environ if env is None else env
    try:
        out = {"RANK": env["SLURM_PROCID"], "WORLD_SIZE": env["SLURM_NTASKS"],
               "LOCAL_RANK": env.get("SLURM_LOCALID", "0")}
    except KeyError as err:
        raise InputError(f"--launcher slurm outside a Slurm job step: {err.args[0]} is not set "
                         "(start it with srun, e.g. through tools/slurm_train.sh)") from None
    addr = env.get("MASTER_ADDR")
    if not addr:
        nodes = env.get("SLURM_STEP_NODELIST") or env.get("SLURM_NODELIST", "")
        try:
            addr = subprocess.run(["scontrol", "show", "hostnames", nodes], capture_output=True, text=True,
                                  check=True).stdout.split()[0]
        except (OSError, subprocess.CalledProcessError, IndexError):
            addr = "127.0.0.1" if env.get("SLURM_NNODES", "1") == "1" else nodes.split(",")[0]
    out.update(MASTER_ADDR=addr, MASTER_PORT=env.get("MASTER_PORT", "29500"))
    return out


def _init_gloo(launcher: str) -> None:
    import torch.distributed as dist

    if dist.is_initialized():
        return
    if launcher == "slurm":
        os.environ.update(slurm_environment())
    dist.init_process_group(backend="gloo", rank=int(os.environ["RANK"]), world_size=int(os.environ["WORLD_SIZE"]))


def adapt_to_device(cfg) -> None:
    """Adapt ``cfg`` (in place) to a machine without CUDA, see the module docstring."""
    if torch.cuda.is_available():
        return
    from mmengine.logging import print_log

    n = _replace_sync_bn(cfg.model)
    if n:
        print_log(f"no CUDA device: {n} SyncBN layer config(s) use BN instead", logger="current")
    ow = cfg.get("optim_wrapper") or {}
    if ow.get("type") == "AmpOptimWrapper":
        warnings.warn("no CUDA device: AmpOptimWrapper (fp16) replaced by OptimWrapper (float32)", stacklevel=2)
        ow["type"] = "OptimWrapper"
        for key in ("loss_scale", "dtype", "use_fsdp"):
            ow.pop(key, None)
    cfg.setdefault("env_cfg", {}).setdefault("dist_cfg", {})["backend"] = "gloo"
    if cfg.launcher == "none":
        return
    if cfg.launcher not in ("pytorch", "slurm"):
        raise InputError(f"--launcher {cfg.launcher} needs CUDA; on the CPU use pytorch (dist_*.sh) or slurm")
    _init_gloo(cfg.launcher)
    wrapper = dict(cfg.get("model_wrapper_cfg") or {})
    wrapper.setdefault("type", "MMDistributedDataParallel")
    wrapper.update(device_ids=None)
    wrapper.setdefault("broadcast_buffers", False)
    wrapper.setdefault("find_unused_parameters", cfg.get("find_unused_parameters", False))
    cfg.model_wrapper_cfg = wrapper


def init_distributed(cfg) -> None:
    """Initialise torch.distributed for ``cfg.launcher`` before the runner exists, as the runner would (mmengine's
    ``init_dist`` with the config's ``env_cfg.dist_cfg``; without CUDA :func:`adapt_to_device` has set up gloo):
    the entry point can then agree with the other ranks first (the work dir's lock). No-op for ``none``."""
    import torch.distributed as dist

    if cfg.launcher == "none" or dist.is_initialized():
        return
    from mmengine.dist import init_dist

    init_dist(cfg.launcher, **dict((cfg.get("env_cfg") or {}).get("dist_cfg") or {}))
