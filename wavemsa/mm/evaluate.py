"""Test entry point shared by ``object_detection/tools/test.py`` and ``semantic_segmentation/tools/test.py``.

    python object_detection/tools/test.py CONFIG CHECKPOINT [--metrics-json FILE] [--show-dir DIR] [--out OUT]
    object_detection/tools/dist_test.sh CONFIG CHECKPOINT NUM_PROCESSES [options]

The checkpoint must hold every weight of the model with its shape, read with ``weights_only=True``
(``CheckpointFitHook``): a truncated file, a classification checkpoint or one of another model is a one-line
error naming the file, never an evaluation of random weights. Rank 0 writes the metrics (the framework's names:
``coco/bbox_mAP``, ..., or ``aAcc``, ``mIoU``, ``mAcc``) as JSON to ``--metrics-json`` (default
``<work dir>/metrics.json``). SIGINT, SIGTERM or SIGUSR1 end the evaluation at once with one line and status
128 + the signal. The work dir is not locked: evaluating a checkpoint of a training that is still running, in its
own work dir, is common, and the evaluation writes only a new timestamped log folder, ``metrics.json`` and
mmengine's copy of the config there.
"""
from __future__ import annotations

import argparse
import os.path as osp
from functools import partial

from ..cli import existing_file, output_file, output_folder, positive_float, positive_int
from ..errors import InputError, run_main
from ..files import write_json
from ..runs import Interruption
from .config import add_common_args, dataset_leaves, load_config
from .device import adapt_to_device
from .outputs import float_metrics
from .task import Task, get_task
from .train import build_runner

__all__ = ["main", "run"]


def parse_args(argv: list[str] | None, task: Task) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=f"Test (and evaluate) a {task.model_word} ({task.scope} config)")
    p.add_argument("config", type=existing_file, help="config file")
    p.add_argument("checkpoint", type=existing_file, help="checkpoint written by tools/train.py")
    p.add_argument("--metrics-json", type=output_file, help="where the metrics go (default: <work dir>/metrics.json)")
    p.add_argument("--out", help="also save the raw predictions: detection a .pkl file, segmentation a folder "
                   "of label-map PNGs")
    p.add_argument("--show", action="store_true", help="show the painted predictions in a window")
    p.add_argument("--show-dir", type=output_folder,
                   help="save the inputs with their predictions painted into this folder")
    p.add_argument("--show-interval", type=positive_int, help="paint every N-th image (default: the config's)")
    p.add_argument("--wait-time", type=positive_float, default=2.0, help="seconds per image with --show")
    p.add_argument("--tta", action="store_true", help="test-time augmentation (the config's tta_model and "
                   "tta_pipeline)")
    add_common_args(p)
    return p.parse_args(argv)


def enable_tta(cfg) -> None:
    """Wrap the model in the config's ``tta_model`` and test with its ``tta_pipeline``."""
    if "tta_model" not in cfg or "tta_pipeline" not in cfg:
        raise InputError("--tta: the config defines no tta_model / tta_pipeline")
    for ds in dataset_leaves(cfg.test_dataloader.dataset):
        ds["pipeline"] = cfg.tta_pipeline
    cfg.model = dict(cfg.tta_model, module=cfg.model)


def main(argv: list[str] | None = None, task: Task | str = "detection") -> dict[str, float]:
    """Test; return the metrics (on every rank)."""
    task = get_task(task) if isinstance(task, str) else task
    args = parse_args(argv, task)
    cfg = load_config(args)
    cfg.load_from = args.checkpoint
    cfg.model.backbone.init_cfg = None  # the weights come from the checkpoint
    if args.show or args.show_dir:
        task.enable_visualization(cfg, args)
    if args.tta:
        enable_tta(cfg)
    if args.out:
        task.set_out(cfg, args.out)
    adapt_to_device(cfg)
    with Interruption("evaluation", graceful=False) as stop:
        stop.latest = "no metrics were written"
        runner = build_runner(cfg)
        metrics = float_metrics(runner.test())
    if runner.rank == 0:
        path = write_json(args.metrics_json or osp.join(cfg.work_dir, "metrics.json"), metrics)
        print(f"metrics written to {path}")
        task.after_test(args)
    return metrics


def run(task: str) -> int:
    """``sys.exit(run('segmentation'))``: :func:`main` with one-line errors for known bad input."""
    return run_main(partial(main, task=task))
