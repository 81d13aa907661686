"""The launchers: what every slurm_*.sh passes to srun (a stand-in srun that runs the tasks on this machine, and
a stand-in python that records what each task gets) and the usage messages of dist_*.sh / slurm_*.sh. Two srun tasks
train for real through image_classification/slurm_train.sh (test_classification_train.py) and
semantic_segmentation/tools/slurm_train.sh (test_segmentation_dist.py). Also: ``import wavemsa`` stays free of
OpenMMLab."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from fake_slurm import fake_srun_env

ROOT = Path(__file__).resolve().parents[1]


def test_import_wavemsa_does_not_import_openmmlab():
    code = ("import sys, wavemsa; bad = [m for m in sys.modules if m.startswith(('wavemsa.mm', 'mmengine', "
            "'mmdet', 'mmseg', 'mmcv'))]; assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


# ---------------------------------------------------------------- launchers (no OpenMMLab needed)

def _stub_python(tmp_path: Path) -> Path:
    """A PYTHON that records, per task, its arguments and the distributed variables, then exits 0."""
    stub = tmp_path / "python_stub"
    stub.write_text('#!/usr/bin/env bash\n'
                    'printf "%s\\n" "$@" > "$STUB_OUT.${SLURM_PROCID:-x}.args"\n'
                    'env | grep -E "^(RANK|WORLD_SIZE|LOCAL_RANK|MASTER_ADDR|MASTER_PORT|SLURM_PROCID)=" | sort '
                    '> "$STUB_OUT.${SLURM_PROCID:-x}.env"\n')
    stub.chmod(0o755)
    return stub


@pytest.mark.parametrize("script,positional,entry", [
    ("object_detection/tools/slurm_train.sh", ["CFG.py"], "object_detection/tools/train.py"),
    ("object_detection/tools/slurm_test.sh", ["CFG.py", "CKPT.pth"], "object_detection/tools/test.py"),
    ("semantic_segmentation/tools/slurm_train.sh", ["CFG.py"], "semantic_segmentation/tools/train.py"),
    ("semantic_segmentation/tools/slurm_test.sh", ["CFG.py", "CKPT.pth"], "semantic_segmentation/tools/test.py"),
    ("image_classification/slurm_train.sh", ["CFG.py"], "image_classification/main.py"),
    ("image_classification/slurm_test.sh", ["CFG.py", "CKPT.pth"], "image_classification/main.py"),
])
def test_slurm_scripts_pass_partition_job_gpus_and_options(tmp_path, script, positional, entry):
    log = tmp_path / "srun.json"
    env = fake_srun_env(tmp_path, log)
    env.update(PYTHON=str(_stub_python(tmp_path)), STUB_OUT=str(tmp_path / "task"), GPUS="2", GPUS_PER_NODE="2",
               CPUS_PER_TASK="3", SRUN_ARGS="--time=5 --quotatype=auto")
    env.pop("MASTER_ADDR", None)
    env.pop("MASTER_PORT", None)
    subprocess.run(["bash", str(ROOT / script), "gpu_part", "my_job", *positional, "--work-dir", "W"],
                   env=env, check=True, cwd=tmp_path, capture_output=True, text=True)
    call = json.loads(log.read_text())
    assert call["options"] == {"p": "gpu_part", "job-name": "my_job", "gres": "gpu:2", "ntasks": "2",
                               "ntasks-per-node": "2", "cpus-per-task": "3", "kill-on-bad-exit": "1",
                               "time": "5", "quotatype": "auto"}
    for rank in (0, 1):
        args = (tmp_path / f"task.{rank}.args").read_text().split("\n")[:-1]
        assert args[0] == "-u" and Path(args[1]) == ROOT / entry
        if entry.endswith("main.py"):  # the trainer reads torch.distributed's variables, set from srun's
            expected = ["--config", "CFG.py"] + (["--eval", "--resume", "CKPT.pth"] if len(positional) > 1 else [])
            assert args[2:] == [*expected, "--work-dir", "W"]
            variables = dict(line.split("=", 1) for line in (tmp_path / f"task.{rank}.env").read_text().split())
            assert variables == {"RANK": str(rank), "WORLD_SIZE": "2", "LOCAL_RANK": str(rank),
                                 "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": "29500", "SLURM_PROCID": str(rank)}
        else:  # OpenMMLab's entry points initialise from the SLURM_* variables themselves
            assert args[2:] == [*positional, "--launcher", "slurm", "--work-dir", "W"]


@pytest.mark.parametrize("script", ["object_detection/dist_train.sh", "object_detection/tools/slurm_test.sh",
                                    "semantic_segmentation/tools/dist_test.sh"])
def test_launchers_print_usage_without_arguments(script):
    proc = subprocess.run(["bash", str(ROOT / script)], capture_output=True, text=True)
    assert proc.returncode == 2 and proc.stderr.startswith("usage: ") and "CONFIG" in proc.stderr
