"""Detection and segmentation trainings that cannot step on each other and stop cleanly (wavemsa/mm/stops.py, the
work dir's lock of wavemsa/mm/train.py): SIGUSR1 / SIGINT / SIGTERM mid-training end with one line, exit status
128 + the signal and a checkpoint at that iteration, from which --resume continues to the weights of an
uninterrupted run (the segmentation demo: iteration-based; the detection demo: epoch-based, stopped mid-epoch); a
second training on one work dir is refused; an evaluation ends at once; as a user starts them (a subprocess, a
loader worker, Ctrl-C to the process group) and under dist_train.sh with two gloo processes.

In-process runs are stopped by a real signal that a hook of this module sends after a chosen iteration (the stop
then lands on a known iteration); the subprocess runs are signalled when their log shows an iteration."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
from functools import partial
from pathlib import Path

import pytest
import torch

pytest.importorskip("mmseg", reason="the OpenMMLab stack is installed by `make install-mm`")

from mmengine.config import Config  # noqa: E402
from mmengine.hooks import Hook  # noqa: E402
from mmengine.registry import HOOKS  # noqa: E402
from mmengine.runner import Runner  # noqa: E402
from ports import free_port  # noqa: E402
from test_classification_runs import run_until as run_cmd_until  # noqa: E402
from test_segmentation import REPO, SEG, make_ade20k, small_config  # noqa: E402

from wavemsa.errors import InputError, Interrupted, run_main  # noqa: E402
from wavemsa.mm import evaluate, train  # noqa: E402
from wavemsa.mm.stops import POSITION_KEY, StopOnSignalHook, enable_stops, leave_signals_to_parent  # noqa: E402
from wavemsa.runs import LOCK_NAME, Interruption, process_start  # noqa: E402

DET = REPO / "object_detection"
DET_DEMO = DET / "configs" / "demo" / "mask_rcnn_wavemsa_t_fpn_digits.py"
SEG_DEMO = SEG / "configs" / "demo" / "upernet_wavemsa_t_128x128_digits.py"
SEG_ITERS = 4
DET_EPOCHS, DET_STEPS, DET_BATCH = 2, 2, 2  # 4 training images in batches of 2
SEEN: dict[str, dict] = {}  # what SignalAfter saw when it sent its signal


@HOOKS.register_module(force=True)
class SignalAfter(Hook):
    """Sends ``signum`` to this process after training iteration ``iteration`` (1-based; 0: before training) or
    test iteration ``test_iteration``, noting the work dir's lock at that moment."""

    priority = "NORMAL"  # before StopOnSignalHook

    def __init__(self, signum: int, iteration: int = -1, test_iteration: int = -1) -> None:
        self.signum, self.iteration, self.test_iteration = signum, iteration, test_iteration

    def _send(self, runner) -> None:
        lock = Path(runner.work_dir) / LOCK_NAME
        SEEN["lock"] = json.loads(lock.read_text()) if lock.exists() else {}
        os.kill(os.getpid(), self.signum)

    def before_train(self, runner) -> None:
        if self.iteration == 0:
            self._send(runner)

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None) -> None:
        if runner.iter + 1 == self.iteration:
            self._send(runner)

    def after_test_iter(self, runner, batch_idx, data_batch=None, outputs=None) -> None:
        if batch_idx + 1 == self.test_iteration:
            self._send(runner)


def weights(path: Path) -> dict[str, torch.Tensor]:
    return torch.load(path, map_location="cpu", weights_only=True)["state_dict"]


def assert_same_weights(a: Path, b: Path) -> None:
    wa, wb = weights(a), weights(b)
    assert wa.keys() == wb.keys()
    differing = [k for k in wa if not torch.equal(wa[k], wb[k])]
    assert not differing, f"{len(differing)} of {len(wa)} tensors differ, e.g. {differing[:3]}"


