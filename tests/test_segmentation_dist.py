"""Two processes train through semantic_segmentation/tools/slurm_train.sh (srun, here a stand-in running the
tasks on this machine, gloo on the CPU); the checkpoint evaluated by one process (tools/test.py's code, in this
process) and by two (dist_test.sh, torchrun) gives the same metrics. The demo config with the tiny backbone on a
tiny built-in ADE20K-format set."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from fake_slurm import fake_srun_env
from ports import free_port

pytest.importorskip("mmseg", reason="the OpenMMLab stack is installed by `make install-mm`")

from test_segmentation import REPO, SEG, make_ade20k, small_config  # noqa: E402

from wavemsa.mm import evaluate  # noqa: E402

pytestmark = pytest.mark.slow


def run(cmd: list[str], cwd: Path, timeout: int = 300, env: dict | None = None) -> str:
    env = dict(env or os.environ, PYTHON=sys.executable, PORT=free_port(), MASTER_PORT=free_port(),
               OMP_NUM_THREADS="1")
    p = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    out = p.stdout + p.stderr
    assert p.returncode == 0, f"{' '.join(cmd)} failed ({p.returncode}):\n{out[-6000:]}"
    return out


def test_two_process_training_and_single_vs_two_process_testing(tmp_path: Path):
    root = make_ade20k.build(tmp_path / "ADEChallengeData2016", num_train=8, num_val=4, size=64,
                             max_objects=3, seed=1)
    cfg = small_config(SEG / "configs" / "demo" / "upernet_wavemsa_t_128x128_digits.py", root, tmp_path)
    # 3 iterations of batch 2 per task; validation (both ranks' shards) after the last one
    short = ["--cfg-options", "train_cfg.max_iters=3", "train_cfg.val_interval=3"]
    env = dict(fake_srun_env(tmp_path), GPUS="2", GPUS_PER_NODE="2")
    work = tmp_path / "work"
    run(["bash", str(SEG / "tools" / "slurm_train.sh"), "cpu", "seg_train", str(cfg), "--work-dir", str(work),
         *short], cwd=tmp_path, env=env)
    log = next(work.glob("*/*.log")).read_text()
    assert "Distributed launcher: slurm" in log and "Distributed training: True" in log
    assert "GPU number: 2" in log  # mmengine's name for the world size
    assert "Iter(train) [3/3]" in log
    assert "Iter(val) [1/1]" in log and "mIoU" in log  # 4 images over 2 ranks x batch 2: sharded
    ckpt = work / "iter_3.pth"
    assert ckpt.is_file()

    # one process (this one, tools/test.py's code) and two (tools/test.py itself under torchrun)
    evaluate.main([str(cfg), str(ckpt), "--work-dir", str(tmp_path / "t1")], "segmentation")
    run([str(SEG / "tools" / "dist_test.sh"), str(cfg), str(ckpt), "2", "--work-dir", str(tmp_path / "t2")],
        cwd=tmp_path)
    single, double = (json.loads((tmp_path / t / "metrics.json").read_text()) for t in ("t1", "t2"))
    assert set(single) == {"aAcc", "mIoU", "mAcc"} and 0 <= single["mIoU"] <= 100
    assert single == pytest.approx(double)
    assert str(REPO) not in str(tmp_path)  # ran from outside the repository: the plug-in import is path-safe
