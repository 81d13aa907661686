"""Trainings of the OpenMMLab runners that stop cleanly on a signal and continue exactly where they stopped.

- :class:`StopOnSignalHook` (every config's ``custom_hooks``; :func:`enable_stops` adds it to any config the
  project's tools run): SIGINT, SIGTERM or SIGUSR1 (a scheduler's warning before preemption or the time limit)
  let the training iteration under way finish; then the hook saves a checkpoint at that iteration and raises
  :class:`~wavemsa.errors.Interrupted`, which the entry points print as one line (what stopped where, the
  checkpoint, the command that continues) with exit status 128 + the signal. Every rank stops at the same
  iteration (:meth:`wavemsa.runs.Interruption.requested` is agreed over them). The stop's checkpoint is mmengine's
  (weights, optimizer, schedulers, message hub; through the ``CheckpointHook`` of an iteration-based config, so
  ``max_keep_ckpts`` and ``last_checkpoint`` count it) plus, in the message hub, where the run stopped in its epoch
  and every rank's random generators. Loader workers leave the signals to their parent. An evaluation
  (``runner.test()``) ends at once on a signal. Under MMDetection's / MMSegmentation's own ``tools/train.py``
  (no Interruption block of an entry point around the runner) the hook installs the signal handlers itself.
- :class:`ResumableIterBasedTrainLoop`, :class:`ResumableEpochBasedTrainLoop`: mmengine's loops, continuing a
  stopped run exactly. mmengine 0.10 resumes a mid-epoch checkpoint of ``EpochBasedTrainLoop`` at the start of
  that epoch with the iteration counter where the run stopped (the epoch's first batches are trained twice and
  the run ends that many iterations late); the resumable epoch loop skips the batches the stopped run trained
  (loading them, as mmengine's iteration loop does, so the data order and the augmentation streams are those of
  the uninterrupted run). Both loops restore the random generators of the main process just before the first
  batch they train, and their loader workers ignore the stop signals from the start (the iteration loop starts
  them before any hook runs).
- :func:`adopt_resumed_seed`: a resumed run of a config without ``randomness.seed`` takes the seed of the run it
  continues before its samplers are built (mmengine adopts it after them: the data order would change).

What a resumed run reproduces exactly: everything, when the loader has no worker processes or the pipeline draws
no random numbers; with workers and a random pipeline, the workers' augmentation streams follow mmengine's seeding
(a worker started anew draws from its seed again), so an epoch-based run with ``persistent_workers`` resumed
mid-training draws other augmentations than the uninterrupted run. A validation that the uninterrupted run would
have run at the stopped iteration is not run.
"""
from __future__ import annotations

import os
import os.path as osp
import signal
from functools import partial
from typing import Any

from mmengine.hooks import CheckpointHook, Hook
from mmengine.registry import HOOKS, LOOPS
from mmengine.runner import EpochBasedTrainLoop, IterBasedTrainLoop

from ..errors import InputError
from ..files import write_text
from ..runs import Interruption, control_group, ignore_interruptions, rng_state, set_rng_state
from .checkpoint import checkpoint_to_resume

__all__ = ["POSITION_KEY", "ResumableEpochBasedTrainLoop", "ResumableIterBasedTrainLoop", "StopOnSignalHook",
           "adopt_resumed_seed", "enable_stops", "how_to_continue", "leave_signals_to_parent"]

POSITION_KEY = "stop_position"  # message hub runtime info: where a stopped run stopped, its generators
RESUMABLE_LOOPS = {"EpochBasedTrainLoop": "ResumableEpochBasedTrainLoop",
                   "IterBasedTrainLoop": "ResumableIterBasedTrainLoop"}


# ---------------------------------------------------------------------------------------------- helpers

def how_to_continue(cfg, checkpoint: str) -> str:
    """The command that continues a run of ``cfg`` from ``checkpoint``, in words."""
    if cfg.get("resume") and not cfg.get("load_from"):
        return "run the same command again to continue"
    if cfg.get("resume"):
        return f"to continue, run the same command with --resume {checkpoint}"
    return "to continue, run the same command with --resume"


