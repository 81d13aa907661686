"""Inference speed (images / s) of a segmentor, batch 1, as mmseg's benchmark measures it.

    python semantic_segmentation/tools/benchmark.py CONFIG [CHECKPOINT] [--num-images 200]
    python semantic_segmentation/tools/benchmark.py CONFIG --random-input 512 512   # no dataset needed

Images come from the config's test set (its test pipeline, incl. resizing and sliding/whole inference)
or, with ``--random-input H W``, are random tensors of that size. The first ``--warmup`` images are not
timed. The result is printed and written to ``<work dir>/fps.json``.
"""
from __future__ import annotations

import argparse
import os.path as osp
import sys
import time

import torch
from mmengine.config import Config
from mmengine.model import revert_sync_batchnorm
from mmengine.registry import init_default_scope
from mmengine.runner import Runner
from tqdm import tqdm

from wavemsa.cli import existing_file, image_side, non_negative_int, output_folder, positive_int
from wavemsa.errors import run_main
from wavemsa.mm.checkpoint import check_checkpoint_fits
from wavemsa.mm.config import cfg_options_action, default_work_dir, merge_cfg_options
from wavemsa.mm.outputs import write_json_atomic


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description="Inference FPS of a segmentor")
    p.add_argument("config", type=existing_file)
    p.add_argument("checkpoint", nargs="?", type=existing_file,
                   help="weights to load (speed does not depend on them)")
    p.add_argument("--num-images", type=positive_int, default=200, help="timed images (default %(default)s)")
    p.add_argument("--warmup", type=non_negative_int, default=5, help="untimed images first (default %(default)s)")
    p.add_argument("--random-input", type=image_side, nargs=2, metavar=("H", "W"),
                   help="time random H x W inputs instead of the test set")
    p.add_argument("--work-dir", type=output_folder, help="where fps.json goes (default work_dirs/<config name>)")
    p.add_argument("--cfg-options", nargs="+", action=cfg_options_action(), help="override config settings")
    return p.parse_args(argv)


def _batches(cfg: Config, args: argparse.Namespace, model: torch.nn.Module):
    """Yield preprocessed (inputs, data_samples) batches of one image, forever."""
    if args.random_input:
        from mmseg.structures import SegDataSample

        h, w = args.random_input
        sample = SegDataSample(metainfo=dict(ori_shape=(h, w), img_shape=(h, w), pad_shape=(h, w)))
        data = model.data_preprocessor(dict(inputs=[torch.randint(0, 256, (3, h, w), dtype=torch.uint8)],
                                            data_samples=[sample]), False)
        while True:
            yield data["inputs"], data["data_samples"]
    cfg.test_dataloader.batch_size = 1
    loader = Runner.build_dataloader(cfg.test_dataloader)
    while True:
        for data in loader:
            data = model.data_preprocessor(data, False)
            yield data["inputs"], data["data_samples"]


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    cfg = Config.fromfile(args.config)
    merge_cfg_options(cfg, args.cfg_options, args.config)
    init_default_scope(cfg.get("default_scope", "mmseg"))
    from mmseg.registry import MODELS

    cfg.model.pretrained = None
    cfg.model.backbone.init_cfg = None
    cfg.model.train_cfg = None
    model = MODELS.build(cfg.model)
    if args.checkpoint:
        model.load_state_dict(check_checkpoint_fits(model, args.checkpoint), strict=False)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    model = revert_sync_batchnorm(model).to(device).eval()

    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    batches = _batches(cfg, args, model)
    elapsed = 0.0
    with torch.no_grad():
        for i in tqdm(range(args.warmup + args.num_images), desc="benchmark", unit="img"):
            inputs, samples = next(batches)
            sync()
            t0 = time.perf_counter()
            model(inputs, samples, mode="predict")
            sync()
            if i >= args.warmup:
                elapsed += time.perf_counter() - t0
    fps = args.num_images / elapsed
    source = "random " + "x".join(map(str, args.random_input)) if args.random_input else "test set"
    result = dict(config=args.config, device=device, threads=torch.get_num_threads(), input=source,
                  images=args.num_images, fps=round(fps, 3))
    work_dir = args.work_dir or default_work_dir(args.config)
    write_json_atomic(result, osp.join(work_dir, "fps.json"))
    print(f"{fps:.2f} img/s ({device}, {result['threads']} threads, {result['input']})")
    return result


if __name__ == "__main__":
    sys.exit(run_main(main))
