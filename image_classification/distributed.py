"""torch.distributed set-up for ``torchrun`` and ``python -m torch.distributed.launch --use_env``.

Both launchers export RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR and MASTER_PORT; ``init_distributed``
reads them (a ``--local-rank`` argument, passed by the legacy launcher without ``--use_env``, is used
only when LOCAL_RANK is absent). NCCL on CUDA devices, gloo on the CPU.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist
from timm.utils import distribute_bn

from wavemsa.runs import control_group


@dataclass
class DistInfo:
    """Where this process sits: global rank, world size, local rank, device and whether it is rank 0."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def resolve_device(name: str) -> torch.device:
    """'cuda' falls back to the CPU when no GPU is present; anything else is taken literally."""
    if name.startswith("cuda") and not torch.cuda.is_available():
        return torch.device("cpu")
    return torch.device(name)


def init_distributed(device_name: str, local_rank_arg: int | None = None) -> DistInfo:
    """Initialise the default process group when launched with WORLD_SIZE > 1; return this process's
    ``DistInfo``. On CUDA each process uses GPU ``LOCAL_RANK``."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", local_rank_arg if local_rank_arg is not None else 0))
    device = resolve_device(device_name)
    if device.type == "cuda":
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    info = DistInfo(rank, world_size, local_rank, device)
    if info.distributed and not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        # device_id binds NCCL to this rank's GPU (without it torch guesses the device from the rank)
        dist.init_process_group(backend=backend, init_method="env://", world_size=world_size, rank=rank,
                                device_id=device if backend == "nccl" else None)
        dist.barrier()
    return info


def all_reduce_sum(values: list[float], device: torch.device) -> list[float]:
    """Sum a list of numbers over all ranks (identity when not distributed)."""
    if not (dist.is_available() and dist.is_initialized()):
        return list(values)
    t = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(t)
    return t.tolist()


def all_reduce_tensor(t: torch.Tensor, device: torch.device) -> torch.Tensor:
    """Sum a tensor over all ranks (a CPU copy; identity when not distributed)."""
    if not (dist.is_available() and dist.is_initialized()):
        return t.cpu()
    t = t.to(device)
    dist.all_reduce(t)
    return t.cpu()


def gather_objects(obj: Any) -> list[Any] | None:
    """Every rank's ``obj`` as a list on rank 0 (None on the other ranks); ``[obj]`` when not distributed.
    Pickled through the gloo control group (:func:`wavemsa.runs.control_group`), CPU-side."""
    if not (dist.is_available() and dist.is_initialized()):
        return [obj]
    out = [None] * dist.get_world_size() if dist.get_rank() == 0 else None
    dist.gather_object(obj, out, dst=0, group=control_group())
    return out


def barrier() -> None:
    """Wait for every rank (CPU-side, gloo control group); nothing when not distributed."""
    if dist.is_available() and dist.is_initialized():
        dist.barrier(group=control_group())


def cleanup() -> None:
    """Destroy the process group if one was created."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def average_bn_statistics(module: torch.nn.Module, world_size: int) -> None:
    """Average the BatchNorm running statistics over the ranks (timm's ``distribute_bn(reduce=True)``, as
    the originals do after every epoch): each rank's forwards updated its own, and afterwards every rank
    evaluates and rank 0 saves the same weights."""
    if dist.is_available() and dist.is_initialized():
        distribute_bn(module, world_size, reduce=True)
