#!/usr/bin/env python
"""How much float32 rounding alone moves each parameter gradient of a WaveFormer: float32 vs float64, same model,
same input, same drop-path draws. A gradient whose own rounding error is near a comparison's tolerance cannot be
held to that tolerance between two formulations (tools/equivalence.py compares the library with the reference).

    python tools/grad_conditioning.py --arch s --batch-size 8 --out output/grad_conditioning.json
"""
from __future__ import annotations

import argparse
import copy
import json
import sys
from pathlib import Path

import timm
import torch

import wavemsa  # noqa: F401  (registers the models)
from wavemsa.cli import positive_int
from wavemsa.errors import run_main
from wavemsa.waveformer import ARCH_SETTINGS


def gradients(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, dtype: torch.dtype) -> dict[str, torch.Tensor]:
    """Parameter gradients of the cross-entropy loss of a ``dtype`` copy of ``model`` (train mode), in float64."""
    model = copy.deepcopy(model).to(dtype).train()
    torch.manual_seed(1)  # the same drop-path draws in every call
    torch.nn.functional.cross_entropy(model(x.to(dtype)), y).backward()
    return {k: p.grad.double() for k, p in model.named_parameters() if p.grad is not None}


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="grad_conditioning.py", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--arch", choices=sorted(ARCH_SETTINGS), default="s")
    p.add_argument("--batch-size", type=positive_int, default=8)
    p.add_argument("--img-size", type=positive_int, default=224)
    p.add_argument("--top", type=positive_int, default=8, help="gradients listed, worst first")
    p.add_argument("--out", type=Path, default=Path("output/grad_conditioning.json"))
    args = p.parse_args(argv)
    torch.manual_seed(0)
    model = timm.create_model(f"wavemsa_{args.arch}")
    x = torch.randn(args.batch_size, 3, args.img_size, args.img_size)
    y = torch.randint(0, model.num_classes, (args.batch_size,))
    exact, single = gradients(model, x, y, torch.float64), gradients(model, x, y, torch.float32)
    largest = max(g.abs().max().item() for g in exact.values())
    rows = []
    for name, g in exact.items():
        scale = g.abs().max().item()
        diff = (single[name] - g).abs().max().item()
        zero = scale <= 1e-12 * largest  # 0 up to float64 rounding
        rows.append(dict(name=name, max_abs_float64=scale, max_abs_diff=diff, relative=None if zero else diff / scale))
    ranked = sorted((r for r in rows if r["relative"] is not None), key=lambda r: -r["relative"])
    zero = [r["name"] for r in rows if r["relative"] is None]
    result = dict(arch=args.arch, batch_size=args.batch_size, img_size=args.img_size, worst=ranked[:args.top],
                  zero_in_float64=zero)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1))
    for r in ranked[:args.top]:
        print(f"{r['relative']:.2e}  {r['name']}  (max |grad| {r['max_abs_float64']:.2e})")
    print(f"{len(zero)} gradients are 0 in float64 (biases before a training-mode BatchNorm): "
          + ", ".join(zero[:4]) + (" ..." if len(zero) > 4 else ""))


if __name__ == "__main__":
    sys.exit(run_main(main, prog="grad_conditioning.py"))
