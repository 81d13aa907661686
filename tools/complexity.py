#!/usr/bin/env python
"""Params and GFLOPs of WaveFormer-S/B/L at 224x224 (fvcore, SDPA counted), next to the paper's figures.

    python tools/complexity.py                 # markdown table on stdout
    python tools/complexity.py --json out.json # also write the numbers

Columns: ours as built (WaveMSA in stages 1-2, no auxiliary head), ours with the token-labelling head,
ours with WaveMSA in stages 1-3 (the published code's ``i < 3``), the paper's table, and Wave-ViT counted
the same way (quoted from docs/DESIGN.md, where it was measured on its authors' code).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import warnings

import timm
import torch

import wavemsa  # noqa: F401  (registers the models)
from wavemsa.cli import output_file, positive_int
from wavemsa.complexity import count_flops, count_params
from wavemsa.errors import run_main
from wavemsa.waveformer import ARCH_SETTINGS, MIN_INPUT_SIZE

PAPER = {"s": (23.2, 4.9), "b": (32.9, 6.7), "l": (55.7, 13.8)}
WAVE_VIT = {"s": (22.24, 4.62), "b": (33.00, 7.17), "l": (56.96, 14.73)}


def measure(variant: str, size: int = 224, **kwargs) -> tuple[float, float]:
    """(params in M, GFLOPs) of ``wavemsa_<variant>`` built with ``kwargs``."""
    model = timm.create_model(f"wavemsa_{variant}", **kwargs).eval()
    with torch.no_grad():
        flops = count_flops(model, torch.randn(1, 3, size, size))
    return count_params(model) / 1e6, flops / 1e9


def variants(text: str) -> list[str]:
    """``--variants``: comma-separated WaveFormer variants."""
    names = [v.strip() for v in text.split(",") if v.strip()]
    unknown = [v for v in names if v not in ARCH_SETTINGS]
    if not names or unknown:
        raise argparse.ArgumentTypeError(f"expected variants among {', '.join(sorted(ARCH_SETTINGS))}, got {text!r}")
    return names


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--variants", type=variants, default="s,b,l")
    parser.add_argument("--size", type=positive_int, default=224, help="image side (>= the total stride, 32)")
    parser.add_argument("--json", type=output_file, help="write the numbers to this file")
    args = parser.parse_args(argv)
    if args.size < MIN_INPUT_SIZE:
        parser.error(f"argument --size: the smallest image a WaveFormer takes is {MIN_INPUT_SIZE} (its total "
                     f"stride), got {args.size}")
    warnings.filterwarnings("ignore")

    rows = {}
    print("| model | params (M) | GFLOPs | + aux head params (M) | stages 1-3 WaveMSA: params / GFLOPs "
          "| paper: params / GFLOPs | Wave-ViT: params / GFLOPs |")
    print("|---|---|---|---|---|---|---|")
    for v in args.variants:
        p, f = measure(v, args.size)
        p_aux, _ = measure(v, args.size, token_label=True)
        p3, f3 = measure(v, args.size, wave_stages=3)
        rows[v] = dict(params_m=p, gflops=f, params_aux_m=p_aux, params_wave3_m=p3, gflops_wave3=f3,
                       paper=PAPER.get(v), wave_vit=WAVE_VIT.get(v))
        paper = "{:.1f} / {:.1f}".format(*PAPER[v]) if v in PAPER else "-"
        wvit = "{:.2f} / {:.2f}".format(*WAVE_VIT[v]) if v in WAVE_VIT else "-"
        print(f"| WaveFormer-{v.upper()} | {p:.2f} | {f:.2f} | {p_aux:.2f} | {p3:.2f} / {f3:.2f} | {paper} | {wvit} |")
    if args.json:
        os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
        with open(args.json, "w") as fh:
            json.dump(rows, fh, indent=2)


if __name__ == "__main__":
    sys.exit(run_main(main, prog="complexity.py"))
