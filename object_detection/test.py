"""Evaluate a trained detector with MMDetection 3.x (COCO metrics by pycocotools).

    python object_detection/test.py CONFIG CHECKPOINT [--metrics-json FILE] [--out results.pkl] [--show-dir DIR]
    object_detection/dist_test.sh CONFIG CHECKPOINT NUM_PROCESSES [options]
"""
from __future__ import annotations

import argparse
import os
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))  # `wavemsa_det`, named by the configs' custom_imports

from mmengine.registry import RUNNERS  # noqa: E402
from mmengine.runner import Runner  # noqa: E402
from wavemsa_det.cli import (  # noqa: E402
    add_common_args,
    check_data,
    cpu_distributed_fallback,
    load_config,
    write_json_atomic,
)

from wavemsa.checkpoint import mmengine_safe_globals  # noqa: E402


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description="Test a detector (MMDetection 3.x config)")
    p.add_argument("config", help="config file")
    p.add_argument("checkpoint", help="checkpoint saved by train.py (or a converted one)")
    p.add_argument("--metrics-json", help="also write the metrics (mmdet names, e.g. coco/bbox_mAP) here")
    p.add_argument("--out", help="dump the raw predictions to this .pkl file")
    p.add_argument("--show-dir", help="save images with predictions drawn under WORK_DIR/SHOW_DIR")
    add_common_args(p)
    args = p.parse_args(argv)
    os.environ.setdefault("LOCAL_RANK", str(args.local_rank))
    return args


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    if not osp.isfile(args.checkpoint):
        raise FileNotFoundError(f"checkpoint not found: {args.checkpoint}")
    cfg = load_config(args)
    cfg.load_from = args.checkpoint
    # the weights come from the checkpoint: don't read the backbone's pretrained file again
    cfg.model.backbone.init_cfg = None
    if args.show_dir:
        cfg.default_hooks.visualization.update(draw=True, test_out_dir=args.show_dir)
    if args.out:
        evaluators = cfg.test_evaluator if isinstance(cfg.test_evaluator, list) else [cfg.test_evaluator]
        cfg.test_evaluator = [*evaluators, dict(type="DumpDetResults", out_file_path=args.out)]
    check_data(cfg, args, ("test",))
    cpu_distributed_fallback(cfg)
    runner = Runner.from_cfg(cfg) if "runner_type" not in cfg else RUNNERS.build(cfg)
    with mmengine_safe_globals():  # the checkpoint (mmengine's), read with weights_only=True
        metrics = runner.test()
    if args.metrics_json and runner.rank == 0:
        write_json_atomic({k: float(v) for k, v in metrics.items()}, args.metrics_json)
        print(f"metrics written to {args.metrics_json}")
    return metrics


if __name__ == "__main__":
    main()
