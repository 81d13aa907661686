"""Test (and evaluate) a segmentor with MMSegmentation 1.x.

    python semantic_segmentation/tools/test.py CONFIG CHECKPOINT [--work-dir DIR] [--show-dir DIR]
    semantic_segmentation/tools/dist_test.sh CONFIG CHECKPOINT 8

Writes the metrics (mmseg's names: aAcc, mIoU, mAcc, in %) to ``<work dir>/metrics.json``. With
``--show-dir`` mmseg's visualizer paints ground truth | prediction over the input image for every
``--show-interval``-th batch and the PNGs are left directly in that folder.
"""
from __future__ import annotations

import argparse
import glob
import json
import os
import os.path as osp
import shutil
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))  # the wavemsa_seg plug-in

from mmengine.config import Config, DictAction  # noqa: E402
from mmengine.runner import Runner  # noqa: E402
from wavemsa_seg.runtime import adapt_to_device  # noqa: E402

from wavemsa.checkpoint import mmengine_safe_globals  # noqa: E402


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description="MMSeg test (and eval) a model")
    p.add_argument("config", help="test config file path")
    p.add_argument("checkpoint", help="checkpoint file")
    p.add_argument("--work-dir", help="where logs and metrics.json go (default work_dirs/<config name>)")
    p.add_argument("--out", help="directory to save the predicted label maps (PNG) for offline evaluation")
    p.add_argument("--show", action="store_true", help="show prediction results in a window")
    p.add_argument("--show-dir", help="directory where painted images (ground truth | prediction) are saved")
    p.add_argument("--show-interval", type=int, default=None,
                   help="paint every N-th batch (default: the config's visualization hook interval)")
    p.add_argument("--wait-time", type=float, default=2, help="the interval of --show (s)")
    p.add_argument("--cfg-options", nargs="+", action=DictAction,
                   help="override config settings, key=value pairs")
    p.add_argument("--launcher", choices=["none", "pytorch", "slurm", "mpi"], default="none")
    p.add_argument("--tta", action="store_true", help="test-time augmentation (multi-scale + flip)")
    p.add_argument("--local_rank", "--local-rank", type=int, default=0)
    args = p.parse_args(argv)
    os.environ.setdefault("LOCAL_RANK", str(args.local_rank))
    return args


def enable_visualization(cfg: Config, args: argparse.Namespace) -> Config:
    """Turn on the config's ``SegVisualizationHook`` for --show / --show-dir."""
    if "visualization" not in cfg.default_hooks:
        raise RuntimeError("--show/--show-dir need a visualization hook: "
                           "default_hooks.visualization=dict(type='SegVisualizationHook')")
    hook = cfg.default_hooks.visualization
    hook.draw = True
    if args.show_interval is not None:
        hook.interval = args.show_interval
    if args.show:
        hook.show = True
        hook.wait_time = args.wait_time
    if args.show_dir:
        cfg.visualizer.save_dir = args.show_dir
        # painted images are the point here: keep them out of TensorBoard event files
        cfg.visualizer.vis_backends = [dict(type="LocalVisBackend")]
    return cfg


def collect_painted(show_dir: str) -> list[str]:
    """Move the PNGs mmengine's LocalVisBackend wrote under ``show_dir/vis_data/vis_image`` up into
    ``show_dir`` itself; return their new paths."""
    moved = []
    for src in sorted(glob.glob(osp.join(show_dir, "vis_data", "vis_image", "*.png"))):
        dst = osp.join(show_dir, osp.basename(src))
        os.replace(src, dst)
        moved.append(dst)
    shutil.rmtree(osp.join(show_dir, "vis_data"), ignore_errors=True)
    return moved


def write_json(obj: dict, path: str) -> None:
    """Write ``obj`` as JSON atomically (temp file + os.replace)."""
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    tmp = f"{path}.tmp"
    with open(tmp, "w") as f:
        json.dump(obj, f, indent=2)
        f.write("\n")
    os.replace(tmp, path)


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    if not osp.isfile(args.checkpoint):
        raise FileNotFoundError(f"checkpoint {args.checkpoint!r} does not exist")
    cfg = Config.fromfile(args.config)
    cfg.launcher = args.launcher
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get("work_dir", None) is None:
        cfg.work_dir = osp.join("./work_dirs", osp.splitext(osp.basename(args.config))[0])
    cfg.load_from = args.checkpoint
    if args.show or args.show_dir:
        cfg = enable_visualization(cfg, args)
    if args.tta:
        cfg.test_dataloader.dataset.pipeline = cfg.tta_pipeline
        cfg.tta_model.module = cfg.model
        cfg.model = cfg.tta_model
    if args.out is not None:
        cfg.test_evaluator["output_dir"] = args.out
        cfg.test_evaluator["keep_results"] = True
    cfg = adapt_to_device(cfg, args.launcher)
    # a visualizer per run, named after the experiment (mmseg names them all "visualizer", and a second
    # run in the same process would otherwise log into the first one's folder)
    cfg.visualizer.pop("name", None)

    runner = Runner.from_cfg(cfg)
    with mmengine_safe_globals():  # resume / load_from
        metrics = runner.test()
    if runner.rank == 0:
        metrics = {k: float(v) for k, v in metrics.items()}
        out = dict(config=args.config, checkpoint=args.checkpoint, **metrics)
        write_json(out, osp.join(cfg.work_dir, "metrics.json"))
        print(json.dumps(metrics))
        if args.show_dir:
            painted = collect_painted(args.show_dir)
            print(f"{len(painted)} painted predictions in {args.show_dir}")
    return metrics


if __name__ == "__main__":
    main()
