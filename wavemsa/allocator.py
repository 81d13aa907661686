"""The CPU memory allocator set-up of the project's CPU entry points (trainer, benchmark, demos), in one place.

glibc's ``malloc`` serves every block above its mmap threshold (at most 32 MiB) with fresh pages from the
kernel and returns them on ``free``: a vision model's large activations (a ConvFFN's hidden tensor is about
100 MiB for a batch of 16 at 224x224) are then faulted in and zeroed again at every step. :func:`keep_freed_memory`
asks glibc to serve large blocks from its heap as well and to keep freed memory for the next step, which is what
``GLIBC_TUNABLES=glibc.malloc.mmap_threshold=4294967296:glibc.malloc.trim_threshold=4294967296`` does for a
process started with it. It speeds up every model alike and changes no result; the model code knows nothing of it.

Nothing is done where it does not apply or the user chose otherwise:

* ``WAVEMSA_CPU_ALLOCATOR=default`` in the environment;
* an allocator preloaded with ``LD_PRELOAD`` (jemalloc, tcmalloc, mimalloc: they keep freed memory themselves);
* ``GLIBC_TUNABLES`` naming a ``glibc.malloc`` setting (the user's own);
* a C library other than glibc (no ``mallopt``).
"""
from __future__ import annotations

import ctypes
import os

from .errors import InputError

__all__ = ["ENV_VAR", "keep_freed_memory"]

ENV_VAR = "WAVEMSA_CPU_ALLOCATOR"  # "keep" (default) or "default" (leave malloc as it is)

# mallopt parameters (malloc.h)
_M_TRIM_THRESHOLD = -1
_M_MMAP_MAX = -4

_state: str | None = None


def keep_freed_memory() -> str:
    """Set glibc's malloc up to keep freed memory (once per process) and say what was done: ``"keep"`` when it
    was set up, otherwise the reason it was left alone (``"default"``, ``"preloaded ..."``, ``"GLIBC_TUNABLES"``,
    ``"not glibc"``). Call it at the start of a CPU entry point, before the model runs."""
    global _state
    if _state is not None:
        return _state
    choice = os.environ.get(ENV_VAR, "keep").strip().lower()
    preload = os.environ.get("LD_PRELOAD", "")
    if choice == "default":
        _state = "default"
    elif choice != "keep":
        raise InputError(f"environment variable {ENV_VAR} must be 'keep' or 'default', got {choice!r}")
    elif any(name in preload for name in ("jemalloc", "tcmalloc", "mimalloc")):
        _state = f"preloaded {os.path.basename(preload.split(':')[0])}"
    elif "glibc.malloc" in os.environ.get("GLIBC_TUNABLES", ""):
        _state = "GLIBC_TUNABLES"
    else:
        _state = "keep" if _mallopt_keep() else "not glibc"
    return _state


def _mallopt_keep() -> bool:
    """No mmap'ed blocks (every block from the heap, reused after free) and no trimming of the heap's top."""
    try:
        mallopt = ctypes.CDLL(None).mallopt  # the C library the process runs on
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return bool(mallopt(_M_MMAP_MAX, 0)) and bool(mallopt(_M_TRIM_THRESHOLD, 2**31 - 1))
