"""Classification runs that cannot step on each other and end cleanly: the output folder's lock, resumed runs that
change options, Ctrl-C / SIGTERM with loader workers, a full disk during a checkpoint save, and the label folder
of make_token_labels.py (one teacher and one set of settings, locked, interruptible). Runs of the trainer that a
test must signal or limit run in a subprocess, as a user starts them."""
from __future__ import annotations

import json
import os
import resource
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
import timm
import torch
from classification_setup import MAIN, ROOT, TINY_RUN, digits, subprocess_env

import wavemsa  # noqa: F401  (registers wavemsa_t)
from image_classification import main as ic_main
from image_classification import make_token_labels as mtl
from image_classification.distributed import DistInfo
from image_classification.label_maps import read_label_map, write_label_map
from wavemsa.errors import Interrupted, run_main
from wavemsa.runs import LOCK_NAME, Interruption, process_start


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory) -> Path:
    return digits(tmp_path_factory.mktemp("digits") / "digits")  # 20 train / 20 val images


def train_argv(data: Path, out: Path, *extra: str) -> list[str]:
    return [*TINY_RUN, "--batch-size", "4", "--data-path", str(data), "--output_dir", str(out), *extra]


def records(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "log.txt").read_text().splitlines()]


def test_a_second_training_on_one_output_folder_is_refused(tiny_data, tmp_path, capsys):
    """The second run is refused at once with one line naming the first; the first runs to its end alone: its
    log, checkpoint and args.json are its own."""
    out = tmp_path / "out"
    first = subprocess.Popen([sys.executable, str(MAIN), *train_argv(tiny_data, out, "--epochs", "1", "--seed", "1")],
                             cwd=ROOT, env=subprocess_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             text=True)
    try:
        deadline = time.time() + 120
        while not (out / LOCK_NAME).exists():
            assert first.poll() is None and time.time() < deadline, "the first run did not take the folder"
            time.sleep(0.05)
        assert run_main(ic_main.main, train_argv(tiny_data, out, "--epochs", "2", "--seed", "2"), prog="main.py") == 2
        err = capsys.readouterr().err
        assert err.startswith(f"main.py: error: '{out}' is in use by another training (pid {first.pid} on this "
                              "machine") and "use another --output_dir" in err and len(err.splitlines()) == 1, err
        output, _ = first.communicate(timeout=300)
    finally:
        first.kill()
    assert first.returncode == 0, output[-3000:]
    assert [r["epoch"] for r in records(out)] == [0]
    (run,) = json.loads((out / "args.json").read_text())["runs"]
    assert run["options"]["seed"] == 1 and run["options"]["epochs"] == 1
    assert torch.load(out / "checkpoint.pth", weights_only=True)["args"]["seed"] == 1
    assert not (out / LOCK_NAME).exists()


def test_a_resumed_run_that_changes_results_is_refused_unless_allowed(tiny_data, tmp_path, capsys):
    """Options that change the results are listed in one line; with --allow-changed-options the run goes on and
    args.json keeps both runs, the change recorded. Options that change nothing may differ."""
    out = tmp_path / "out"
    assert run_main(ic_main.main, train_argv(tiny_data, out, "--epochs", "1")) == 0
    capsys.readouterr()
    assert run_main(ic_main.main, train_argv(tiny_data, out, "--epochs", "2", "--input-size", "64",
                                             "--auto-resume"), prog="main.py") == 2
    err = capsys.readouterr().err
    assert err == (f"main.py: error: --resume {out / 'checkpoint.pth'} (end of epoch 0): this run differs from the "
                   "one it continues in --epochs 2 (was 1), --input-size 64 (was 32); resume with the run's own "
                   "options, or add --allow-changed-options to go on with these\n"), err
    assert [r["epoch"] for r in records(out)] == [0]
    assert run_main(ic_main.main, train_argv(tiny_data, out, "--epochs", "2", "--auto-resume", "--print-freq", "7",
                                             "--allow-changed-options")) == 0
    assert [r["epoch"] for r in records(out)] == [0, 1]
    first, second = json.loads((out / "args.json").read_text())["runs"]
    assert first["resumed_from"] is None and first["options"]["epochs"] == 1
    assert second["resumed_from"] == f"{out / 'checkpoint.pth'} (epoch 1, step 0)"
    assert second["changed_options"] == {"epochs": [1, 2]} and second["options"]["print_freq"] == 7
    assert {"started", "command", "host", "processes"} <= set(second)


