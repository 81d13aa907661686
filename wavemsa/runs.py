"""Run infrastructure shared by the entry points: a folder that belongs to one run at a time (:class:`RunLock`) and
interruptions that end cleanly (:class:`Interruption`).

    with RunLock(output_dir, "training"), Interruption("training") as stop:
        for step in ...:
            ...                                   # one unit of work
            if stop.requested():                  # every rank calls it at the same point: they agree
                save(...)
                raise stop.stopped(f"... saved {path}; continue with --auto-resume")
            stop.latest = f"the latest checkpoint is {path}"   # what a stop at once leaves

* :class:`RunLock`: ``FOLDER/.lock`` created atomically, holding the owner's pid, host, boot id, process start time,
  start date and command. A second run on the folder gets one :class:`~wavemsa.errors.InputError` naming the owner;
  a lock whose owner is gone (its pid ended or now belongs to another process, or the machine rebooted) is stale and
  replaced with a warning; an owner on another host cannot be checked and is taken as live. Under torch.distributed
  rank 0 holds the lock and every rank learns the outcome.
* :class:`Interruption`: SIGINT, SIGTERM and SIGUSR1 (a cluster scheduler's warning before preemption or the time
  limit) set a flag that the work polls at safe points (after a training step); a second SIGINT or SIGTERM stops at
  once. ``stopped(...)`` / a stop at once raise :class:`~wavemsa.errors.Interrupted`, which
  :func:`~wavemsa.errors.run_main` prints as one line with exit status 128 + the signal.
* :func:`ignore_interruptions`: the ``worker_init_fn`` of DataLoaders, so that a Ctrl-C in a terminal (sent to the
  whole process group) or a scheduler's signal to every process leaves the loader workers to their parent.
* :func:`rng_state` / :func:`set_rng_state`: the main process's random generators, saved with a stop's checkpoint
  so that the resumed run draws the numbers the uninterrupted run would have drawn.

``python -m wavemsa.runs --processes 2`` measures what the per-step agreement costs (gloo, CPU).
"""
from __future__ import annotations

import datetime
import errno
import json
import logging
import os
import shlex
import signal
import socket
import sys
import threading
from pathlib import Path
from typing import Any

from .errors import InputError, Interrupted, signal_name

__all__ = ["LOCK_NAME", "Interruption", "RunLock", "ignore_interruptions", "rng_state", "set_rng_state"]

log = logging.getLogger("wavemsa.runs")

LOCK_NAME = ".lock"
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGUSR1)


# ---------------------------------------------------------------------------------------------- processes

def _read(path: str) -> str | None:
    try:
        return Path(path).read_text()
    except OSError:
        return None


def process_start(pid: int) -> str | None:
    """When process ``pid`` started (clock ticks since boot, /proc/PID/stat field 22), or None where /proc does
    not say: with the pid it tells a process from a later one that reuses its pid."""
    stat = _read(f"/proc/{pid}/stat")
    if not stat:
        return None
    fields = stat.rsplit(")", 1)[-1].split()  # after the command name, which may hold spaces and parentheses
    return fields[19] if len(fields) > 19 else None


def boot_id() -> str | None:
    """This machine's boot id (Linux): a lock from before a reboot has no live owner."""
    text = _read("/proc/sys/kernel/random/boot_id")
    return text.strip() if text else None


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by another user
        return True
    return True


def _distributed() -> tuple[bool, int]:
    """(torch.distributed initialised with more than one process, this process's rank)."""
    if "torch" not in sys.modules:
        return False, 0
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
        return True, dist.get_rank()
    return False, 0


_control_groups: dict[int, Any] = {}


def control_group():
    """A gloo process group over all ranks for small CPU-side agreements (the default group when it is gloo): a
    NCCL group would need a device tensor and a device sync. Collective on first use: every rank calls it."""
    import torch.distributed as dist

    key = id(dist.group.WORLD)
    if key not in _control_groups:
        _control_groups[key] = None if dist.get_backend() == "gloo" else dist.new_group(backend="gloo")
    return _control_groups[key]


def _broadcast_text(text: str | None) -> str | None:
    """Rank 0's ``text`` on every rank."""
    import torch.distributed as dist

    box = [text]
    dist.broadcast_object_list(box, src=0, group=control_group())
    return box[0]


