"""Training entry point shared by ``object_detection/tools/train.py`` and ``semantic_segmentation/tools/train.py``.

    python object_detection/tools/train.py CONFIG [--work-dir DIR] [--amp] [--resume [CKPT]] [--pretrained CKPT]
    object_detection/tools/dist_train.sh CONFIG NUM_PROCESSES [options]     # torchrun underneath

The options are checked when parsed and the config's ``--cfg-options`` keys must exist. The data, the
backbone's pretrained checkpoint and a ``load_from`` / ``--resume`` checkpoint are checked by the components
the configs use (checked datasets, the backbone's ``init_weights``, ``CheckpointFitHook``), so MMDetection's
and MMSegmentation's own ``tools/train.py`` run the same checks; here they become one-line errors. Without
CUDA the GPU configs still run (:mod:`wavemsa.mm.device`). Rank 0 writes ``training_curves.png`` into the
work dir at the end.

The work dir belongs to one training at a time (:class:`wavemsa.runs.RunLock` in ``WORK_DIR/.lock``, held by
rank 0 once torch.distributed is up): a second training on it is refused with one line naming the first. SIGINT,
SIGTERM and SIGUSR1 end the iteration under way, save a checkpoint there and exit with one line and status
128 + the signal; ``--resume`` continues exactly from it (:mod:`wavemsa.mm.stops`).
"""
from __future__ import annotations

import argparse
from functools import partial

from ..cli import existing_file
from ..errors import InputError, run_main
from ..runs import Interruption, RunLock
from .config import add_common_args, load_config
from .device import adapt_to_device, enable_amp, init_distributed
from .outputs import plot_training
from .stops import adopt_resumed_seed, enable_stops
from .task import Task, get_task

__all__ = ["build_runner", "main", "run"]


def _resume_arg(text: str) -> str:
    return text if text == "auto" else existing_file(text)


def parse_args(argv: list[str] | None, task: Task) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=f"Train a {task.model_word} ({task.scope} config)")
    p.add_argument("config", type=existing_file, help="config file")
    p.add_argument("--amp", action="store_true", help="mixed precision through mmengine's AmpOptimWrapper "
                   "(dynamic loss scale; float32 on a machine without CUDA)")
    p.add_argument("--auto-scale-lr", action="store_true",
                   help="scale the learning rate by total batch size / auto_scale_lr.base_batch_size")
    p.add_argument("--resume", nargs="?", const="auto", type=_resume_arg, metavar="CKPT",
                   help="resume from CKPT, or from the latest checkpoint of the work dir when no path is given")
    p.add_argument("--pretrained", type=existing_file, metavar="CKPT",
                   help="initialise the backbone from this classification checkpoint (replaces the "
                   "config's init_cfg checkpoint, keeps its use_ema)")
    add_common_args(p)
    return p.parse_args(argv)


def build_runner(cfg):
    """mmengine's Runner of ``cfg`` (or the config's ``runner_type``), its visualizer named after the run
    (mmdet / mmseg name theirs all 'visualizer': a second run in one process would log into the first's), with
    :class:`~wavemsa.mm.stops.StopOnSignalHook` and the resumable training loops
    (:func:`~wavemsa.mm.stops.enable_stops`). The one place where both entry points build their runner."""
    from mmengine.registry import RUNNERS
    from mmengine.runner import Runner

    if cfg.get("visualizer"):
        cfg.visualizer.pop("name", None)
    enable_stops(cfg)
    return Runner.from_cfg(cfg) if "runner_type" not in cfg else RUNNERS.build(cfg)


def main(argv: list[str] | None = None, task: Task | str = "detection") -> str:
    """Train; return the work dir."""
    task = get_task(task) if isinstance(task, str) else task
    args = parse_args(argv, task)
    cfg = load_config(args)
    if args.pretrained:
        init_cfg = dict(cfg.model.backbone.get("init_cfg") or {})
        cfg.model.backbone.init_cfg = dict(init_cfg, type="Pretrained", checkpoint=args.pretrained)
    if args.amp:
        enable_amp(cfg)
    if args.auto_scale_lr:
        if "base_batch_size" not in (cfg.get("auto_scale_lr") or {}):
            raise InputError(f"--auto-scale-lr: {args.config} has no auto_scale_lr.base_batch_size")
        cfg.auto_scale_lr.enable = True
    if args.resume == "auto":
        cfg.resume, cfg.load_from = True, None
    elif args.resume:
        cfg.resume, cfg.load_from = True, args.resume
    adapt_to_device(cfg)
    init_distributed(cfg)  # before the lock: rank 0 takes it, every rank learns the outcome
    adopt_resumed_seed(cfg)
    with RunLock(cfg.work_dir, "training", "use another --work-dir"), Interruption("training"):
        runner = build_runner(cfg)
        runner.train()
    if runner.rank == 0:
        png = plot_training(cfg.work_dir, task.curve_metrics, metric_label=task.metric_label)
        if png:
            print(f"training curves: {png}")
    return cfg.work_dir


def run(task: str) -> int:
    """``sys.exit(run('detection'))``: :func:`main` with one-line errors for known bad input."""
    return run_main(partial(main, task=task))

