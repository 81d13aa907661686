"""Multi-process detection training/testing: the original's object_detection/dist_*.sh (torchrun, gloo on the
CPU). What the slurm scripts pass to srun is checked in test_launchers.py; two srun tasks train for real in
test_segmentation_dist.py (mmengine's slurm set-up, the same for both tasks)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from ports import free_port

pytest.importorskip("mmdet", reason="the OpenMMLab stack is not installed (make install)")

from wavemsa.mm import evaluate  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DET = ROOT / "object_detection"
DEMO_CONFIG = DET / "configs" / "demo" / "mask_rcnn_wavemsa_t_fpn_digits.py"
sys.path.insert(0, str(ROOT / "datasets"))

# one short epoch on a tiny set, no worker processes, no validation during training
SHORT = ["train_cfg.max_epochs=1", "train_dataloader.batch_size=2", "train_dataloader.num_workers=0",
         "train_dataloader.persistent_workers=False", "val_dataloader.num_workers=0",
         "val_dataloader.persistent_workers=False", "val_dataloader.batch_size=2",
         "default_hooks.logger.interval=1", "param_scheduler.0.end=2"]


def _run(cmd: list[str], timeout: int = 400, env: dict | None = None) -> subprocess.CompletedProcess:
    env = dict(env or os.environ, PYTHON=sys.executable, PORT=free_port(), MASTER_PORT=free_port(),
               OMP_NUM_THREADS="1")
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"{' '.join(cmd)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-6000:]}"
    return proc


@pytest.mark.slow
def test_two_process_training_and_testing(tmp_path):
    from make_coco import make_coco

    data = tmp_path / "coco_digits"
    make_coco(data, num_train=8, num_val=4, seed=5, min_size=96, max_size=128, max_objects=3)
    work = tmp_path / "work"
    common = ["--data-root", str(data), "--cfg-options", *SHORT]

    _run(["bash", str(DET / "dist_train.sh"), str(DEMO_CONFIG), "2", "--work-dir", str(work), *common])
    ckpt = work / "epoch_1.pth"
    assert ckpt.is_file()
    log = next(work.glob("*/*.log")).read_text()
    assert "Distributed training: True" in log and "GPU number: 2" in log  # world size 2 (gloo on CPU)
    assert "Epoch(train) [1][2/2]" in log  # 8 images / (2 processes x 2) = 2 iterations per process

    # the same checkpoint evaluated by one process (this one, tools/test.py's code) and by two under torchrun
    # (tools/test.py itself; results gathered over gloo) agree
    single, double = tmp_path / "single.json", tmp_path / "double.json"
    evaluate.main([str(DEMO_CONFIG), str(ckpt), "--work-dir", str(tmp_path / "t1"), "--metrics-json", str(single),
                   *common], "detection")
    _run(["bash", str(DET / "dist_test.sh"), str(DEMO_CONFIG), str(ckpt), "2", "--work-dir", str(tmp_path / "t2"),
          "--metrics-json", str(double), *common])
    log = next((tmp_path / "t2").glob("*/*.log")).read_text()
    assert "Distributed launcher: pytorch" in log and "GPU number: 2" in log
    m1, m2 = (json.loads(p.read_text()) for p in (single, double))
    for key in ("coco/bbox_mAP", "coco/bbox_mAP_50", "coco/segm_mAP", "coco/segm_mAP_50"):
        assert key in m1 and 0.0 <= m1[key] <= 1.0
    assert m1 == pytest.approx(m2)
