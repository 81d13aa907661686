"""Classification trainer end to end in subprocesses: 2-process gloo training (slurm_train.sh, two srun tasks) and
evaluation (the original's torch.distributed.launch) against one process, this one; runs killed after their first
epoch, resumed, stopped inside the next epoch by a scheduler's SIGUSR1 and resumed again, compared with uninterrupted
runs (one process, and two processes with token labelling under torchrun); bf16 autocast and torch.compile on the
CPU."""
from __future__ import annotations

import json
import math
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
from fake_slurm import fake_srun_env  # noqa: E402
from ports import free_port  # noqa: E402

# a small but complete recipe: RandAugment, random erasing, Mixup/CutMix, repeated augmentation, EMA, drop path
RECIPE = ["--model", "wavemsa_t", "--input-size", "32", "--batch-size", "8", "--device", "cpu",
          "--lr", "1e-3", "--lr-base-size", "0", "--warmup-epochs", "1", "--model-ema", "--model-ema-decay", "0.9",
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


@pytest.mark.slow
def test_two_process_gloo_training_and_evaluation(data, tmp_path):
    data_bad = tmp_path / "data"
    shutil.copytree(data, data_bad)
    for c in range(10):  # one per class: the (seeded, hence fixed) epoch order visits some of them
        (data_bad / "train" / str(c) / f"corrupt_{c}.png").write_bytes(b"\x89PNG truncated")
    (data_bad / "val" / "2" / "corrupt_val.png").write_bytes(b"")
    out = tmp_path / "out"
    # trained by two srun tasks (image_classification/slurm_train.sh; a stand-in srun runs them here); the config
    # names only the model, the options do the rest
    config = tmp_path / "recipe.py"
    config.write_text("model = 'wavemsa_t'\n")
    srun_env = dict(fake_srun_env(tmp_path), GPUS="2", GPUS_PER_NODE="2", MASTER_PORT=free_port(),
                    OMP_NUM_THREADS="1")
    p = subprocess.run(["bash", str(ROOT / "image_classification" / "slurm_train.sh"), "cpu", "cls_train", str(config),
                        *RECIPE, "--epochs", "1", "--data-path", str(data_bad), "--output_dir", str(out)],
                       cwd=ROOT, env=srun_env, capture_output=True, text=True, timeout=240)
    text = p.stdout + p.stderr
    assert p.returncode == 0, text[-4000:]
    assert "world size 2" in text and "rank 0 finished" in text and "rank 1 finished" in text
    # skipped with a warning naming the file, the epoch goes on
    assert f"skipping unreadable image '{data_bad / 'train'}" in text and "corrupt_val.png" in text
    (rec,) = records(out)
    assert LOG_KEYS <= set(rec) and rec["epoch"] == 0
    ckpt = torch.load(out / "checkpoint.pth", weights_only=True)
    assert {"model", "model_ema", "optimizer", "lr_scheduler", "scaler", "epoch", "args", "classes"} <= set(ckpt)
    assert ckpt["epoch"] == 0 and ckpt["args"]["model"] == "wavemsa_t"
    assert (out / "best.pth").is_file() and (out / "curves.png").stat().st_size > 0
    assert any((out / "tensorboard").iterdir())
    assert not list(out.glob(".*.tmp*"))
    # rank 0 alone wrote: every file is accounted for, no second log
    assert {f.name for f in out.iterdir()} == {"args.json", "log.txt", "train.log", "checkpoint.pth", "best.pth",
                                              "curves.png", "tensorboard"}

    # distributed evaluation through the original launcher: every readable val image counted once
    ev2, ev1 = tmp_path / "ev2", tmp_path / "ev1"
    run([sys.executable, "-m", "torch.distributed.launch", "--nproc_per_node=2", f"--master_port={free_port()}",
         "--use_env", str(MAIN), *RECIPE, "--data-path", str(data_bad), "--eval", "--resume",
         str(out / "checkpoint.pth"), "--output_dir", str(ev2)])
    from image_classification import main as ic_main  # one process: this one

    ic_main.main([*RECIPE, "--data-path", str(data_bad), "--eval", "--resume", str(out / "checkpoint.pth"),
                  "--output_dir", str(ev1)])
    e2, e1 = (json.loads((d / "eval.json").read_text()) for d in (ev2, ev1))
    n_val = len(list((data / "val").rglob("*.png")))
    assert e2["count"] == e1["count"] == n_val
    assert e2["acc1"] == pytest.approx(e1["acc1"]) and e2["loss"] == pytest.approx(e1["loss"], rel=1e-5)
    assert e1["acc1"] == pytest.approx(rec["test_acc1"])


def kill_after_first_epoch(cmd: list[str], out: Path) -> None:
    """Start ``cmd`` writing to ``out`` and SIGKILL it (all its processes) once epoch 0 is logged."""
    proc = subprocess.Popen([*cmd, "--output_dir", str(out)], cwd=ROOT, env=env(), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.time() + 300
        while not ((out / "log.txt").exists() and (out / "log.txt").read_text().strip()):
            assert proc.poll() is None and time.time() < deadline, "first epoch did not finish"
            time.sleep(0.02)
    finally:
        kill_run(proc)  # mid-way through the second epoch
    assert torch.load(out / "checkpoint.pth", weights_only=True)["epoch"] == 0
    assert len(records(out)) == 1


def assert_same_run(straight: Path, resumed: Path, keys: tuple[str, ...], parts: tuple[str, ...]) -> None:
    a, b = records(straight), records(resumed)
    assert [r["epoch"] for r in b] == [r["epoch"] for r in a] == [0, 1]
    for key in keys:
        assert b[1][key] == pytest.approx(a[1][key], rel=1e-6, abs=1e-8), key
    ca, cb = (torch.load(d / "checkpoint.pth", weights_only=True) for d in (straight, resumed))
    for part in parts:
        for k, v in ca[part].items():
            torch.testing.assert_close(cb[part][k], v, rtol=1e-5, atol=1e-7, msg=f"{part}.{k}")


def kill_run(proc: subprocess.Popen) -> None:
    """SIGKILL a run started as the leader of its own process group, as a node failure would: torchrun's workers
    first (torchrun puts each in a process group of its own, out of reach of a signal to the launcher's group; it
    reaps them), then the process group of the trainer or launcher."""
    workers = []
    for pid in child_pids(proc.pid):
        try:
            if os.getpgid(pid) != proc.pid:
                os.kill(pid, signal.SIGKILL)
                workers.append(pid)
        except ProcessLookupError:
            continue
    deadline = time.time() + 30
    while any(Path(f"/proc/{pid}").exists() for pid in workers) and time.time() < deadline:
        time.sleep(0.02)
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()


def child_pids(parent: int) -> list[int]:
    """The processes whose parent is ``parent``."""
    pids = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == parent:
                pids.append(int(entry.name))
        except (OSError, IndexError, ValueError):
            continue
    return pids


def worker_pid(launcher: subprocess.Popen, rank: int) -> int:
    """The pid of the worker of ``rank`` that torchrun (``launcher``) started."""
    for pid in child_pids(launcher.pid):
        try:
            if f"RANK={rank}".encode() in Path(f"/proc/{pid}/environ").read_bytes().split(b"\0"):
                return pid
        except OSError:
            continue
    raise AssertionError(f"no worker of rank {rank} under pid {launcher.pid}")


def stop_inside_epoch(cmd: list[str], out: Path, marker: str, rank: int | None = None) -> tuple[dict, int, str]:
    """Start ``cmd`` writing to ``out``, send SIGUSR1 (a cluster scheduler's warning) once its output shows
    ``marker`` (to the worker of ``rank`` under a launcher, else to the trainer) and check that it stopped inside
    the epoch with its checkpoint and one line; returns the checkpoint's position, the exit status and the output."""
    proc = subprocess.Popen([*cmd, "--output_dir", str(out), "--print-freq", "1"], cwd=ROOT, env=env(),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    lines, sent = [], False
    try:
        for line in proc.stdout:
            lines.append(line)
            if marker in line and not sent:
                os.kill(proc.pid if rank is None else worker_pid(proc, rank), signal.SIGUSR1)
                sent = True
        proc.wait(timeout=300)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    output = "".join(lines)
    assert sent, output[-3000:]
    position = torch.load(out / "checkpoint.pth", weights_only=True)["position"]
    assert position["epoch"] == 1 and 0 < position["step"] < position["steps"], output[-3000:]
    assert (f"main.py: training interrupted by SIGUSR1 at epoch 1, step {position['step']} of {position['steps']}: "
            f"{out / 'checkpoint.pth'} holds the run up to there") in output, output[-3000:]
    assert "Traceback" not in output, output[-3000:]
    return position, proc.returncode, output


@pytest.mark.slow
def test_killed_run_resumes_to_the_same_result(data, tmp_path):
    """Killed (SIGKILL) after epoch 0, resumed with --auto-resume from that epoch's end, the resumed run stopped
    inside epoch 1 by SIGUSR1 and resumed again from that step: the run ends with the weights and figures of an
    uninterrupted one."""
    from image_classification import main as ic_main

    options = [*RECIPE, "--epochs", "2", "--data-path", str(data)]
    cmd = [sys.executable, str(MAIN), *options]
    straight, interrupted = tmp_path / "straight", tmp_path / "interrupted"
    torch.set_num_threads(1)  # as the processes (OMP_NUM_THREADS=1): the runs here are those of one process too
    ic_main.main([*options, "--output_dir", str(straight)])  # in this process, as the last resume
    kill_after_first_epoch(cmd, interrupted)
    position, code, _ = stop_inside_epoch([*cmd, "--auto-resume"], interrupted, "epoch 1 [3/7]")
    assert code == 128 + signal.SIGUSR1 and position["world_size"] == 1 and len(position["ranks"]) == 1
    assert [r["epoch"] for r in records(interrupted)] == [0]
    ic_main.main([*options, "--output_dir", str(interrupted), "--auto-resume"])
    keys = ("train_loss", "test_loss", "test_acc1", "test_acc5", "lr", "test_loss_ema")
    assert_same_run(straight, interrupted, keys, ("model", "model_ema"))


@pytest.fixture(scope="session")
def token_data(tmp_path_factory) -> tuple[Path, Path]:
    """20 train / 10 val digits and their 2 x 2 label maps from a (random) WaveFormer-T teacher, made by
    make_token_labels.py under torchrun with two processes. Built once per test process: the slow tests run
    first, with tests of other files between the two that use it, which would end a module-scoped fixture."""
    root = tmp_path_factory.mktemp("tl")
    make_classification.build(root / "data", size=32, train_copies=2, val_copies=1, max_per_class=1)
    import timm

    import wavemsa  # noqa: F401

    torch.manual_seed(0)
    torch.save({"model": timm.create_model("wavemsa_t", num_classes=10).state_dict()}, root / "teacher.pth")
    p = run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
             str(ROOT / "image_classification" / "make_token_labels.py"), str(root / "data" / "train"),
             str(root / "labels"), "--teacher", "wavemsa_t", "--teacher-checkpoint", str(root / "teacher.pth"),
             "--img-size", "64", "--topk", "5", "--device", "cpu", "--workers", "0"])
    assert "wrote 20 label maps (grid 2x2, top-5)" in p.stdout
    assert len(list((root / "labels").rglob("*.pt"))) == 20
    return root / "data", root / "labels"


@pytest.mark.slow
@pytest.mark.xdist_group("token_data")  # one worker builds the shared token_data
def test_two_process_token_labelling_run_finishes_and_resumes_to_the_same_result(token_data, tmp_path):
    """Token labelling (MixToken, label maps, aux head) under 2-process gloo DDP: stopped inside epoch 1 by a
    SIGUSR1 that reaches rank 1 only (both ranks stop at the same step, rank 0 saves each rank's state; launched by
    python -m wavemsa.torchrun, which ends with the workers' status and one line) and resumed, the run ends where an
    uninterrupted 2-process run ends. (A killed run's resume from its last epoch: test_killed_run_resumes_...)"""
    data, labels = token_data
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", str(MAIN),
           "--model", "wavemsa_t", "--input-size", "64", "--batch-size", "2", "--device", "cpu", "--epochs", "2",
           "--lr", "1e-3", "--lr-base-size", "0", "--warmup-epochs", "1", "--num_workers", "1",
           "--data-path", str(data), "--token-label", "--token-label-data", str(labels), "--token-label-size", "2",
           "--train-interpolation", "random", "--no-repeated-aug", "--model-ema", "--model-ema-decay", "0.9"]
    straight, interrupted = tmp_path / "straight", tmp_path / "interrupted"
    p = run([*cmd, "--output_dir", str(straight)], timeout=400)
    assert "rank 0 finished" in p.stdout + p.stderr and "rank 1 finished" in p.stdout + p.stderr
    ckpt = torch.load(straight / "checkpoint.pth", weights_only=True)
    assert {"aux_head.weight", "head.weight"} <= set(ckpt["model"]) and not any(
        k.startswith(("module.", "model.")) for k in ckpt["model"])  # the plain model's keys
    assert all(r["test_count"] == 10 for r in records(straight))
    launcher = cmd.index("torch.distributed.run")
    position, code, output = stop_inside_epoch([*cmd[:launcher], "wavemsa.torchrun", *cmd[launcher + 1:],
                                                "--auto-resume"], interrupted, "epoch 1 [2/5]", rank=1)
    assert position["world_size"] == 2 and len(position["ranks"]) == 2
    assert code == 138 and "torchrun: the workers interrupted (SIGUSR1), exit status 138" in output
    run([*cmd, "--output_dir", str(interrupted), "--auto-resume"], timeout=400)
    keys = ("train_loss", "test_loss", "test_acc1", "lr", "test_loss_ema")
    assert_same_run(straight, interrupted, keys, ("model", "model_ema"))