def with_hook(config: Path, out: Path, **hook) -> Path:
    """``config`` plus a SignalAfter hook, dumped to ``out``."""
    cfg = Config.fromfile(str(config))
    cfg.custom_hooks = [*cfg.get("custom_hooks", []), dict(type="SignalAfter", **hook)]
    cfg.dump(str(out))
    return out


def last_line(err: str) -> str:
    return err.strip().splitlines()[-1]


# ---------------------------------------------------------------------------------------------- segmentation

@pytest.fixture(scope="module")
def ade_root(tmp_path_factory) -> Path:
    return make_ade20k.build(tmp_path_factory.mktemp("seg") / "ADEChallengeData2016", num_train=8, num_val=4,
                             size=64, max_objects=3, seed=0)


@pytest.fixture(scope="module")
def seg_config(ade_root, tmp_path_factory) -> Path:
    """The segmentation demo, small (tiny backbone, 64x64 crops, batch 2, no loader workers), SEG_ITERS iterations
    under a warm-up whose learning rate changes every iteration, no validation during training; its random
    pipeline (resize, crop, colour) and model (drop path, dropout) draw from the main process's generators."""
    folder = tmp_path_factory.mktemp("seg_config")
    cfg = Config.fromfile(str(small_config(SEG_DEMO, ade_root, folder)))
    cfg.train_cfg.update(max_iters=SEG_ITERS, val_begin=1000)
    cfg.param_scheduler = [dict(type="LinearLR", start_factor=0.1, by_epoch=False, begin=0, end=SEG_ITERS)]
    cfg.dump(str(folder / "seg.py"))
    return folder / "seg.py"


@pytest.fixture(scope="module")
def seg_whole(seg_config, tmp_path_factory) -> Path:
    """The uninterrupted run's work dir."""
    work = tmp_path_factory.mktemp("seg_whole")
    train.main([str(seg_config), "--work-dir", str(work)], "segmentation")
    return work


def train_seg(argv: list[str]) -> int:
    return run_main(partial(train.main, task="segmentation"), argv, prog="train.py")


@pytest.mark.slow
@pytest.mark.xdist_group("seg_whole")  # one worker builds the shared seg_whole
def test_a_segmentation_training_stopped_by_sigusr1_resumes_to_the_uninterrupted_weights(seg_config, seg_whole,
                                                                                          tmp_path, capsys):
    """Stopped after iteration 2 of 4: one line naming the checkpoint and --resume, exit status 138, the work dir
    locked while it ran and free after; the checkpoint holds iteration 2 and the generators; --resume trains
    iterations 3-4 to bit-identical weights (data order, augmentations, drop path and the schedule as in one run)."""
    work = tmp_path / "work"
    stopping = with_hook(seg_config, tmp_path / "stopping.py", signum=signal.SIGUSR1, iteration=2)
    capsys.readouterr()
    assert train_seg([str(stopping), "--work-dir", str(work)]) == 128 + signal.SIGUSR1
    err = capsys.readouterr().err
    ckpt = work / "iter_2.pth"
    assert last_line(err) == (f"train.py: training interrupted by SIGUSR1 at iteration 2 of {SEG_ITERS}: {ckpt} "
                              "holds the run up to there; to continue, run the same command with --resume"), err
    assert "Traceback" not in err
    assert SEEN["lock"]["pid"] == os.getpid() and SEEN["lock"]["what"] == "training"
    assert not (work / LOCK_NAME).exists()
    saved = torch.load(ckpt, map_location="cpu", weights_only=True)
    assert saved["meta"]["iter"] == 2 and (work / "last_checkpoint").read_text() == str(ckpt)
    position = saved["message_hub"]["runtime_info"][POSITION_KEY]
    assert len(position["rng"]) == 1 and set(position["rng"][0]) >= {"python", "numpy", "torch"}

    assert train_seg([str(stopping), "--work-dir", str(work), "--resume"]) == 0
    log = (next(p for p in sorted(work.glob("*/*.log")) if "resumed epoch: 0, iter: 2" in p.read_text())).read_text()
    assert f"Iter(train) [3/{SEG_ITERS}]" in log and f"Iter(train) [1/{SEG_ITERS}]" not in log
    assert_same_weights(work / f"iter_{SEG_ITERS}.pth", seg_whole / f"iter_{SEG_ITERS}.pth")
    assert not ckpt.exists()  # max_keep_ckpts=1 of the config counted the stop's checkpoint
    final = torch.load(work / f"iter_{SEG_ITERS}.pth", map_location="cpu", weights_only=True)
    assert POSITION_KEY not in final["message_hub"]["runtime_info"]  # used once, not carried on