# ---------------------------------------------------------------------------------------------- the lock

class RunLock:
    """``with RunLock(folder, "training"):`` -- ``folder`` belongs to this run until the block ends.

    ``what`` names the work in messages ("training", "label generation"); ``hint`` is added to the refusal
    (e.g. "use another --output_dir"). Rank 0 holds the lock under torch.distributed; a refusal is raised on
    every rank (``InputError(every_rank=True)``: rank 0 prints it).
    """

    def __init__(self, folder: str | os.PathLike, what: str, hint: str = "use another folder") -> None:
        self.folder = Path(folder)
        self.path = self.folder / LOCK_NAME
        self.what, self.hint = what, hint
        self.held = False

    def __enter__(self) -> RunLock:
        distributed, rank = _distributed()
        error = None
        if rank == 0:
            try:
                self._acquire()
            except InputError as err:
                error = str(err)
        if distributed:
            error = _broadcast_text(error)
        if error:
            raise InputError(error, every_rank=True)
        return self

    def __exit__(self, *exc: Any) -> None:
        self.release()

    def owner_record(self) -> dict[str, Any]:
        pid = os.getpid()
        return {"pid": pid, "host": socket.gethostname(), "boot_id": boot_id(), "process_start": process_start(pid),
                "started": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
                "what": self.what, "command": shlex.join(sys.argv)}

    def _acquire(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        mine = self.owner_record()
        for _ in range(5):
            if self._create(mine):
                self.held = True
                return
            owner = self._read_owner()
            if owner is None:  # released between our attempt and the read
                continue
            stale = self.stale_reason(owner)
            if stale is None:
                raise InputError(self._busy_message(owner))
            if self._read_owner() == owner:  # still the same stale lock (another run may have replaced it)
                log.warning("%s: replacing the lock of a %s that is gone (%s)", self.path,
                            owner.get("what", "run"), stale)
                self.path.unlink(missing_ok=True)
        raise InputError(f"{self.path}: could not take the lock; other runs keep taking it ({self.hint})")

    def _create(self, record: dict[str, Any]) -> bool:
        """Write the lock in one step (a complete temporary file linked to the lock's name, which fails when the
        name exists); False when another lock is there."""
        tmp = self.folder / f"{LOCK_NAME}.{os.getpid()}.tmp"
        tmp.write_text(json.dumps(record) + "\n")
        try:
            os.link(tmp, self.path)
            return True
        except FileExistsError:
            return False
        except OSError as err:  # a file system without hard links: exclusive creation instead
            if err.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV, errno.ENOSYS):
                raise
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                return False
            with os.fdopen(fd, "w") as f:
                f.write(json.dumps(record) + "\n")
            return True
        finally:
            tmp.unlink(missing_ok=True)

    def _read_owner(self) -> dict[str, Any] | None:
        try:
            text = self.path.read_text()
        except FileNotFoundError:
            return None
        try:
            owner = json.loads(text)
        except ValueError:
            owner = None
        if not isinstance(owner, dict) or not isinstance(owner.get("pid"), int):
            raise InputError(f"'{self.path}' is not a lock written by this project; if no other run uses "
                             f"'{self.folder}', remove it")
        return owner

    @staticmethod
    def stale_reason(owner: dict[str, Any]) -> str | None:
        """Why the run of lock record ``owner`` is certainly gone, or None when it may be alive (a live process
        on this machine, or any process on another machine)."""
        if owner.get("host") != socket.gethostname():
            return None
        pid = owner["pid"]
        if owner.get("boot_id") and boot_id() and owner["boot_id"] != boot_id():
            return "the machine restarted since"
        if not pid_alive(pid):
            return f"process {pid} has ended"
        start = process_start(pid)
        if owner.get("process_start") and start and start != owner["process_start"]:
            return f"process {pid} has ended; the pid now belongs to another process"
        return None

    def _busy_message(self, owner: dict[str, Any]) -> str:
        here = owner.get("host") == socket.gethostname()
        where = "on this machine" if here else f"on host {owner.get('host')}, which this machine cannot check"
        return (f"'{self.folder}' is in use by another {owner.get('what', 'run')} (pid {owner['pid']} {where}, "
                f"started {owner.get('started', '?')}: {owner.get('command', '?')}); wait for it to end or "
                f"{self.hint}. If that run is known to have ended, remove '{self.path}'")

    def release(self) -> None:
        """Remove the lock if this process holds it."""
        if not self.held:
            return
        self.held = False
        try:
            owner = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return
        if owner.get("pid") == os.getpid() and owner.get("host") == socket.gethostname():
            self.path.unlink(missing_ok=True)


