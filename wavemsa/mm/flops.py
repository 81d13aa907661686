"""Parameters and FLOPs of detectors and segmentors, counted by the library's counter.

    python object_detection/tools/get_flops.py CONFIG [CONFIG ...] [--shape H W] [--json OUT]
    python semantic_segmentation/tools/get_flops.py CONFIG [CONFIG ...] [--shape H [W]] [--json OUT]

:func:`wavemsa.complexity.flop_analysis` (fvcore: one fused multiply-add = one FLOP, plus rules for
``scaled_dot_product_attention`` and the in-place ``addmm_`` that fvcore and mmengine leave uncounted) traces
the model's ``mode='tensor'`` forward once; the backbone column is the backbone's share of that trace, which
equals what the library counts for the backbone alone. Weights are not loaded (no checkpoint needed).
"""
from __future__ import annotations

import argparse
from functools import partial

import torch
from torch import nn

from ..cli import existing_file, image_side, output_file
from ..complexity import count_params, flop_analysis
from ..errors import run_main
from ..files import write_json
from .config import cfg_options_action, merge_cfg_options
from .task import Task, get_task

__all__ = ["complexity", "main", "run"]


class TensorForward(nn.Module):
    """``forward(inputs)`` = ``model(inputs, samples, mode='tensor')`` (what the counter traces)."""

    def __init__(self, model: nn.Module, samples: list | None) -> None:
        super().__init__()
        self.model, self.samples = model, samples

    def forward(self, inputs: torch.Tensor):
        return self.model(inputs, self.samples, mode="tensor")


def complexity(task: Task, config: str, height: int, width: int, cfg_options: dict | None = None) -> dict:
    """{'config', 'input', 'params_M', 'backbone_params_M', 'gflops', 'backbone_gflops'} of ``config``'s model
    on one (1, 3, height, width) image (padded as its data preprocessor pads)."""
    from mmengine.config import Config
    from mmengine.registry import init_default_scope

    cfg = Config.fromfile(config)
    merge_cfg_options(cfg, cfg_options, config)
    init_default_scope(cfg.get("default_scope", task.scope))
    cfg.model.backbone.init_cfg = None
    model = task.flops_model(cfg).eval()
    inputs, samples = task.flops_inputs(model, height, width)
    torch.manual_seed(0)
    with torch.no_grad():
        analysis = flop_analysis(TensorForward(model, samples), (inputs,))
        total, backbone = analysis.total(), analysis.by_module()["model.backbone"]
    h, w = inputs.shape[-2:]
    return {"config": config, "input": f"{w}x{h}", "params_M": count_params(model) / 1e6,
            "backbone_params_M": count_params(model.backbone) / 1e6, "gflops": total / 1e9,
            "backbone_gflops": backbone / 1e9}


def parse_args(argv: list[str] | None, task: Task) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=f"Parameters and FLOPs of {task.model_word}s")
    p.add_argument("configs", nargs="+", type=existing_file, metavar="CONFIG")
    p.add_argument("--shape", type=image_side, nargs="+", default=list(task.flops_shape), metavar="H [W]",
                   help=f"input height and width (default {task.flops_shape[0]} {task.flops_shape[1]})")
    p.add_argument("--json", type=output_file, help="also write the rows to this JSON file")
    p.add_argument("--cfg-options", nargs="+", action=cfg_options_action(), metavar="KEY=VALUE")
    args = p.parse_args(argv)
    if len(args.shape) > 2:
        p.error(f"argument --shape: takes H or H W, got {len(args.shape)} numbers")
    return args


def main(argv: list[str] | None = None, task: Task | str = "detection") -> list[dict]:
    """Print a markdown table of the configs' models; return the rows."""
    task = get_task(task) if isinstance(task, str) else task
    args = parse_args(argv, task)
    height, width = args.shape * (2 // len(args.shape))
    print("| config | input (WxH) | params (M) | backbone params (M) | GFLOPs | backbone GFLOPs |\n"
          "|---|---|---:|---:|---:|---:|")
    rows = []
    for config in args.configs:
        row = complexity(task, config, height, width, args.cfg_options)
        rows.append(row)
        print(f"| {row['config']} | {row['input']} | {row['params_M']:.2f} | {row['backbone_params_M']:.2f} "
              f"| {row['gflops']:.3g} | {row['backbone_gflops']:.3g} |", flush=True)
    if args.json:
        write_json(args.json, rows)
    return rows


def run(task: str) -> int:
    """``sys.exit(run('detection'))``: :func:`main` with one-line errors for known bad input."""
    return run_main(partial(main, task=task))