@pytest.mark.slow
def test_the_resume_is_exact_with_a_loader_worker_drawing_the_augmentations_too(seg_config, tmp_path):
    """With a persistent loader worker the random pipeline runs in the worker, seeded by mmengine: the resumed run
    replays its stream over the skipped batches and ends with the uninterrupted run's weights as well."""
    cfg = Config.fromfile(str(seg_config))
    cfg.train_dataloader.update(num_workers=1, persistent_workers=True)
    cfg.dump(str(tmp_path / "seg.py"))
    stopping = with_hook(tmp_path / "seg.py", tmp_path / "stopping.py", signum=signal.SIGUSR1, iteration=2)
    assert train_seg([str(tmp_path / "seg.py"), "--work-dir", str(tmp_path / "whole")]) == 0
    assert train_seg([str(stopping), "--work-dir", str(tmp_path / "work")]) == 128 + signal.SIGUSR1
    assert train_seg([str(stopping), "--work-dir", str(tmp_path / "work"), "--resume"]) == 0
    assert_same_weights(tmp_path / "work" / f"iter_{SEG_ITERS}.pth", tmp_path / "whole" / f"iter_{SEG_ITERS}.pth")


@pytest.fixture
def locked_work_dir(tmp_path):
    """A work dir that a live training holds (its lock names a sleeping process of this machine)."""
    work = tmp_path / "locked"
    work.mkdir()
    owner = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    (work / LOCK_NAME).write_text(json.dumps({"pid": owner.pid, "host": socket.gethostname(),
                                              "process_start": process_start(owner.pid), "what": "training",
                                              "started": "2026-12-03T10:00:00+00:00",
                                              "command": "train.py seg.py --work-dir locked"}))
    yield work, owner.pid
    owner.kill()
    owner.wait()


def test_a_second_training_on_one_work_dir_is_refused(seg_config, locked_work_dir, capsys):
    """One line naming the training that holds it, before any runner is built; the owner's lock stays."""
    work, pid = locked_work_dir
    capsys.readouterr()
    assert train_seg([str(seg_config), "--work-dir", str(work)]) == 2
    err = capsys.readouterr().err
    assert err == (f"train.py: error: '{work}' is in use by another training (pid {pid} on this machine, "
                   "started 2026-12-03T10:00:00+00:00: train.py seg.py --work-dir locked); wait for it to end or "
                   f"use another --work-dir. If that run is known to have ended, remove '{work / LOCK_NAME}'\n")
    assert sorted(p.name for p in work.iterdir()) == [LOCK_NAME]
    assert json.loads((work / LOCK_NAME).read_text())["pid"] == pid


@pytest.mark.slow
@pytest.mark.xdist_group("seg_whole")  # one worker builds the shared seg_whole
def test_testing_takes_no_lock_and_ends_at_once_on_a_signal(seg_config, seg_whole, locked_work_dir, tmp_path,
                                                            capsys):
    """tools/test.py evaluates into the work dir of a running training (it takes no lock); on a signal it ends at
    once with one line and exit status 128 + the signal, no metrics written."""
    work, pid = locked_work_dir
    ckpt = str(seg_whole / f"iter_{SEG_ITERS}.pth")
    metrics = evaluate.main([str(seg_config), ckpt, "--work-dir", str(work)], "segmentation")
    assert json.loads((work / "metrics.json").read_text()) == metrics
    assert json.loads((work / LOCK_NAME).read_text())["pid"] == pid

    stopping = with_hook(seg_config, tmp_path / "stopping.py", signum=signal.SIGTERM, test_iteration=1)
    capsys.readouterr()
    code = run_main(partial(evaluate.main, task="segmentation"),
                    [str(stopping), ckpt, "--work-dir", str(tmp_path / "t")], prog="test.py")
    err = capsys.readouterr().err
    assert code == 128 + signal.SIGTERM
    assert err == "test.py: evaluation interrupted by SIGTERM; no metrics were written\n"
    assert not (tmp_path / "t" / "metrics.json").exists()