def run_until(cmd: list[str], marker: str, signum: int, group: bool, err_file) -> tuple[subprocess.Popen, str]:
    """Start ``cmd``, send ``signum`` (to its whole process group, as a terminal's Ctrl-C does, when ``group``) once
    its output shows ``marker``; return the process, ended, and its output."""
    proc = subprocess.Popen(cmd, cwd=ROOT, env=subprocess_env(), stdout=subprocess.PIPE, stderr=err_file, text=True,
                            start_new_session=True)
    lines = []
    try:
        for line in proc.stdout:
            lines.append(line)
            if marker in line and len([x for x in lines if marker in x]) == 1:
                (os.killpg if group else os.kill)(proc.pid, signum)
        proc.wait(timeout=300)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    return proc, "".join(lines)


@pytest.mark.parametrize("signum,group", [(signal.SIGINT, True), (signal.SIGTERM, False)],
                         ids=["ctrl-c-to-the-process-group", "sigterm"])
def test_an_interrupted_training_ends_with_one_line_and_128_plus_the_signal(tiny_data, tmp_path, signum, group):
    """With a loader worker: the step under way finishes, the checkpoint holds the run at that step, one line says
    so, exit status 130 / 143; no traceback, and no loader worker killed under the trainer."""
    out = tmp_path / "out"
    cmd = [sys.executable, str(MAIN), *train_argv(tiny_data, out, "--epochs", "1", "--num_workers", "1",
                                                  "--print-freq", "1")]
    with tempfile.TemporaryFile("w+") as err_file:
        proc, output = run_until(cmd, "epoch 0 [1/5]", signum, group, err_file)
        err_file.seek(0)
        err = err_file.read()
    name = signal.Signals(signum).name
    assert proc.returncode == 128 + signum, output[-2000:] + err[-3000:]
    assert "Traceback" not in output + err and "DataLoader worker" not in output + err, err[-3000:]
    last = err.strip().splitlines()[-1]
    ckpt = torch.load(out / "checkpoint.pth", weights_only=True)
    step = ckpt["position"]["step"]
    assert 1 <= step < 5 and ckpt["position"]["epoch"] == 0 and ckpt["epoch"] == -1
    assert last == (f"main.py: training interrupted by {name} at epoch 0, step {step} of 5: {out / 'checkpoint.pth'} "
                    "holds the run up to there; to continue, run the same command with --auto-resume"), last
    assert f"{name}: training will stop after the current step" in output
    assert not (out / LOCK_NAME).exists()


@pytest.mark.slow
def test_a_signal_to_the_launcher_ends_two_processes_with_their_lines(tiny_data, tmp_path):
    """python -m wavemsa.torchrun (torchrun's arguments) passes a SIGTERM on to the workers, which stop at the same
    step with rank 0's one line; the launcher adds one line instead of torch's SignalException traceback."""
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "wavemsa.torchrun", "--standalone", "--nproc_per_node=2", str(MAIN),
           *train_argv(tiny_data, out, "--epochs", "1", "--batch-size", "2", "--no-repeated-aug", "--print-freq", "1")]
    with tempfile.TemporaryFile("w+") as err_file:
        proc, output = run_until(cmd, "epoch 0 [2/5]", signal.SIGTERM, False, err_file)
        err_file.seek(0)
        err = err_file.read()
    assert proc.returncode == 143, output[-2000:] + err[-3000:]
    assert "Traceback" not in output + err, err[-3000:]
    step = torch.load(out / "checkpoint.pth", weights_only=True)["position"]["step"]
    assert f"main.py: training interrupted by SIGTERM at epoch 0, step {step} of 5: " in err, err[-3000:]
    assert err.strip().splitlines()[-1] == "torchrun: SIGTERM passed on to the workers; the launcher stopped"


def limit_file_size() -> None:
    resource.setrlimit(resource.RLIMIT_FSIZE, (2**20, 2**20))  # 1 MiB: the logs fit, a checkpoint does not


@pytest.mark.slow
def test_a_full_disk_during_a_checkpoint_save_is_one_line_and_keeps_the_previous_checkpoint(tiny_data, tmp_path):
    """A file-size limit (as a full disk or a quota) during the save: one line naming the file and the free space,
    exit status 2, the previous checkpoint intact, no temporary file left."""
    out = tmp_path / "out"
    ic_main.main(train_argv(tiny_data, out, "--epochs", "2", "--stop-epoch", "1"))  # the first epoch, in this process
    before = (out / "checkpoint.pth").read_bytes()
    proc = subprocess.run([sys.executable, str(MAIN), *train_argv(tiny_data, out, "--epochs", "2"), "--auto-resume"],
                          cwd=ROOT, env=subprocess_env(), capture_output=True, text=True, timeout=300,
                          preexec_fn=limit_file_size)
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith(f"main.py: error: cannot write '{out / 'checkpoint.pth'}': the disk is full or a size "
                           "limit was reached (") and f"MiB free in '{out}'); the previous file is kept" in last, last
    assert (out / "checkpoint.pth").read_bytes() == before
    assert not [p for p in out.iterdir() if ".tmp" in p.name]