_exiting = None  # shared with the loader workers: set when this process exits


def _exit_flag():
    """A flag in shared memory that turns on when this process exits, before multiprocessing's exit function ends
    the (daemonic) loader workers with SIGTERM: atexit runs the later registration first."""
    global _exiting
    if _exiting is None:
        import atexit
        import multiprocessing

        _exiting = multiprocessing.RawValue("b", 0)
        atexit.register(_set_flag, _exiting)
    return _exiting


def _set_flag(flag) -> None:
    flag.value = 1


def _worker_sigterm(exiting, signum: int, frame) -> None:
    if exiting.value:  # the trainer is exiting and ends its workers; any other SIGTERM is the trainer's to handle
        os._exit(0)


def _worker_init(worker_id: int, init_fn=None, exiting=None) -> None:
    ignore_interruptions(worker_id)
    if exiting is not None:
        signal.signal(signal.SIGTERM, partial(_worker_sigterm, exiting))
    if init_fn is not None:
        init_fn(worker_id)


def leave_signals_to_parent(loader):
    """Make the workers of DataLoader ``loader`` leave SIGINT, SIGTERM and SIGUSR1 to their parent (before the
    loader's own ``worker_init_fn``, which mmengine uses to seed them); returns ``loader``. torch's workers
    otherwise die on a SIGTERM sent to every process of a job, and the trainer with them (the loader reports the
    dead worker at once, wherever the trainer is). A worker still ends on the SIGTERM with which multiprocessing
    ends loader workers at the trainer's exit (mmengine's runner keeps persistent workers to the end). Takes
    effect for workers started afterwards."""
    fn = getattr(loader, "worker_init_fn", None)
    if hasattr(loader, "worker_init_fn") and not (isinstance(fn, partial) and fn.func is _worker_init):
        loader.worker_init_fn = partial(_worker_init, init_fn=fn, exiting=_exit_flag())
    return loader


def _train_loader(runner, dataloader):
    """The training DataLoader, built from its config as mmengine's loops build it, its workers leaving the stop
    signals to the trainer."""
    if isinstance(dataloader, dict):
        diff_rank_seed = runner._randomness_cfg.get("diff_rank_seed", False)
        dataloader = runner.build_dataloader(dataloader, seed=runner.seed, diff_rank_seed=diff_rank_seed)
    return leave_signals_to_parent(dataloader)


def _world() -> tuple[int, int]:
    """(world size, rank) of torch.distributed (1, 0 outside it)."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return dist.get_world_size(), dist.get_rank()
    return 1, 0


def _all_ranks(obj: Any) -> list:
    """``obj`` of every rank, in rank order (collective)."""
    import torch.distributed as dist

    world, _ = _world()
    if world == 1:
        return [obj]
    out: list = [None] * world
    dist.all_gather_object(out, obj, group=control_group())
    return out


def _barrier() -> None:
    import torch.distributed as dist

    if _world()[0] > 1:
        dist.barrier(group=control_group())


def _own_generators(runner, position: dict) -> dict | None:
    """This rank's generator states saved at the stop; None (with a warning) with another number of processes."""
    states = position.get("rng") or []
    world, rank = _world()
    if len(states) != world:
        runner.logger.warning(f"the stopped run had {len(states)} process(es), this one has {world}: the random "
                              "generators continue from their seeds, not from where the stopped run left them")
        return None
    return states[rank]