def test_a_signal_before_training_began_stops_there(seg_config, tmp_path, capsys):
    stopping = with_hook(seg_config, tmp_path / "stopping.py", signum=signal.SIGINT, iteration=0)
    capsys.readouterr()
    assert train_seg([str(stopping), "--work-dir", str(tmp_path / "w")]) == 128 + signal.SIGINT
    err = capsys.readouterr().err
    assert last_line(err) == "train.py: training interrupted by SIGINT before training began; nothing was saved"
    assert not list((tmp_path / "w").glob("*.pth"))


def run_until(cmd: list[str], marker: str, signum: int, group: bool) -> tuple[int, str, str]:
    """:func:`test_classification_runs.run_until` (the environment of a user's shell, one thread): the exit status,
    stdout and stderr."""
    with tempfile.TemporaryFile("w+") as err_file:
        proc, out = run_cmd_until(cmd, marker, signum, group, err_file)
        err_file.seek(0)
        return proc.returncode, out, err_file.read()


def test_ctrl_c_to_a_training_with_a_loader_worker_is_one_line(seg_config, tmp_path):
    """As a user runs it: tools/train.py with a persistent loader worker, Ctrl-C to the whole process group. The
    worker leaves the signal to the trainer, which ends the iteration under way, saves and exits 130 with one
    line; no traceback, no worker error."""
    work = tmp_path / "work"
    cmd = [sys.executable, str(SEG / "tools" / "train.py"), str(seg_config), "--work-dir", str(work),
           "--cfg-options", "train_dataloader.num_workers=1", "train_dataloader.persistent_workers=True",
           "train_cfg.max_iters=50"]
    code, out, err = run_until(cmd, "Iter(train) [ 1/50]", signal.SIGINT, True)
    assert code == 130, out[-2000:] + err[-3000:]
    assert "Traceback" not in out + err and "DataLoader worker" not in out + err, err[-3000:]
    step = torch.load(Path((work / "last_checkpoint").read_text()), weights_only=True)["meta"]["iter"]
    assert last_line(err) == (f"train.py: training interrupted by SIGINT at iteration {step} of 50: "
                              f"{work / f'iter_{step}.pth'} holds the run up to there; to continue, run the same "
                              "command with --resume"), err[-2000:]
    assert err.count("training will stop after the current step") == 1  # the trainer's, none from the worker