# ---------------------------------------------------------------------------------------------- label folders

@pytest.fixture(scope="module")
def teachers(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("teachers")
    for seed, name in ((0, "a.pth"), (1, "b.pth")):
        torch.manual_seed(seed)
        torch.save({"model": timm.create_model("wavemsa_t", num_classes=10).state_dict()}, root / name)
    return root / "a.pth", root / "b.pth"


def label_argv(data: Path, labels: Path, teacher: Path, *extra: str) -> list[str]:
    return [str(data / "train"), str(labels), "--teacher", "wavemsa_t", "--teacher-checkpoint", str(teacher),
            "--img-size", "32", "--topk", "5", "--device", "cpu", "--workers", "0", "--batch-size", "8", *extra]


def test_a_label_folder_holds_the_maps_of_one_teacher_and_one_set_of_settings(tiny_data, teachers, tmp_path,
                                                                              capsys):
    """A re-run with other settings or another teacher's weights is refused naming them (labelling only the missing
    images would leave a folder of mixed maps); --overwrite rebuilds every map; the trainer checks every map against
    meta.json."""
    labels = tmp_path / "labels"
    a, b = teachers
    assert run_main(mtl.main, label_argv(tiny_data, labels, a)) == 0
    meta = json.loads((labels / "meta.json").read_text())
    assert meta["topk"] == 5 and meta["grid"] == [1, 1] and len(meta["teacher_checkpoint_sha256"]) == 64
    capsys.readouterr()
    assert run_main(mtl.main, label_argv(tiny_data, labels, a, "--topk", "3", "--crop-pct", "0.9"),
                    prog="make_token_labels.py") == 2
    err = capsys.readouterr().err
    assert err.startswith(f"make_token_labels.py: error: label folder '{labels}' holds maps made with other "
                          "settings: crop_pct 0.9 (was 1.0), topk 3 (was 5); ") and "--overwrite" in err, err
    assert run_main(mtl.main, label_argv(tiny_data, labels, b)) == 2
    assert f"teacher checkpoint content ({b} is not the file the maps were made with, {a})" in capsys.readouterr().err
    files = sorted(labels.rglob("*.pt"))
    assert all(read_label_map(f, 10)[0].shape == (5, 1, 1) for f in files)  # nothing was written
    assert run_main(mtl.main, label_argv(tiny_data, labels, b, "--topk", "3", "--overwrite")) == 0
    assert all(read_label_map(f, 10)[0].shape == (3, 1, 1) for f in files)
    assert json.loads((labels / "meta.json").read_text())["topk"] == 3
    assert run_main(mtl.main, label_argv(tiny_data, labels, b, "--topk", "3")) == 0  # the same settings: resumes

    write_label_map(files[4], torch.ones(5, 1, 1), torch.zeros(5, 1, 1))  # a map of other settings slipped in
    capsys.readouterr()
    assert run_main(ic_main.main, [*TINY_RUN, "--data-path", str(tiny_data), "--batch-size", "4", "--epochs", "1",
                                   "--token-label", "--token-label-data", str(labels), "--no-repeated-aug"],
                    prog="main.py") == 2
    err = capsys.readouterr().err
    assert err == (f"main.py: error: label map '{files[4]}' holds top-5 scores on a 1x1 grid, but '{labels}/meta.json' "
                   "says every map holds top-3 on 1x1: the folder mixes maps of different settings; rebuild it with "
                   "make_token_labels.py --overwrite\n"), err


def test_a_label_folder_is_locked_and_label_generation_stops_cleanly(tiny_data, teachers, tmp_path, capsys):
    a, _ = teachers
    labels = tmp_path / "labels"
    labels.mkdir()
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    try:
        (labels / LOCK_NAME).write_text(json.dumps({"pid": sleeper.pid, "host": socket.gethostname(),
                                                    "process_start": process_start(sleeper.pid),
                                                    "what": "label generation", "command": "make_token_labels.py"}))
        assert run_main(mtl.main, label_argv(tiny_data, labels, a), prog="make_token_labels.py") == 2
        err = capsys.readouterr().err
        assert f"'{labels}' is in use by another label generation (pid {sleeper.pid} on this machine" in err
    finally:
        sleeper.kill()
        sleeper.wait()
    args = mtl.get_parser().parse_args(label_argv(tiny_data, labels, a))
    with Interruption("label generation") as stop:
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(0.05)
        with pytest.raises(Interrupted) as info:
            mtl.generate(args, DistInfo(), stop)
    assert info.value.signum == signal.SIGTERM
    assert info.value.message == ("label generation interrupted by SIGTERM after 0 new label maps (20 images in "
                                  "all); the maps written are kept: run the same command again to label the rest")
    assert json.loads((labels / "meta.json").read_text())["topk"] == 5  # written first: a re-run checks against it
