"""Train a segmentor with MMSegmentation 1.x (mmseg's ``tools/train.py`` plus CPU support and plots).

    python semantic_segmentation/tools/train.py CONFIG [--work-dir DIR] [--amp] [--resume]
    semantic_segmentation/tools/dist_train.sh CONFIG 8            # torchrun, one process per GPU

Without CUDA the GPU configs still run (SyncBN -> BN, gloo). Logs, TensorBoard events and the
checkpoints go to the work dir (default ``work_dirs/<config name>``), with ``training_curves.png``.
"""
from __future__ import annotations

import argparse
import logging
import os
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))  # the wavemsa_seg plug-in

from mmengine.config import Config, DictAction  # noqa: E402
from mmengine.logging import print_log  # noqa: E402
from mmengine.runner import Runner  # noqa: E402
from mmseg.registry import RUNNERS  # noqa: E402
from wavemsa_seg.plots import plot_training_curves  # noqa: E402
from wavemsa_seg.runtime import adapt_to_device  # noqa: E402

from wavemsa.checkpoint import mmengine_safe_globals  # noqa: E402


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description="Train a segmentor")
    p.add_argument("config", help="train config file path")
    p.add_argument("--work-dir", help="the dir to save logs and models")
    p.add_argument("--resume", action="store_true", help="resume from the latest checkpoint in the work dir")
    p.add_argument("--amp", action="store_true", help="automatic mixed precision (AmpOptimWrapper)")
    p.add_argument("--cfg-options", nargs="+", action=DictAction,
                   help="override config settings, key=value pairs (e.g. train_cfg.max_iters=100)")
    p.add_argument("--launcher", choices=["none", "pytorch", "slurm", "mpi"], default="none")
    # torch.distributed.launch passes --local-rank / --local_rank; torchrun sets LOCAL_RANK
    p.add_argument("--local_rank", "--local-rank", type=int, default=0)
    args = p.parse_args(argv)
    os.environ.setdefault("LOCAL_RANK", str(args.local_rank))
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    cfg = Config.fromfile(args.config)
    cfg.launcher = args.launcher
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get("work_dir", None) is None:
        cfg.work_dir = osp.join("./work_dirs", osp.splitext(osp.basename(args.config))[0])

    if args.amp:
        if cfg.optim_wrapper.type == "AmpOptimWrapper":
            print_log("AMP training is already enabled in your config.", logger="current",
                      level=logging.WARNING)
        else:
            assert cfg.optim_wrapper.type == "OptimWrapper", (
                f"--amp needs optim_wrapper.type 'OptimWrapper', got {cfg.optim_wrapper.type!r}")
            cfg.optim_wrapper.type = "AmpOptimWrapper"
            cfg.optim_wrapper.loss_scale = "dynamic"
    cfg.resume = args.resume
    cfg = adapt_to_device(cfg, args.launcher)
    # a visualizer per run, named after the experiment (mmseg names them all "visualizer", and a second
    # run in the same process would otherwise log into the first one's folder)
    cfg.visualizer.pop("name", None)

    runner = Runner.from_cfg(cfg) if "runner_type" not in cfg else RUNNERS.build(cfg)
    with mmengine_safe_globals():  # resume / load_from
        runner.train()
    if runner.rank == 0:
        png = plot_training_curves(runner.log_dir, osp.join(cfg.work_dir, "training_curves.png"))
        if png:
            print_log(f"training curves: {png}", logger="current")


if __name__ == "__main__":
    main()