@pytest.mark.slow
def test_sigusr1_to_dist_train_stops_two_processes_at_one_iteration_and_resumes(seg_config, tmp_path, monkeypatch):
    """dist_train.sh (python -m wavemsa.torchrun, two gloo processes): SIGUSR1 to the launcher reaches both
    workers, which stop after the same iteration; rank 0's line and the launcher's end the output, exit status
    138; the checkpoint holds both ranks' generators; dist_train.sh --resume trains on to the end."""
    work = tmp_path / "work"
    iters = 6
    dist = [str(SEG / "tools" / "dist_train.sh"), str(seg_config), "2", "--work-dir", str(work), "--cfg-options",
            f"train_cfg.max_iters={iters}", "default_hooks.logger.interval=1"]
    monkeypatch.setenv("PYTHON", sys.executable)
    monkeypatch.setenv("PORT", free_port())
    code, out, err = run_until(dist, f"Iter(train) [1/{iters}]", signal.SIGUSR1, False)
    assert code == 128 + signal.SIGUSR1, out[-2000:] + err[-4000:]
    assert "Traceback" not in out + err, err[-4000:]
    ckpt = Path((work / "last_checkpoint").read_text())
    saved = torch.load(ckpt, map_location="cpu", weights_only=True)
    step = saved["meta"]["iter"]
    assert 1 <= step < iters and ckpt == work / f"iter_{step}.pth"
    assert len(saved["message_hub"]["runtime_info"][POSITION_KEY]["rng"]) == 2
    lines = err.strip().splitlines()
    assert lines[-1] == "torchrun: SIGUSR1 passed on to the workers; the launcher stopped", err[-3000:]
    assert f"train.py: training interrupted by SIGUSR1 at iteration {step} of {iters}: {ckpt} holds the run up " \
           "to there; to continue, run the same command with --resume" in lines
    assert not (work / LOCK_NAME).exists()

    proc = subprocess.run(["bash", *dist, "--resume"], cwd=REPO, env=dict(os.environ, PORT=free_port(),
                          OMP_NUM_THREADS="1"), capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    log = sorted(work.glob("*/*.log"))[-1].read_text()
    assert f"resumed epoch: 0, iter: {step}" in log and f"Iter(train) [{iters}/{iters}]" in log
    assert f"Iter(train) [{step}/{iters}]" not in log and (work / f"iter_{iters}.pth").is_file()


# ---------------------------------------------------------------------------------------------- detection

@pytest.fixture(scope="module")
def coco(tmp_path_factory) -> Path:
    sys.path.insert(0, str(REPO / "datasets"))
    from make_coco import make_coco

    out = tmp_path_factory.mktemp("coco")
    make_coco(out, num_train=DET_BATCH * DET_STEPS, num_val=4, seed=3, min_size=96, max_size=128, max_objects=3)
    return out


@pytest.fixture(scope="module")
def det_config(coco, tmp_path_factory) -> Path:
    """The detection demo, small: DET_EPOCHS epochs of DET_STEPS steps of DET_BATCH images, no loader workers, no
    validation during training."""
    folder = tmp_path_factory.mktemp("det_config")
    cfg = Config.fromfile(str(DET_DEMO))
    cfg.train_cfg.update(max_epochs=DET_EPOCHS, val_begin=1000)
    cfg.train_dataloader.update(batch_size=DET_BATCH, num_workers=0, persistent_workers=False)
    cfg.val_dataloader.update(num_workers=0, persistent_workers=False)
    cfg.test_dataloader = cfg.val_dataloader
    cfg.default_hooks.logger.interval = 1
    cfg.param_scheduler[0].end = 2
    cfg.dump(str(folder / "det.py"))
    return folder / "det.py"


def train_det(argv: list[str]) -> int:
    return run_main(partial(train.main, task="detection"), argv, prog="train.py")


@pytest.mark.slow
def test_a_detection_training_stopped_mid_epoch_resumes_at_that_step(det_config, coco, tmp_path, capsys):
    """Epoch-based: stopped by SIGTERM after step 1 of epoch 2. The checkpoint holds that iteration; --resume
    continues epoch 2 at step 2 (the log's batch indices go on) and ends with the weights of an uninterrupted run.
    Resumed by mmengine's own EpochBasedTrainLoop (a runner built as MMDetection's tools/train.py builds it), that
    checkpoint is refused: the loop would train the epoch's first step twice."""
    data = ["--data-root", str(coco)]
    whole = tmp_path / "whole"
    assert train_det([str(det_config), "--work-dir", str(whole), *data]) == 0
    work = tmp_path / "work"
    stopping = with_hook(det_config, tmp_path / "stopping.py", signum=signal.SIGTERM, iteration=DET_STEPS + 1)
    capsys.readouterr()
    assert train_det([str(stopping), "--work-dir", str(work), *data]) == 128 + signal.SIGTERM
    err = capsys.readouterr().err
    ckpt = work / f"iter_{DET_STEPS + 1}.pth"
    assert last_line(err) == (f"train.py: training interrupted by SIGTERM at epoch 2 of {DET_EPOCHS}, step 1 of "
                              f"{DET_STEPS}: {ckpt} holds the run up to there; to continue, run the same command "
                              "with --resume"), err
    meta = torch.load(ckpt, map_location="cpu", weights_only=True)["meta"]
    assert (meta["epoch"], meta["iter"]) == (1, DET_STEPS + 1)

    cfg = Config.fromfile(str(det_config))  # as mmdet's tools/train.py: plain loop, the project's hooks
    cfg.update(work_dir=str(work), resume=True, launcher="none")
    cfg.train_cfg.type = "EpochBasedTrainLoop"
    from wavemsa.mm.config import set_data_root

    set_data_root(cfg, str(coco))
    with pytest.raises(InputError, match=rf"{ckpt}: the run stopped at step 1 of {DET_STEPS} of epoch 2; "
                                         "EpochBasedTrainLoop can only continue from the end of an epoch"):
        Runner.from_cfg(cfg).train()

    assert train_det([str(stopping), "--work-dir", str(work), *data, "--resume"]) == 0
    log = sorted(work.glob("*/*.log"))[-1].read_text()
    assert f"Epoch(train) [2][2/{DET_STEPS}]" in log and "Epoch(train) [2][1/" not in log
    assert "Epoch(train) [1]" not in log
    assert_same_weights(work / f"epoch_{DET_EPOCHS}.pth", whole / f"epoch_{DET_EPOCHS}.pth")


def test_mmengines_epoch_loop_stops_without_a_mid_epoch_checkpoint(det_config, coco, tmp_path):
    """A runner with mmengine's own EpochBasedTrainLoop (a config that does not name the resumable one, run by
    MMDetection's tools/train.py): the hook installs the handlers itself, and a stop mid-epoch saves nothing the
    loop could not continue; it says so."""
    cfg = Config.fromfile(str(with_hook(det_config, tmp_path / "stopping.py", signum=signal.SIGUSR1, iteration=1)))
    cfg.update(work_dir=str(tmp_path / "work"), launcher="none")
    cfg.train_cfg.type = "EpochBasedTrainLoop"
    from wavemsa.mm.config import set_data_root

    set_data_root(cfg, str(coco))
    assert Interruption.current() is None
    with pytest.raises(Interrupted, match=rf"training interrupted by SIGUSR1 at epoch 1 of {DET_EPOCHS}, step 1 "
                                          rf"of {DET_STEPS}; EpochBasedTrainLoop continues only from the end of an "
                                          r"epoch, so nothing was saved: no checkpoint was written; run again to "
                                          r"start over"):
        Runner.from_cfg(cfg).train()
    assert not list((tmp_path / "work").glob("*.pth"))
    left = Interruption.current()  # the hook's own block: the next run's hook replaces it
    assert left is not None and left.signum == signal.SIGUSR1
    hook = StopOnSignalHook()
    fresh = hook._interruption("training", graceful=True)
    assert fresh is not left and Interruption.current() is fresh and fresh.signum is None
    hook._release()
    assert Interruption.current() is None


# ---------------------------------------------------------------------------------------------- parts

def test_configs_and_the_tools_runners_get_the_hook_and_the_resumable_loops():
    configs = [*sorted((DET / "configs" / "wavemsa").glob("*.py")), DET_DEMO,
               *sorted((SEG / "configs" / "wavemsa").glob("*.py")), SEG_DEMO]
    for path in configs:
        cfg = Config.fromfile(str(path))
        assert [h["type"] for h in cfg.custom_hooks].count("StopOnSignalHook") == 1, path
        assert cfg.train_cfg.type == ("ResumableEpochBasedTrainLoop" if path.is_relative_to(DET)
                                      else "ResumableIterBasedTrainLoop"), path
    cfg = Config(dict(custom_hooks=[dict(type="CheckpointFitHook")], train_cfg=dict(by_epoch=True, max_epochs=2)))
    enable_stops(cfg)
    enable_stops(cfg)
    assert [h["type"] for h in cfg.custom_hooks] == ["CheckpointFitHook", "StopOnSignalHook"]
    assert cfg.train_cfg == dict(type="ResumableEpochBasedTrainLoop", max_epochs=2)
    cfg = Config(dict(custom_hooks=[dict(type=StopOnSignalHook)], train_cfg=dict(type="IterBasedTrainLoop")))
    enable_stops(cfg)
    assert len(cfg.custom_hooks) == 1 and cfg.train_cfg.type == "ResumableIterBasedTrainLoop"
    cfg = Config(dict(train_cfg=dict(type="MyLoop")))
    enable_stops(cfg)
    assert cfg.train_cfg.type == "MyLoop"


class _Signalled(torch.utils.data.Dataset):
    """Item i: whether SIGINT and SIGUSR1 are ignored and the loader's own worker_init_fn ran; the worker first
    sends itself SIGINT, SIGTERM and SIGUSR1 (as a Ctrl-C or a scheduler's signal to every process would)."""

    def __len__(self) -> int:
        return 3

    def __getitem__(self, i: int):
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGUSR1):
            os.kill(os.getpid(), sig)
        return [signal.getsignal(s) == signal.SIG_IGN for s in (signal.SIGINT, signal.SIGUSR1)], os.environ.get(
            "WAVEMSA_TEST_INIT", "")