def adopt_resumed_seed(cfg) -> None:
    """When ``cfg`` resumes and sets no ``randomness.seed``: take the seed of the checkpoint it resumes from.

    mmengine adopts the resumed run's seed when it loads the checkpoint, after it built the data samplers and
    seeded the loader workers with a seed of its own: the resumed run would draw another data order. A checkpoint
    that cannot be read is left to the checks that report it."""
    import torch

    randomness = dict(cfg.get("randomness") or {})
    path = checkpoint_to_resume(cfg, cfg.work_dir)
    if randomness.get("seed") is not None or not path or not osp.isfile(path):
        return
    try:
        seed = torch.load(path, map_location="cpu", weights_only=True, mmap=True).get("meta", {}).get("seed")
    except Exception:  # unreadable: CheckpointFitHook names the file before the runner loads it
        return
    if isinstance(seed, int):
        cfg.randomness = dict(randomness, seed=seed)


def enable_stops(cfg) -> None:
    """Give ``cfg`` the :class:`StopOnSignalHook` (in ``custom_hooks``, if missing) and the resumable loops in
    place of mmengine's ``EpochBasedTrainLoop`` / ``IterBasedTrainLoop`` (the runner's copy of the config in the
    work dir shows both)."""
    hooks = list(cfg.get("custom_hooks") or [])
    if not any(h.get("type") in ("StopOnSignalHook", StopOnSignalHook) for h in hooks):
        cfg.custom_hooks = [*hooks, dict(type="StopOnSignalHook")]
    train_cfg = cfg.get("train_cfg")
    if not train_cfg:
        return
    kind = train_cfg.get("type")
    if kind is None and "by_epoch" in train_cfg:  # mmengine's short form
        kind = "EpochBasedTrainLoop" if train_cfg.pop("by_epoch") else "IterBasedTrainLoop"
    if kind is not None:
        train_cfg["type"] = RESUMABLE_LOOPS.get(kind, kind)


# ---------------------------------------------------------------------------------------------- the hook

_hooks_own: Interruption | None = None  # the block a hook entered itself (no entry point's around the runner)


