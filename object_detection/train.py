"""Train a WaveFormer detector with MMDetection 3.x (single process, or one process per device).

    python object_detection/train.py CONFIG [--work-dir DIR] [--amp] [--resume [CKPT]] [--data-root DIR]
    object_detection/dist_train.sh CONFIG NUM_PROCESSES [options]          # torchrun underneath

Without CUDA, fp16 configs train in float32 and multi-process training uses gloo (see wavemsa_det.cli).
"""
from __future__ import annotations

import argparse
import os
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))  # `wavemsa_det`, named by the configs' custom_imports

from mmengine.registry import RUNNERS  # noqa: E402
from mmengine.runner import Runner  # noqa: E402
from wavemsa_det.cli import add_common_args, check_data, cpu_distributed_fallback, load_config  # noqa: E402
from wavemsa_det.plots import plot_training  # noqa: E402

from wavemsa.checkpoint import mmengine_safe_globals  # noqa: E402


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description="Train a detector (MMDetection 3.x config)")
    p.add_argument("config", help="config file, e.g. configs/wavemsa/mask_rcnn_wavemsa_s_fpn_1x_coco.py")
    p.add_argument("--amp", action="store_true", help="mixed precision through mmengine's AmpOptimWrapper")
    p.add_argument("--auto-scale-lr", action="store_true",
                   help="scale the learning rate by total batch size / auto_scale_lr.base_batch_size")
    p.add_argument("--resume", nargs="?", const="auto", metavar="CKPT",
                   help="resume from CKPT, or from the latest checkpoint of the work dir when no path is given")
    p.add_argument("--pretrained", metavar="CKPT",
                   help="initialise the backbone from this classification checkpoint (replaces its init_cfg)")
    add_common_args(p)
    args = p.parse_args(argv)
    os.environ.setdefault("LOCAL_RANK", str(args.local_rank))
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    cfg = load_config(args, amp=args.amp)
    if args.pretrained:
        cfg.model.backbone.init_cfg = dict(type="Pretrained", checkpoint=args.pretrained)
    if args.auto_scale_lr:
        cfg.auto_scale_lr.enable = True
    if args.resume == "auto":
        cfg.resume, cfg.load_from = True, None
    elif args.resume:
        cfg.resume, cfg.load_from = True, args.resume
    check_data(cfg, args, ("train", "val") if cfg.get("val_cfg") else ("train",))
    cpu_distributed_fallback(cfg)
    runner = Runner.from_cfg(cfg) if "runner_type" not in cfg else RUNNERS.build(cfg)
    with mmengine_safe_globals():  # resume / load_from: mmengine checkpoints, read with weights_only=True
        runner.train()
    if runner.rank == 0:
        for png in plot_training(cfg.work_dir):
            print(f"plot: {png}")


if __name__ == "__main__":
    main()