def _mark_init(worker_id: int) -> None:
    os.environ["WAVEMSA_TEST_INIT"] = f"init {worker_id}"


def test_loader_workers_leave_the_stop_signals_to_their_parent():
    """The workers outlive the signals (torch's worker dies on a SIGTERM, and the loader raises); the loader's own
    worker_init_fn (mmengine's seeding) still runs; wrapping twice changes nothing."""
    loader = torch.utils.data.DataLoader(_Signalled(), num_workers=1, worker_init_fn=_mark_init,
                                         multiprocessing_context="fork", collate_fn=lambda b: b)
    fn = leave_signals_to_parent(loader).worker_init_fn
    assert leave_signals_to_parent(loader).worker_init_fn is fn
    items = [item for batch in loader for item in batch]
    assert items == [([True, True], "init 0")] * 3


EXIT_WITH_PERSISTENT_WORKERS = """
import sys, torch
from wavemsa.mm.stops import leave_signals_to_parent
loader = leave_signals_to_parent(torch.utils.data.DataLoader(list(range(8)), num_workers=2, persistent_workers=True,
                                                             multiprocessing_context="fork"))
held = [iter(loader)]
held.append(held)  # a reference cycle, as the runner's, keeps the iterator and its workers to the exit
print(next(held[0]).tolist())
"""


