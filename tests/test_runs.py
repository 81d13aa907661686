"""wavemsa.runs (a folder for one run at a time, clean interruptions), how run_main reports them, and the
atomic folder replacement of wavemsa.files."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time

import pytest

from wavemsa.errors import InputError, Interrupted, run_main
from wavemsa.files import replace_folder
from wavemsa.runs import LOCK_NAME, Interruption, RunLock, process_start


@pytest.fixture
def other_process():
    """A live process of this machine that is not this one."""
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    yield proc
    proc.kill()
    proc.wait()


def write_lock(folder, **record) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / LOCK_NAME).write_text(json.dumps({"what": "training", "started": "2026-12-03T10:00:00+00:00",
                                                "command": "main.py --output_dir x", **record}))


def test_a_folder_belongs_to_one_run_at_a_time(tmp_path, other_process):
    """The lock names its owner; a second taker is refused with one line naming the owner and what to do; the
    lock goes when the run ends."""
    with RunLock(tmp_path / "out", "training", "use another --output_dir"):
        owner = json.loads((tmp_path / "out" / LOCK_NAME).read_text())
        assert owner["pid"] == os.getpid() and owner["host"] == socket.gethostname()
        assert owner["process_start"] == process_start(os.getpid())
        with pytest.raises(InputError, match=rf"'{tmp_path / 'out'}' is in use by another training \(pid "
                                             rf"{os.getpid()} on this machine") as info:
            RunLock(tmp_path / "out", "training", "use another --output_dir").__enter__()
        assert "use another --output_dir" in str(info.value) and "remove" in str(info.value)
    assert not (tmp_path / "out" / LOCK_NAME).exists()
    write_lock(tmp_path / "busy", pid=other_process.pid, host=socket.gethostname(),
               process_start=process_start(other_process.pid))
    with pytest.raises(InputError, match=f"in use by another training \\(pid {other_process.pid} on this machine"):
        RunLock(tmp_path / "busy", "training").__enter__()
    assert (tmp_path / "busy" / LOCK_NAME).exists()  # a refused run leaves the owner's lock alone


def test_a_lock_whose_owner_is_gone_is_replaced_and_one_of_another_host_is_not(tmp_path, other_process, caplog):
    ended = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = int(ended.stdout)
    cases = {"ended": dict(pid=dead_pid, host=socket.gethostname(), process_start="0"),
             "pid reused": dict(pid=other_process.pid, host=socket.gethostname(), process_start="1"),
             "rebooted": dict(pid=other_process.pid, host=socket.gethostname(), boot_id="another-boot")}
    for name, record in cases.items():
        folder = tmp_path / name.replace(" ", "_")
        write_lock(folder, **record)
        with caplog.at_level("WARNING"), RunLock(folder, "training"):
            assert json.loads((folder / LOCK_NAME).read_text())["pid"] == os.getpid()
        assert "replacing the lock of a training that is gone" in caplog.text, name
        caplog.clear()
    write_lock(tmp_path / "far", pid=os.getpid(), host="gpu-node-17")
    with pytest.raises(InputError, match="on host gpu-node-17, which this machine cannot check"):
        RunLock(tmp_path / "far", "training").__enter__()
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / LOCK_NAME).write_text("hello")
    with pytest.raises(InputError, match=r"\.lock' is not a lock written by this project"):
        RunLock(tmp_path / "junk", "training").__enter__()


def test_a_stop_is_requested_by_the_first_signal_and_forced_by_a_second(caplog):
    """The first SIGINT / SIGTERM / SIGUSR1 only sets the flag the work polls; a repeated SIGUSR1 changes nothing;
    a second SIGINT or SIGTERM raises at once, naming what the last save left; handlers are restored after."""
    before = signal.getsignal(signal.SIGTERM)
    with caplog.at_level("WARNING"), Interruption("training") as stop:
        assert stop.requested() == 0
        os.kill(os.getpid(), signal.SIGUSR1)
        time.sleep(0.01)
        assert stop.requested() == signal.SIGUSR1
        assert "SIGUSR1: training will stop after the current step" in caplog.text
        os.kill(os.getpid(), signal.SIGUSR1)
        time.sleep(0.01)
        stop.latest = "the latest checkpoint is out/checkpoint.pth (end of epoch 3)"
        with pytest.raises(Interrupted) as info:
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(0.5)
        assert info.value.signum == signal.SIGTERM
        assert info.value.message == ("training stopped at once by a second SIGTERM; the latest checkpoint is "
                                      "out/checkpoint.pth (end of epoch 3)")
        assert str(stop.stopped("at epoch 4, step 9 of 10: saved")) == \
            "training interrupted by SIGUSR1 at epoch 4, step 9 of 10: saved"
    assert signal.getsignal(signal.SIGTERM) is before
    with pytest.raises(Interrupted, match="^evaluation interrupted by SIGINT; nothing was saved$"):
        with Interruption("evaluation", graceful=False):
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.5)


def test_run_main_prints_an_interruption_as_one_line_with_128_plus_the_signal(capsys, monkeypatch):
    def stopped(argv):
        raise Interrupted(signal.SIGTERM, "training interrupted by SIGTERM at epoch 1, step 3 of 7: saved")

    def ctrl_c(argv):
        raise KeyboardInterrupt

    def locked(argv):
        raise InputError("'out' is in use by another training", every_rank=True)

    assert run_main(stopped, prog="main.py") == 143
    assert capsys.readouterr().err == "main.py: training interrupted by SIGTERM at epoch 1, step 3 of 7: saved\n"
    assert run_main(ctrl_c, prog="main.py") == 130
    assert capsys.readouterr().err == "main.py: interrupted by SIGINT\n"
    monkeypatch.setenv("RANK", "1")  # the other ranks of a distributed run: the same exit status, silently
    assert run_main(stopped, prog="main.py") == 143 and run_main(locked, prog="main.py") == 2
    assert capsys.readouterr().err == ""
    monkeypatch.setenv("RANK", "0")
    assert run_main(locked, prog="main.py") == 2
    assert capsys.readouterr().err == "main.py: error: 'out' is in use by another training\n"


def test_replace_folder_puts_a_complete_folder_in_place_or_leaves_the_old_one(tmp_path):
    target = tmp_path / "set"
    target.mkdir()
    (target / "old.txt").write_text("old")
    with pytest.raises(RuntimeError):
        with replace_folder(target) as tmp:
            (tmp / "new.txt").write_text("new")
            raise RuntimeError("interrupted build")
    assert [p.name for p in tmp_path.iterdir()] == ["set"] and (target / "old.txt").read_text() == "old"
    with replace_folder(target) as tmp:
        (tmp / "new.txt").write_text("new")
    assert [p.name for p in target.iterdir()] == ["new.txt"] and [p.name for p in tmp_path.iterdir()] == ["set"]


@pytest.mark.parametrize("codes, expected", [({0: 138, 1: 138}, 138), ({0: 138, 1: -15}, 138), ({0: 2}, 2),
                                             ({0: 1, 1: -15}, None), ({0: -11}, None)])
def test_torchrun_reads_the_workers_statuses(codes, expected, monkeypatch, capsys):
    """A stop (128 + signal) or a known problem (2) ends the launcher with one line, also when torch's launcher ended
    a slower peer itself (negative status); a crash keeps torch's report."""
    import torch.distributed.run
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError, ProcessFailure

    from wavemsa import torchrun

    def run(args):
        raise ChildFailedError("main.py", {r: ProcessFailure(r, 100 + r, c, "<N/A>") for r, c in codes.items()})

    monkeypatch.setattr(torch.distributed.run, "run", run)
    argv = ["--nproc_per_node=2", "main.py"]
    if expected is None:
        with pytest.raises(ChildFailedError):
            torchrun.main(argv)
    else:
        assert torchrun.main(argv) == expected
        assert capsys.readouterr().err.count("\n") == 1