def test_bf16_autocast_trains_on_the_cpu_and_resumes(tmp_path):
    """--amp bf16 on the CPU: finite losses that go down over a few steps on a fixed small set, and a
    checkpoint that resumes (the next epoch continues from the trained weights, not from scratch)."""
    from image_classification import main as ic_main

    data = tmp_path / "data"
    make_classification.build(data, size=32, train_copies=1, val_copies=1, max_per_class=1)
    argv = ["--model", "wavemsa_t", "--data-path", str(data), "--input-size", "32", "--batch-size", "5",
            "--device", "cpu", "--amp", "bf16", "--lr", "2e-3", "--lr-base-size", "0", "--warmup-epochs", "0",
            "--min-lr", "2e-3", "--aa", "", "--reprob", "0", "--scale", "1", "1", "--hflip", "0", "--smoothing", "0",
            "--mixup", "0", "--cutmix", "0", "--no-repeated-aug", "--num_workers", "0", "--drop-path", "0",
            "--output_dir", str(tmp_path / "out")]
    ic_main.main([*argv, "--epochs", "3"])  # constant lr (min-lr = lr): more epochs do not change it
    first = records(tmp_path / "out")
    losses = [r["train_loss"] for r in first]
    assert all(map(math.isfinite, losses)) and losses[-1] < 0.6 * losses[0], losses
    ic_main.main([*argv, "--epochs", "4", "--auto-resume", "--allow-changed-options"])  # a longer schedule
    after = records(tmp_path / "out")
    assert [r["epoch"] for r in after] == list(range(4)) and after[:3] == first
    assert math.isfinite(after[3]["train_loss"]) and after[3]["train_loss"] < 0.6 * losses[0]