def test_a_trainer_still_exits_with_persistent_loader_workers_alive():
    """At exit multiprocessing ends the workers with SIGTERM, which they then follow (they would ignore it while
    the trainer runs, and the trainer would wait for them forever)."""
    proc = subprocess.run([sys.executable, "-c", EXIT_WITH_PERSISTENT_WORKERS], capture_output=True, text=True,
                          timeout=120, cwd=REPO)
    assert proc.returncode == 0 and proc.stdout == "[0]\n", proc.stderr[-2000:]


def test_the_innermost_block_is_current_and_a_stopped_block_ignores_further_signals():
    """A hook finds the entry point's block; once the stop's exception is made, a launcher's SIGTERM to the other
    processes of the run does not turn it into a stop at once."""
    assert Interruption.current() is None
    with Interruption("training") as outer:
        with Interruption("evaluation", graceful=False) as inner:
            assert Interruption.current() is inner
        assert Interruption.current() is outer
        os.kill(os.getpid(), signal.SIGUSR1)
        assert outer.requested() == signal.SIGUSR1
        stop = outer.stopped("at iteration 3: it holds the run")
        os.kill(os.getpid(), signal.SIGTERM)
    assert Interruption.current() is None
    assert stop.signum == signal.SIGUSR1
    assert stop.message == "training interrupted by SIGUSR1 at iteration 3: it holds the run"
