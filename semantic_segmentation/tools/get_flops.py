"""Parameters and FLOPs of segmentors at a given input size (default 512x512), as mmseg counts them.

    python semantic_segmentation/tools/get_flops.py CONFIG [CONFIG ...] [--shape 512 512] [--markdown]

The model runs in ``tensor`` mode (backbone, neck and decode head up to its 1/4-resolution logits; the
auxiliary head, a training-only branch, is removed), traced by mmengine's FLOP counter (fvcore's rules:
one multiply-add = one FLOP). ``F.scaled_dot_product_attention``, which that counter does not know, is
counted as its two matrix products. Params exclude the auxiliary head; the ``aux`` column gives it.
"""
from __future__ import annotations

import argparse
import json
import os.path as osp
import sys
from collections.abc import Sequence
from math import prod
from typing import Any

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))  # the wavemsa_seg plug-in

import torch  # noqa: E402
from mmengine.analysis import FlopAnalyzer  # noqa: E402
from mmengine.analysis.jit_handles import get_shape  # noqa: E402
from mmengine.config import Config, DictAction  # noqa: E402
from mmengine.model import revert_sync_batchnorm  # noqa: E402
from mmengine.registry import init_default_scope  # noqa: E402


def sdpa_flops(q: Sequence[int], k: Sequence[int], v: Sequence[int]) -> int:
    """FLOPs of scaled-dot-product attention with q (..., N, d), k (..., M, d), v (..., M, dv):
    q k^T (N*M*d) plus attn v (N*M*dv) per batch-head."""
    return prod(q[:-2]) * q[-2] * k[-2] * (q[-1] + v[-1])


def sdpa_flop_jit(inputs: list[Any], outputs: list[Any]) -> int:
    """mmengine FlopAnalyzer handle for ``aten::scaled_dot_product_attention``."""
    return sdpa_flops(*(get_shape(x) for x in inputs[:3]))


def complexity(cfg: Config, shape: Sequence[int]) -> dict:
    """Params (M), auxiliary-head params (M) and GFLOPs of ``cfg.model`` on a (1, 3, H, W) input."""
    from mmseg.registry import MODELS

    init_default_scope(cfg.get("default_scope", "mmseg"))
    model = revert_sync_batchnorm(MODELS.build(cfg.model)).eval()
    aux = getattr(model, "auxiliary_head", None)
    aux_params = sum(p.numel() for p in aux.parameters()) if aux is not None else 0
    if aux is not None:
        model.auxiliary_head = None
    params = sum(p.numel() for p in model.parameters())
    x = torch.rand(1, 3, *shape)
    with torch.no_grad():
        flops = FlopAnalyzer(model, (x,)).set_op_handle(
            "aten::scaled_dot_product_attention", sdpa_flop_jit)
        flops.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
        total = flops.total()
    return dict(params_m=params / 1e6, aux_params_m=aux_params / 1e6, gflops=total / 1e9,
                shape=list(shape))


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description="Params and FLOPs of segmentors")
    p.add_argument("configs", nargs="+", help="config file(s)")
    p.add_argument("--shape", type=int, nargs="+", default=[512, 512], help="input H [W] (default 512 512)")
    p.add_argument("--cfg-options", nargs="+", action=DictAction, help="override config settings")
    p.add_argument("--markdown", action="store_true", help="print a markdown table")
    p.add_argument("--out", help="also write the results as JSON to this file")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> list[dict]:
    args = parse_args(argv)
    if len(args.shape) not in (1, 2):
        raise SystemExit("--shape takes H or H W")
    shape = tuple(args.shape) * (2 // len(args.shape))
    rows = []
    for path in args.configs:
        cfg = Config.fromfile(path)
        if args.cfg_options:
            cfg.merge_from_dict(args.cfg_options)
        cfg.model.pretrained = None
        cfg.model.backbone.init_cfg = None
        rows.append(dict(config=path, **complexity(cfg, shape)))
    if args.markdown:
        print(f"| config | params (M) | aux head (M) | GFLOPs @ {shape[0]}x{shape[1]} |")
        print("|---|---|---|---|")
        for r in rows:
            print(f"| {osp.basename(r['config'])} | {r['params_m']:.2f} | {r['aux_params_m']:.2f} "
                  f"| {r['gflops']:.1f} |")
    else:
        for r in rows:
            print(f"{r['config']}\n  input {shape[0]}x{shape[1]}  params {r['params_m']:.2f} M "
                  f"(+{r['aux_params_m']:.2f} M auxiliary head)  FLOPs {r['gflops']:.2f} G")
    if args.out:
        with open(args.out, "w") as f:
            json.dump(rows, f, indent=2)
    return rows


if __name__ == "__main__":
    main()
