"""Peak memory of one step and the allocator switch.

On the CPU the peak is the resident set size that one step adds above the memory in use before it, measured
in a fresh process per (model, mode, precision) (:func:`measure_in_subprocess` runs
``tools/benchmark.py --_memory-probe``; the kernel's peak mark is reset just before the step; for training,
after a first step that creates the optimizer state). On CUDA the runners record
``torch.cuda.max_memory_allocated`` themselves.
"""
from __future__ import annotations

import ctypes
import json
import platform
import resource
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

__all__ = ["keep_freed_memory", "peak_memory_of", "measure_in_subprocess", "proc_status_mb"]


def keep_freed_memory() -> bool:
    """``--malloc keep``: make glibc's malloc serve every block from its heap and never hand freed memory back
    to the kernel (what ``MALLOC_MMAP_MAX_=0 MALLOC_TRIM_THRESHOLD_=<huge>`` do), so that no step pays for
    fresh pages (faulted in and zeroed by the kernel). By default glibc maps blocks above a threshold
    (128 KiB, raised up to 32 MiB as such blocks are freed) afresh each time, so one model's allocations
    change the next one's costs. Returns False where the C library has no ``mallopt``."""
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    m_trim_threshold, m_mmap_max = -1, -4  # glibc's malloc.h
    return bool(mallopt(m_mmap_max, 0)) and bool(mallopt(m_trim_threshold, 2**31 - 1))


def proc_status_mb(key: str) -> float | None:
    """A ``/proc/self/status`` memory field (VmRSS, VmHWM) in MiB; None where there is no procfs."""
    try:
        with open("/proc/self/status") as f:
            line = next(line for line in f if line.startswith(key + ":"))
    except (OSError, StopIteration):
        return None
    return int(line.split()[1]) / 1024


def _reset_peak_rss() -> bool:
    """Reset the kernel's peak-RSS mark (VmHWM) of this process (Linux >= 4.0)."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def _rusage_peak_mb() -> float:
    scale = 1 if platform.system() == "Darwin" else 1024  # ru_maxrss: bytes on macOS, KiB on Linux
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale / 2**20


def peak_memory_of(step: Callable[[], None]) -> float:
    """Peak resident memory (MiB) that ``step`` adds above the memory in use before it."""
    if _reset_peak_rss() and proc_status_mb("VmRSS") is not None:
        before = proc_status_mb("VmRSS")
        step()
        return proc_status_mb("VmHWM") - before
    before = _rusage_peak_mb()  # fallback: growth of the lifetime peak (underestimates small steps)
    step()
    return _rusage_peak_mb() - before


def measure_in_subprocess(script: Path, args: Sequence[str]) -> float | None:
    """Run ``script --_memory-probe ARGS`` in a fresh interpreter; its last stdout line is ``{"peak_mb": X}``.
    Returns X, or None (with the probe's stderr printed) when it fails."""
    proc = subprocess.run([sys.executable, str(script), "--_memory-probe", *args], capture_output=True, text=True)
    if proc.returncode != 0:
        print(f"[memory] probe {' '.join(args)} failed:\n{proc.stderr[-2000:]}", file=sys.stderr)
        return None
    return json.loads(proc.stdout.strip().splitlines()[-1])["peak_mb"]