# ---------------------------------------------------------------------------------------------- interruptions

class Interruption:
    """``with Interruption("training") as stop:`` -- SIGINT, SIGTERM and SIGUSR1 ask the work to stop.

    With ``graceful=True`` the first signal sets :attr:`signum` and the work goes on until it calls
    :meth:`requested` at a safe point (then it saves and raises :meth:`stopped`); a second SIGINT or SIGTERM raises
    :class:`~wavemsa.errors.Interrupted` at once, its message ending with :attr:`latest` (what the last save left).
    With ``graceful=False`` (work with nothing to save, e.g. an evaluation) the first signal raises at once.
    Signal handlers can only be set from the main thread; elsewhere the block changes nothing. Once
    :meth:`stopped` has made the exception that ends the work, further signals are ignored (a launcher stopping
    the other processes of the run must not turn the stop into another one). :meth:`current` is the innermost
    active block of this process (a framework hook finds the entry point's there).
    """

    _active: list[Interruption] = []

    def __init__(self, what: str, graceful: bool = True) -> None:
        self.what, self.graceful = what, graceful
        self.signum: int | None = None
        self.latest = "nothing was saved"
        self._previous: dict[int, Any] = {}
        self._distributed = False
        self._ended = False

    def __enter__(self) -> Interruption:
        if threading.current_thread() is threading.main_thread():
            for sig in STOP_SIGNALS:
                self._previous[sig] = signal.signal(sig, self._handle)
        self._distributed, _ = _distributed()
        if self._distributed:
            control_group()  # collective: created now, while every rank is here
        Interruption._active.append(self)
        return self

    def __exit__(self, *exc: Any) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous.clear()
        if self in Interruption._active:
            Interruption._active.remove(self)

    @classmethod
    def current(cls) -> Interruption | None:
        """The innermost :class:`Interruption` block active in this process, or None."""
        return cls._active[-1] if cls._active else None

    def _handle(self, signum: int, frame: Any) -> None:
        if self._ended:
            return
        name = signal_name(signum)
        if not self.graceful:
            raise Interrupted(signum, f"{self.what} interrupted by {name}; {self.latest}")
        if self.signum is not None:
            if signum in (signal.SIGINT, signal.SIGTERM):
                raise Interrupted(signum, f"{self.what} stopped at once by a second {name}; {self.latest}")
            return
        self.signum = signum
        again = {signal.SIGINT: "Ctrl-C again", signal.SIGTERM: "SIGTERM again"}.get(signum, "SIGINT or SIGTERM")
        log.warning("%s: %s will stop after the current step and save where it is (%s stops at once)",
                    name, self.what, again)

    def requested(self) -> int:
        """The signal that asked to stop (0: none). Under torch.distributed a collective over all ranks (call it at
        the same points on every rank): a signal that reached any rank stops them all at the same step."""
        local = self.signum or 0
        if not self._distributed:
            return local
        import torch
        import torch.distributed as dist

        flag = torch.tensor([local], dtype=torch.int32)
        dist.all_reduce(flag, op=dist.ReduceOp.MAX, group=control_group())
        agreed = int(flag.item())
        if agreed and self.signum is None:
            self.signum = agreed
        return agreed

    def stopped(self, message: str) -> Interrupted:
        """The exception that ends the work after a requested stop: ``WHAT interrupted by SIGNAL MESSAGE``."""
        signum = self.signum or signal.SIGINT
        self._ended = True
        return Interrupted(signum, f"{self.what} interrupted by {signal_name(signum)} {message}")


def ignore_interruptions(worker_id: int = 0) -> None:
    """DataLoader ``worker_init_fn``: the loader workers ignore SIGINT, SIGTERM and SIGUSR1 (a terminal's Ctrl-C and
    a scheduler's signals reach every process); their parent stops them when it stops."""
    for sig in STOP_SIGNALS:
        signal.signal(sig, signal.SIG_IGN)