@HOOKS.register_module()
class StopOnSignalHook(Hook):
    """After each training iteration: if SIGINT, SIGTERM or SIGUSR1 arrived (on any rank), save a checkpoint at this
    iteration and raise :class:`~wavemsa.errors.Interrupted` (see the module docstring).

    It uses the entry point's :class:`~wavemsa.runs.Interruption` when one is active, else installs its own for
    the training (``runner.test()``: one that stops at once), which it removes when the training ends (or, after
    a training that raised, when the next one in the process starts). Its priority is the lowest: the checkpoint
    hook's and the schedulers' work of the iteration is done when it saves."""

    priority = "LOWEST"

    def __init__(self) -> None:
        self.stop: Interruption | None = None
        self._own: Interruption | None = None
        self._seen: str | None = None
        self._latest: str | None = None

    # -- the handlers

    def _interruption(self, what: str, graceful: bool) -> Interruption:
        global _hooks_own
        if _hooks_own is not None and Interruption.current() is _hooks_own:  # left by a run that raised
            _hooks_own.__exit__(None, None, None)
        _hooks_own = None
        stop = Interruption.current()
        if stop is None:
            stop = self._own = _hooks_own = Interruption(what, graceful).__enter__()
        return stop

    def _release(self) -> None:
        global _hooks_own
        if self._own is not None:
            self._own.__exit__(None, None, None)
            if _hooks_own is self._own:
                _hooks_own = None
            self._own = None

    # -- training

    def before_train(self, runner) -> None:
        resumed = checkpoint_to_resume(runner.cfg, runner.work_dir)
        position = runner.message_hub.pop_info(POSITION_KEY)  # left by a loop that does not continue from it
        if position and "epoch_step" in position:
            raise InputError(
                f"{resumed}: the run stopped at step {position['epoch_step']} of {position['epoch_length']} of "
                f"epoch {position['epoch'] + 1}; {type(runner.train_loop).__name__} can only continue from the end "
                "of an epoch: set train_cfg.type='ResumableEpochBasedTrainLoop' (the project's tools/train.py "
                "does), or resume from an epoch checkpoint")
        if position:
            runner.logger.warning(f"{type(runner.train_loop).__name__} continues the run at its iteration, but its "
                                  "random generators from their seeds (ResumableIterBasedTrainLoop restores them)")
        self.stop = self._interruption("training", graceful=True)
        leave_signals_to_parent(runner.train_loop.dataloader)  # mmengine's epoch loop starts its workers later
        self._seen = runner.message_hub.get_info("last_ckpt")
        self._note_latest(runner, resumed)
        if self.stop.requested():
            raise self.stop.stopped(f"before training began; {self.stop.latest}")

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        self._note_saves(runner)
        if self.stop.requested():
            self._stop(runner, batch_idx)

    def after_train_epoch(self, runner) -> None:
        self._note_saves(runner)

    def after_train(self, runner) -> None:
        self._release()

    def before_val(self, runner) -> None:
        leave_signals_to_parent(runner.val_loop.dataloader)

    # -- evaluation

    def before_test(self, runner) -> None:
        self._interruption("evaluation", graceful=False).latest = "no metrics were written"
        leave_signals_to_parent(runner.test_loop.dataloader)

    def after_test(self, runner) -> None:
        self._release()

    # -- the stop

    def _note_latest(self, runner, path: str | None) -> None:
        self._latest = path
        if path:
            self.stop.latest = f"the latest checkpoint is {path}; {how_to_continue(runner.cfg, path)}"

    def _note_saves(self, runner) -> None:
        """Name the checkpoint the CheckpointHook wrote last (for a stop at once by a second signal)."""
        path = runner.message_hub.get_info("last_ckpt")
        if path != self._seen:
            self._seen = path
            self._note_latest(runner, path)

    def _stop(self, runner, batch_idx: int) -> None:
        generators = rng_state()
        loop = runner.train_loop
        done = runner.iter + 1
        if isinstance(loop, EpochBasedTrainLoop):
            length = len(loop.dataloader)
            where = f"at epoch {runner.epoch + 1} of {loop.max_epochs}, step {batch_idx + 1} of {length}"
            if not isinstance(loop, ResumableEpochBasedTrainLoop):
                _barrier()
                left = (f"the latest checkpoint is {self._latest} and --resume repeats epoch {runner.epoch + 1} "
                        "from its start" if self._latest else "no checkpoint was written; run again to start over")
                raise self.stop.stopped(f"{where}; {type(loop).__name__} continues only from the end of an epoch, "
                                        f"so nothing was saved: {left}")
            position = {"epoch": runner.epoch, "epoch_step": batch_idx + 1, "epoch_length": length}
        else:
            total = getattr(loop, "max_iters", None)
            where = f"at iteration {done}" + (f" of {total}" if total else "")
            position = {}
        position["rng"] = _all_ranks(generators)
        path = save_stop_checkpoint(runner, position)
        _barrier()  # rank 0 has written the checkpoint before any rank ends (a launcher then stops the others)
        raise self.stop.stopped(f"{where}: {path} holds the run up to there; {how_to_continue(runner.cfg, path)}")


def _checkpoint_hook(runner) -> CheckpointHook | None:
    return next((h for h in runner.hooks if isinstance(h, CheckpointHook)), None)


def save_stop_checkpoint(runner, position: dict) -> str:
    """Save the run after the iteration just done, ``position`` in the message hub (rank 0 writes); returns the
    path. An iteration-based CheckpointHook saves it (``iter_N.pth``; ``max_keep_ckpts`` counts it); otherwise it
    is ``iter_N.pth`` beside the epoch checkpoints, and ``last_checkpoint`` points at it."""
    hook = _checkpoint_hook(runner)
    runner.message_hub.update_info(POSITION_KEY, position)
    try:
        if hook is not None and not hook.by_epoch and hook.save_optimizer and hook.save_param_scheduler:
            hook._save_checkpoint(runner)  # mmengine 0.10: counts it for max_keep_ckpts, writes last_checkpoint
            return hook.last_ckpt
        out_dir = hook.out_dir if hook is not None else runner.work_dir
        filename = f"iter_{runner.iter + 1}.pth"
        runner.save_checkpoint(out_dir, filename, meta=dict(epoch=runner.epoch, iter=runner.iter + 1),
                               by_epoch=False)  # rank 0 only
        path = osp.join(out_dir, filename)
        runner.message_hub.update_info("last_ckpt", path)
        if runner.rank == 0:
            write_text(osp.join(runner.work_dir, "last_checkpoint"), path)
        return path
    finally:
        runner.message_hub.pop_info(POSITION_KEY)


