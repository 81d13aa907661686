"""The trainer's random streams and their seeds.

Every random number of a training epoch derives from (``--seed``, epoch, rank): the main process's generators
(drop path, MixToken boxes, Mixup / CutMix) are seeded with :func:`epoch_seed` at the start of the epoch, and the
augmentation of each training sample (crop, flip, RandAugment, random erasing) with :func:`sample_seed` of its
position in the epoch, wherever it is decoded (any loader worker, or the main process). So a run stopped at any
step and resumed (with the main process's generator states saved at that step, :func:`rng_state`) draws the same
numbers as an uninterrupted run, and the number of loader workers changes nothing.
"""
from __future__ import annotations

import hashlib
import random
import struct
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import torch
from torch.utils.data import get_worker_info

from wavemsa.runs import rng_state, set_rng_state  # noqa: F401  (the generator states a stop saves)


def seed_all(seed: int) -> None:
    """Seed python, numpy and torch (CPU and CUDA) generators."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def epoch_seed(seed: int, epoch: int, rank: int) -> int:
    """The seed of the main process's random streams of one rank in one epoch."""
    return (seed * 1_000_003 + epoch * 1009 + rank) % (2**31)


def sample_seed(seed: int, epoch: int, rank: int, position: int) -> int:
    """The seed of the augmentation of the sample at ``position`` of one rank's share of an epoch (a 32-bit hash
    of the four numbers)."""
    digest = hashlib.blake2b(struct.pack("<4q", seed, epoch, rank, position), digest_size=4).digest()
    return int.from_bytes(digest, "little")


@contextmanager
def seeded(seed: int) -> Iterator[None]:
    """Run the block with python, numpy and torch generators seeded by ``seed``. In the main process (a loader
    without workers) their states are restored afterwards, so the training step's own streams are untouched."""
    if get_worker_info() is not None:
        seed_all(seed)
        yield
        return
    saved = random.getstate(), np.random.get_state(), torch.get_rng_state()
    seed_all(seed)
    try:
        yield
    finally:
        random.setstate(saved[0])
        np.random.set_state(saved[1])
        torch.set_rng_state(saved[2])
