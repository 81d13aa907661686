"""Classification trainer end to end in subprocesses: 2-process gloo training and evaluation through both
launchers, and a run killed after its first epoch then resumed, compared with an uninterrupted run."""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
MAIN = ROOT / "image_classification" / "main.py"
sys.path.insert(0, str(ROOT / "datasets"))

import make_classification  # noqa: E402

pytestmark = pytest.mark.slow

# a small but complete recipe: RandAugment, random erasing, Mixup/CutMix, repeated augmentation, EMA, drop path
RECIPE = ["--model", "wavemsa_t", "--input-size", "32", "--batch-size", "8", "--device", "cpu",
          "--lr", "1e-3", "--lr-base-size", "0", "--warmup-epochs", "1", "--model-ema-decay", "0.9",
          "--num_workers", "1", "--print-freq", "2"]
LOG_KEYS = {"epoch", "train_loss", "test_loss", "test_acc1", "test_acc5", "lr", "n_parameters"}


def env() -> dict:
    e = dict(os.environ, OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    e.pop("RANK", None), e.pop("WORLD_SIZE", None), e.pop("LOCAL_RANK", None)
    return e


def run(cmd: list[str], timeout: float = 240) -> subprocess.CompletedProcess:
    p = subprocess.run(cmd, cwd=ROOT, env=env(), capture_output=True, text=True, timeout=timeout)
    assert p.returncode == 0, f"{cmd} failed ({p.returncode}):\n{p.stdout[-3000:]}\n{p.stderr[-3000:]}"
    return p


def records(out: Path) -> list[dict]:
    return [json.loads(ln) for ln in (out / "log.txt").read_text().splitlines()]


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("digits") / "digits"
    make_classification.build(out, size=32, train_copies=2, val_copies=1, max_per_class=3)
    return out  # 60 train / 30 val images


def test_two_process_gloo_training_and_evaluation(data, tmp_path):
    data_bad = tmp_path / "data"
    shutil.copytree(data, data_bad)
    for c in range(10):  # one per class: the (seeded, hence fixed) epoch order visits some of them
        (data_bad / "train" / str(c) / f"corrupt_{c}.png").write_bytes(b"\x89PNG truncated")
    (data_bad / "val" / "2" / "corrupt_val.png").write_bytes(b"")
    out = tmp_path / "out"
    p = run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", str(MAIN),
             *RECIPE, "--epochs", "1", "--data-path", str(data_bad), "--output_dir", str(out)])
    text = p.stdout + p.stderr
    assert "rank 0 finished" in text and "rank 1 finished" in text
    # skipped with a warning naming the file, the epoch goes on
    assert f"skipping unreadable image '{data_bad / 'train'}" in text and "corrupt_val.png" in text
    (rec,) = records(out)
    assert LOG_KEYS <= set(rec) and rec["epoch"] == 0
    ckpt = torch.load(out / "checkpoint.pth", weights_only=True)
    assert {"model", "model_ema", "optimizer", "lr_scheduler", "scaler", "epoch", "args", "rng"} <= set(ckpt)
    assert ckpt["epoch"] == 0 and ckpt["args"]["model"] == "wavemsa_t"
    assert (out / "best.pth").is_file() and (out / "curves.png").stat().st_size > 0
    assert any((out / "tensorboard").iterdir())
    assert not list(out.glob(".*.tmp*"))
    # rank 0 alone wrote: every file is accounted for, no second log
    assert {f.name for f in out.iterdir()} == {"args.json", "log.txt", "train.log", "checkpoint.pth", "best.pth",
                                              "curves.png", "tensorboard"}

    # distributed evaluation through the original launcher: every readable val image counted once
    ev2, ev1 = tmp_path / "ev2", tmp_path / "ev1"
    run([sys.executable, "-m", "torch.distributed.launch", "--nproc_per_node=2", "--use_env", str(MAIN), *RECIPE,
         "--data-path", str(data_bad), "--eval", "--resume", str(out / "checkpoint.pth"), "--output_dir", str(ev2)])
    run([sys.executable, str(MAIN), *RECIPE, "--data-path", str(data_bad), "--eval",
         "--resume", str(out / "checkpoint.pth"), "--output_dir", str(ev1)])
    e2, e1 = (json.loads((d / "eval.json").read_text()) for d in (ev2, ev1))
    n_val = len(list((data / "val").rglob("*.png")))
    assert e2["count"] == e1["count"] == n_val
    assert e2["acc1"] == pytest.approx(e1["acc1"]) and e2["loss"] == pytest.approx(e1["loss"], rel=1e-5)
    assert e1["acc1"] == pytest.approx(rec["test_acc1"])


def test_killed_run_resumes_to_the_same_result(data, tmp_path):
    cmd = [sys.executable, str(MAIN), *RECIPE, "--epochs", "2", "--data-path", str(data)]
    straight, killed = tmp_path / "straight", tmp_path / "killed"
    run([*cmd, "--output_dir", str(straight)])

    proc = subprocess.Popen([*cmd, "--output_dir", str(killed)], cwd=ROOT, env=env(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 240
        while not ((killed / "log.txt").exists() and (killed / "log.txt").read_text().strip()):
            assert proc.poll() is None and time.time() < deadline, "first epoch did not finish"
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)  # mid-way through the second epoch
    finally:
        proc.kill()
        proc.wait()
    assert torch.load(killed / "checkpoint.pth", weights_only=True)["epoch"] == 0
    assert len(records(killed)) == 1

    run([*cmd, "--output_dir", str(killed), "--auto-resume"])
    a, b = records(straight), records(killed)
    assert [r["epoch"] for r in b] == [0, 1]
    for key in ("train_loss", "test_loss", "test_acc1", "test_acc5", "lr", "test_loss_ema"):
        assert b[1][key] == pytest.approx(a[1][key], rel=1e-6, abs=1e-8), key
    ca, cb = (torch.load(d / "checkpoint.pth", weights_only=True) for d in (straight, killed))
    for part in ("model", "model_ema"):
        for k, v in ca[part].items():
            torch.testing.assert_close(cb[part][k], v, rtol=1e-5, atol=1e-7, msg=f"{part}.{k}")


def test_ddp_gets_gradients_in_the_layout_of_its_buckets(tmp_path):
    """Conv gradients come back channels_last; the weights are stored that way, so DDP has nothing to copy
    (it warns "Grad strides do not match bucket view strides" otherwise)."""
    import warnings

    import timm
    import torch.distributed as dist

    import wavemsa  # noqa: F401

    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'store'}", rank=0, world_size=1)
    try:
        model = torch.nn.parallel.DistributedDataParallel(timm.create_model("wavemsa_t", num_classes=10))
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            model(torch.randn(2, 3, 32, 32)).sum().backward()
    finally:
        dist.destroy_process_group()
    assert not [w for w in caught if "bucket view strides" in str(w.message)]