# ---------------------------------------------------------------------------------------------- the loops

class _RestoreBefore:
    """Iterator over ``batches`` that restores the generator ``state`` just before the item after the first
    ``skip`` (the batches a stopped run trained, which mmengine's iteration loop skips)."""

    def __init__(self, batches, skip: int, state: dict) -> None:
        self.batches, self.skip, self.state = batches, skip, state

    def __iter__(self):
        return self

    def __next__(self):
        if self.state is not None and self.skip == 0:
            set_rng_state(self.state)
            self.state = None
        self.skip -= 1
        return next(self.batches)


@LOOPS.register_module()
class ResumableIterBasedTrainLoop(IterBasedTrainLoop):
    """mmengine's ``IterBasedTrainLoop`` whose resumed run, after skipping the batches the stopped run trained,
    restores the random generators the stop saved (:class:`StopOnSignalHook`); its loader workers ignore the
    stop signals."""

    def __init__(self, runner, dataloader, *args, **kwargs) -> None:
        super().__init__(runner, _train_loader(runner, dataloader), *args, **kwargs)

    def run(self):
        position = self.runner.message_hub.pop_info(POSITION_KEY)
        state = _own_generators(self.runner, position) if position else None
        if state is not None:
            self.dataloader_iterator = _RestoreBefore(self.dataloader_iterator, self._iter, state)
        return super().run()


@LOOPS.register_module()
class ResumableEpochBasedTrainLoop(EpochBasedTrainLoop):
    """mmengine's ``EpochBasedTrainLoop`` that continues a run stopped mid-epoch (:class:`StopOnSignalHook`) at
    the step where it stopped: the resumed epoch skips (loads and drops) the batches the stopped run trained,
    restores the random generators the stop saved and trains the rest with their own batch indices. Its loader
    workers ignore the stop signals."""

    def __init__(self, runner, dataloader, *args, **kwargs) -> None:
        super().__init__(runner, _train_loader(runner, dataloader), *args, **kwargs)
        self._resume_at: tuple[int, dict | None] | None = None

    def run(self):
        position = self.runner.message_hub.pop_info(POSITION_KEY)
        if position and "epoch_step" in position:
            length = len(self.dataloader)
            if position["epoch_length"] != length:
                raise InputError(
                    f"{checkpoint_to_resume(self.runner.cfg, self.runner.work_dir)}: the run stopped at step "
                    f"{position['epoch_step']} of the {position['epoch_length']} steps of epoch "
                    f"{position['epoch'] + 1}; an epoch of this run has {length} steps (another number of "
                    "processes or batch size): continue it with the settings it was started with")
            self._resume_at = (position["epoch_step"], _own_generators(self.runner, position))
        return super().run()

    def run_epoch(self) -> None:
        if self._resume_at is None:
            return super().run_epoch()
        skip, state = self._resume_at
        self._resume_at = None
        self.runner.logger.info(f"epoch {self._epoch + 1}: skipping the {skip} batches the stopped run trained")
        self.runner.call_hook("before_train_epoch")
        self.runner.model.train()
        batches = iter(self.dataloader)
        for _ in range(skip):
            next(batches)
        if state is not None:
            set_rng_state(state)
        for idx, data_batch in enumerate(batches, start=skip):
            self.run_iter(idx, data_batch)
        self.runner.call_hook("after_train_epoch")
        self._epoch += 1
