"""Two processes (torchrun, gloo on the CPU) train through semantic_segmentation/tools/dist_train.sh and
test through dist_test.sh: the demo config with the tiny backbone on a tiny built-in ADE20K-format set."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("mmseg", reason="the OpenMMLab stack is installed by `make install-mm`")

from test_segmentation import REPO, SEG, make_ade20k, small_config  # noqa: E402

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(cmd: list[str], cwd: Path, timeout: int = 300) -> str:
    env = dict(os.environ, PYTHON=sys.executable, PORT=str(free_port()), OMP_NUM_THREADS="1")
    p = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    out = p.stdout + p.stderr
    assert p.returncode == 0, f"{' '.join(cmd)} failed ({p.returncode}):\n{out[-6000:]}"
    return out


def test_dist_train_and_test_two_processes(tmp_path: Path):
    root = make_ade20k.build(tmp_path / "ADEChallengeData2016", num_train=8, num_val=4, size=64,
                             max_objects=3, seed=1)
    cfg = small_config(SEG / "configs" / "demo" / "upernet_wavemsa_t_128x128_digits.py", root, tmp_path)
    work = tmp_path / "work"
    # 3 iterations of batch 2 per process; validation (both ranks' shards) after the last one
    out = run([str(SEG / "tools" / "dist_train.sh"), str(cfg), "2", "--work-dir", str(work),
               "--cfg-options", "train_cfg.max_iters=3", "train_cfg.val_interval=3"], cwd=tmp_path)
    log = next(work.glob("*/*.log")).read_text()
    assert "Distributed launcher: pytorch" in log and "Distributed training: True" in log
    assert "GPU number: 2" in log  # mmengine's name for the world size
    assert "Iter(train) [3/3]" in log
    assert "Iter(val) [1/1]" in log and "mIoU" in log  # 4 images over 2 ranks x batch 2: sharded
    ckpt = work / "iter_3.pth"
    assert ckpt.is_file(), out[-3000:]

    out = run([str(SEG / "tools" / "dist_test.sh"), str(cfg), str(ckpt), "2", "--work-dir", str(work)],
              cwd=tmp_path)
    metrics = json.loads((work / "metrics.json").read_text())
    assert {"aAcc", "mIoU", "mAcc"} <= set(metrics) and 0 <= metrics["mIoU"] <= 100
    assert str(REPO) not in str(tmp_path)  # ran from outside the repository: the plug-in import is path-safe
