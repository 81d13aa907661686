"""Run records: the evidence behind every figure quoted in a README or a note.

A run record is one JSON file with the git commit (and whether the tree had uncommitted changes), the
command, the machine (CPU model, cores, GPU if any), the date, the software versions and the metrics::

    from wavemsa.records import write_record
    write_record("output/demo/record.json", metrics={"top1": 98.4}, name="demo")

or, after a command that left its metrics in a JSON file (the Makefile's demo targets do this)::

    python -m wavemsa.records NAME --metrics output/demo/eval.json --out output/demo/record.json \\
        --started $(date +%s) --command "make demo"

Records of figures quoted in the READMEs are committed under ``asset/records/``.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shlex
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from .files import write_json

__all__ = ["machine_info", "git_info", "make_record", "write_record"]

REPO = Path(__file__).resolve().parents[1]


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_info() -> dict[str, Any]:
    """CPU model, cores usable by this process, memory, GPU (name and count) when CUDA is available."""
    info: dict[str, Any] = {"cpu": _cpu_model(), "cores": len(os.sched_getaffinity(0))
                            if hasattr(os, "sched_getaffinity") else os.cpu_count(),
                            "platform": platform.platform(), "python": platform.python_version()}
    try:
        pages, size = os.sysconf("SC_PHYS_PAGES"), os.sysconf("SC_PAGE_SIZE")
        info["memory_gib"] = round(pages * size / 2**30, 1)
    except (ValueError, OSError, AttributeError):
        pass
    try:
        import torch

        info["torch"] = torch.__version__
        if torch.cuda.is_available():
            info["gpu"] = torch.cuda.get_device_name(0)
            info["gpu_count"] = torch.cuda.device_count()
    except ImportError:
        pass
    return info


def git_info(repo: str | Path = REPO) -> dict[str, Any]:
    """The commit checked out in ``repo`` and whether tracked files differ from it."""
    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True,
                              check=True).stdout.strip()
    try:
        return {"commit": git("rev-parse", "HEAD"),
                "dirty": bool(git("status", "--porcelain", "--untracked-files=no"))}
    except (OSError, subprocess.CalledProcessError):
        return {"commit": None, "dirty": None}


def command_line() -> str:
    """This process's command as a user types it in the repository root: ``python``, ``-m MODULE`` for a module
    run with ``-m``, and paths inside the repository relative to it."""
    def relative(arg: str) -> str:
        path = Path(arg).resolve() if os.path.isabs(arg) else None
        return str(path.relative_to(REPO)) if path is not None and path.is_relative_to(REPO) else arg

    spec = getattr(sys.modules.get("__main__"), "__spec__", None)  # run with -m: argv[0] is the module's file
    head = ["-m", spec.name] if spec is not None and spec.name != "__main__" else [relative(sys.argv[0])]
    return shlex.join(["python", *head, *map(relative, sys.argv[1:])])


def make_record(metrics: dict[str, Any], name: str = "", command: str | None = None,
                wall_s: float | None = None, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """The record as a dict (see the module docstring)."""
    record = {"name": name, **git_info(),
              "command": command if command is not None else command_line(),
              "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
              "machine": machine_info(), "metrics": metrics}
    if wall_s is not None:
        record["wall_s"] = round(wall_s, 1)
    if extra:
        record.update(extra)
    return record


def write_record(path: str | Path, metrics: dict[str, Any], **kwargs: Any) -> Path:
    """Write :func:`make_record` as JSON to ``path`` atomically; returns the path."""
    return write_json(path, make_record(metrics, **kwargs), indent=1)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description="Write a run record from a metrics JSON file")
    p.add_argument("name", help="what was run (demo, demo-det, benchmark, ...)")
    p.add_argument("--metrics", required=True, help="JSON file of metrics written by the run")
    p.add_argument("--out", required=True, help="record file to write")
    p.add_argument("--command", required=True, help="the command that was run, as a user would type it")
    p.add_argument("--started", type=float, help="UNIX time the command started (gives wall_s)")
    args = p.parse_args(argv)
    from .errors import InputError

    try:
        metrics = json.loads(Path(args.metrics).read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise InputError(f"--metrics '{args.metrics}': not a readable JSON file ({err})") from None
    wall = time.time() - args.started if args.started else None
    print(f"run record: {write_record(args.out, metrics, name=args.name, command=args.command, wall_s=wall)}")


if __name__ == "__main__":
    from .errors import run_main

    sys.exit(run_main(main, prog="wavemsa.records"))
