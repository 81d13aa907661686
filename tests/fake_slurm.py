"""A stand-in ``srun`` for the slurm_*.sh tests: it runs the job step on this machine.

``fake_srun_env(tmp_path)`` writes an executable ``srun`` into ``tmp_path/bin`` and returns an environment
with that folder first on PATH. The stand-in reads srun's options as the launchers pass them (``-p``,
``--job-name=``, ``--gres=``, ``--ntasks=``, ``--ntasks-per-node=``, ``--cpus-per-task=``,
``--kill-on-bad-exit=``, anything from SRUN_ARGS), writes them as JSON to ``$FAKE_SRUN_LOG`` and starts
``--ntasks`` copies of the command with the variables Slurm sets for each task (SLURM_PROCID, SLURM_LOCALID,
SLURM_NTASKS, SLURM_NNODES, SLURM_NODEID, SLURM_NODELIST, SLURM_STEP_NODELIST, SLURM_JOB_NAME,
SLURM_JOB_PARTITION, SLURM_CPUS_PER_TASK, SLURM_JOB_ID); with ``--kill-on-bad-exit=1`` a failing task stops
the others. Its exit status is the first failing task's, else 0. There is no ``scontrol``, as on a machine
outside a cluster: the launchers must cope.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

SRUN = r'''
import json, os, subprocess, sys, time

argv, opts = sys.argv[1:], {}
while argv and argv[0].startswith("-"):
    key = argv.pop(0)
    if "=" in key:
        key, value = key.split("=", 1)
    else:
        value = argv.pop(0)
    opts[key.lstrip("-")] = value
log = os.environ.get("FAKE_SRUN_LOG")
if log:
    with open(log, "w") as f:
        json.dump({"options": opts, "command": argv}, f)
ntasks = int(opts.get("ntasks", opts.get("n", 1)))
procs = []
for rank in range(ntasks):
    env = dict(os.environ, SLURM_PROCID=str(rank), SLURM_LOCALID=str(rank), SLURM_NTASKS=str(ntasks),
               SLURM_NNODES="1", SLURM_NODEID="0", SLURM_NODELIST="localhost", SLURM_STEP_NODELIST="localhost",
               SLURM_JOB_NODELIST="localhost", SLURM_JOB_NAME=opts.get("job-name", ""),
               SLURM_JOB_PARTITION=opts.get("p", opts.get("partition", "")),
               SLURM_CPUS_PER_TASK=opts.get("cpus-per-task", "1"), SLURM_JOB_ID="4242", SLURM_STEP_ID="0")
    procs.append(subprocess.Popen(argv, env=env))
status = 0
while any(p.poll() is None for p in procs):
    failed = [p.returncode for p in procs if p.returncode not in (None, 0)]
    if failed and opts.get("kill-on-bad-exit") == "1":
        for p in procs:
            if p.poll() is None:
                p.terminate()
    time.sleep(0.2)
failed = [p.returncode for p in procs if p.returncode != 0]
sys.exit(failed[0] if failed else 0)
'''


def fake_srun_env(tmp_path: Path, log: Path | None = None) -> dict[str, str]:
    """An environment whose PATH starts with a folder holding the stand-in ``srun``."""
    bin_dir = tmp_path / "fake_slurm_bin"
    bin_dir.mkdir(exist_ok=True)
    srun = bin_dir / "srun"
    srun.write_text(f"#!{sys.executable}\n{SRUN}")
    srun.chmod(0o755)
    env = dict(os.environ, PATH=f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}", PYTHON=sys.executable)
    if log is not None:
        env["FAKE_SRUN_LOG"] = str(log)
    return env
