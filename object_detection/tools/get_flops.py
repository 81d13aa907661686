"""Parameters and FLOPs of a full detector (backbone + neck + heads) at a given input size.

    python object_detection/tools/get_flops.py CONFIG [CONFIG ...] [--shape 1280 800] [--json OUT]

Counted by ``wavemsa.complexity.count_flops`` (fvcore: one fused multiply-add = one FLOP, the
convention of MMDetection's get_flops and of the papers' tables, plus a rule for
``scaled_dot_product_attention``, which fvcore/mmengine leave uncounted) on the ``mode='tensor'``
forward of the detector, i.e. with proposals / RoI heads included. Two-stage detectors count the RoI
heads on the proposals their (untrained) RPN keeps, as MMDetection's tool does. Weights are not loaded.
"""
from __future__ import annotations

import argparse
import json
import os.path as osp
import sys

import torch
from torch import nn

from wavemsa.complexity import count_flops, count_params

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))  # `wavemsa_det`


class _TensorForward(nn.Module):
    """Wraps a detector so that ``forward(inputs)`` runs ``detector(inputs, samples, mode='tensor')``."""

    def __init__(self, detector: nn.Module, samples: list) -> None:
        super().__init__()
        self.detector, self.samples = detector, samples

    def forward(self, inputs: torch.Tensor):
        return self.detector(inputs, self.samples, mode="tensor")


def complexity(config: str, width: int = 1280, height: int = 800, cfg_options: dict | None = None) -> dict:
    """{'config', 'params_M', 'gflops', 'input'} of the detector of ``config`` on a (1, 3, H, W) input."""
    from mmdet.registry import MODELS
    from mmdet.structures import DetDataSample
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    from mmengine.structures import InstanceData

    cfg = Config.fromfile(config)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    init_default_scope(cfg.get("default_scope", "mmdet"))
    cfg.model.backbone.init_cfg = None
    model = MODELS.build(cfg.model)
    model.init_weights()  # e.g. Sparse R-CNN's learned proposals start as whole-image boxes
    model.eval()
    div = cfg.model.data_preprocessor.get("pad_size_divisor", 1) or 1
    h, w = -(-height // div) * div, -(-width // div) * div
    sample = DetDataSample(metainfo=dict(img_shape=(h, w), ori_shape=(h, w), pad_shape=(h, w),
                                         batch_input_shape=(h, w), scale_factor=(1.0, 1.0)))
    # query-based heads (Sparse R-CNN) read the (here empty) ground truth even in tensor mode
    sample.gt_instances = InstanceData(bboxes=torch.zeros(0, 4), labels=torch.zeros(0, dtype=torch.long))
    torch.manual_seed(0)
    with torch.no_grad():
        flops = count_flops(_TensorForward(model, [sample]), (torch.randn(1, 3, h, w),))
    return {"config": osp.basename(config), "params_M": round(count_params(model) / 1e6, 2),
            "gflops": round(flops / 1e9, 1), "input": f"{w}x{h}"}


def main(argv: list[str] | None = None) -> list[dict]:
    from mmengine.config import DictAction

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("configs", nargs="+")
    p.add_argument("--shape", type=int, nargs=2, default=[1280, 800], metavar=("W", "H"),
                   help="input width and height (default 1280 800, as in MMDetection)")
    p.add_argument("--json", help="also write the rows to this JSON file")
    p.add_argument("--cfg-options", nargs="+", action=DictAction)
    a = p.parse_args(argv)
    rows = []
    print(f"| config | params (M) | FLOPs (G) @ {a.shape[0]}x{a.shape[1]} |\n|---|---|---|")
    for config in a.configs:
        row = complexity(config, a.shape[0], a.shape[1], a.cfg_options)
        rows.append(row)
        print(f"| {row['config']} | {row['params_M']:.2f} | {row['gflops']:.1f} |", flush=True)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(rows, f, indent=2)
    return rows


if __name__ == "__main__":
    main()