@pytest.mark.slow
@pytest.mark.xdist_group("token_data")  # one worker builds the shared token_data
def test_compiled_training_step_gives_the_eager_loss(token_data, tmp_path):
    """--compile runs the token-labelling training step (MixToken boxes outside the graphs) with the eager losses,
    within float tolerance. The aot_eager backend traces the forward and backward graphs that inductor compiles
    and runs them on aten's kernels: inductor's own code generation would add a C++ build per kernel, the longest
    part of the suite on 2 cores (its results are compared with eager ones by tools/benchmark.py's compiled rows)."""
    from image_classification import main as ic_main

    data, labels = token_data
    # two steps of 10 images: the second runs on the weights the first updated; each new MixToken box is another
    # graph to compile, so more steps add compile time only
    argv = ["--model", "wavemsa_t", "--data-path", str(data), "--input-size", "64", "--batch-size", "10",
            "--device", "cpu", "--epochs", "1", "--lr", "1e-3", "--lr-base-size", "0", "--warmup-epochs", "0",
            "--num_workers", "0", "--token-label", "--token-label-data", str(labels), "--no-repeated-aug"]
    ic_main.main([*argv, "--output_dir", str(tmp_path / "eager")])
    ic_main.main([*argv, "--output_dir", str(tmp_path / "compiled"), "--compile", "--compile-backend", "aot_eager"])
    (eager,), (compiled,) = records(tmp_path / "eager"), records(tmp_path / "compiled")
    # the losses of the training steps and of the trained models (the weights themselves are not compared:
    # AdamW's first steps move a weight by about lr whatever the size of its gradient, so float noise in a
    # near-zero gradient can move it either way)
    for key in ("train_loss", "test_loss", "test_acc1"):
        assert compiled[key] == pytest.approx(eager[key], rel=1e-4, abs=1e-5), key


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