def rng_state() -> dict:
    """The python, numpy, torch (and CUDA) generator states of this process as tensors and numbers (``weights_only``
    loadable)."""
    import random

    import numpy as np
    import torch

    py = random.getstate()
    np_state = np.random.get_state()
    state = {
        "python": {"version": py[0], "state": torch.tensor(py[1], dtype=torch.int64), "gauss": py[2]},
        "numpy": {"keys": torch.from_numpy(np_state[1].astype(np.int64)), "pos": int(np_state[2]),
                  "has_gauss": int(np_state[3]), "cached_gaussian": float(np_state[4])},
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    """Restore what :func:`rng_state` captured."""
    import random

    import numpy as np
    import torch

    py = state["python"]
    random.setstate((py["version"], tuple(int(x) for x in py["state"].tolist()), py["gauss"]))
    n = state["numpy"]
    np.random.set_state(("MT19937", n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"],
                         n["cached_gaussian"]))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


# ---------------------------------------------------------------------------------------------- cost of agreeing

def _agreement_worker(rank: int, world: int, port: int, calls: int, step_model: str, queue) -> None:
    import time

    import torch
    import torch.distributed as dist

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=world)
    try:
        with Interruption("measurement") as stop:
            for _ in range(20):
                stop.requested()
            dist.barrier()
            t0 = time.perf_counter()
            for _ in range(calls):
                stop.requested()
            per_call = (time.perf_counter() - t0) / calls
        per_step = _ddp_step_seconds(step_model) if step_model else None
        if rank == 0:
            queue.put((per_call, per_step))
    finally:
        dist.destroy_process_group()


def _ddp_step_seconds(name: str, batch: int = 8, size: int = 32, steps: int = 10) -> float:
    """Seconds of one DDP training step (forward, backward, SGD) of timm model ``name`` for comparison."""
    import time

    import timm
    import torch

    model = torch.nn.parallel.DistributedDataParallel(timm.create_model(name, num_classes=10))
    opt = torch.optim.SGD(model.parameters(), lr=1e-3)
    x, y = torch.randn(batch, 3, size, size), torch.randint(0, 10, (batch,))
    for i in range(steps + 2):
        if i == 2:
            t0 = time.perf_counter()
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
    return (time.perf_counter() - t0) / steps


def measure_agreement(processes: int = 2, calls: int = 2000, step_model: str = "") -> tuple[float, float | None]:
    """Seconds one :meth:`Interruption.requested` takes with ``processes`` gloo processes on this machine (one
    thread each), and one DDP training step of ``step_model`` (batch 8, 32 x 32) when given."""
    import torch.multiprocessing as mp

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    procs = [ctx.Process(target=_agreement_worker, args=(r, processes, port, calls, step_model, queue))
             for r in range(processes)]
    for p in procs:
        p.start()
    result = queue.get(timeout=1200)
    for p in procs:
        p.join()
    return result


def main(argv: list[str] | None = None) -> None:
    import argparse

    from .cli import positive_int

    p = argparse.ArgumentParser(prog="wavemsa.runs", description="Measure the per-step stop agreement (gloo, CPU)")
    p.add_argument("--processes", type=positive_int, default=2)
    p.add_argument("--calls", type=positive_int, default=2000)
    p.add_argument("--step-model", default="wavemsa_t",
                   help="also time a DDP training step of this timm model (batch 8, 32x32) for comparison ('': no)")
    p.add_argument("--record", default="", help="write a run record (wavemsa.records) to this file")
    args = p.parse_args(argv)
    per_call, per_step = measure_agreement(args.processes, args.calls, args.step_model)
    line = (f"Interruption.requested() with {args.processes} gloo processes: {per_call * 1e6:.0f} us per call "
            f"({args.calls} calls)")
    metrics = {"processes": args.processes, "calls": args.calls, "microseconds_per_call": round(per_call * 1e6, 1)}
    if per_step is not None:
        line += f"; a DDP training step of {args.step_model} (batch 8, 32x32): {per_step * 1e3:.0f} ms"
        metrics.update(step_model=args.step_model, step_ms=round(per_step * 1e3, 1),
                       call_to_step_ratio=round(per_call / per_step, 6))
    print(line)
    if args.record:
        from .records import write_record

        write_record(args.record, metrics, name="stop-agreement")


if __name__ == "__main__":
    from .errors import run_main

    sys.exit(run_main(main, prog="wavemsa.runs"))
