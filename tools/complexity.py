#!/usr/bin/env python
"""Params and GFLOPs of WaveFormer-S/B/L at 224x224 (fvcore, SDPA counted), next to the paper's figures.

    python tools/complexity.py                 # markdown table on stdout
    python tools/complexity.py --json out.json # also write the numbers
    python tools/complexity.py --record asset/records/complexity-DATE.json  # and a run record
    python tools/complexity.py --from-record asset/records/complexity-DATE.json --plot asset/complexity-DATE.png

Columns: ours as built (WaveMSA in stages 1-2, the Frequency Finer on the WBB's subbands as in the paper's figure,
no auxiliary head), the published code's reading of the Frequency Finer (``frequency_finer='input'``: the layer
input, keys and values on the H/sr grid; same parameters), ours with the token-labelling head, ours with WaveMSA in
stages 1-3 (the published code's ``i < 3``), the paper's table, and Wave-ViT counted the same way (quoted from
docs/DESIGN.md, where it was measured on its authors' code). The JSON also holds both readings' GFLOPs without the
attention products (q·kᵀ and attention·v), the counting the paper's B and L figures fit, and fvcore's count of what
the library executes (dense channel-wavelet convs, fixed-weight wavelet convs; see wavemsa/complexity.py).
"""
from __future__ import annotations

import argparse
import json
import sys
import warnings
from pathlib import Path

import timm
import torch

import wavemsa  # noqa: F401  (registers the models)
from wavemsa.cli import existing_file, output_file, positive_int
from wavemsa.complexity import count_params, executed_flops, flop_analysis
from wavemsa.errors import InputError, run_main
from wavemsa.files import atomic_write, write_json
from wavemsa.records import write_record
from wavemsa.waveformer import ARCH_SETTINGS, MIN_INPUT_SIZE

PAPER = {"s": (23.2, 4.9), "b": (32.9, 6.7), "l": (55.7, 13.8)}
WAVE_VIT = {"s": (22.24, 4.62), "b": (33.00, 7.17), "l": (56.96, 14.73)}


def measure(variant: str, size: int = 224, **kwargs) -> tuple[float, float, float]:
    """(params in M, GFLOPs, GFLOPs without the attention products) of ``wavemsa_<variant>`` built with
    ``kwargs``."""
    model = timm.create_model(f"wavemsa_{variant}", **kwargs).eval()
    with torch.no_grad():
        analysis = flop_analysis(model, torch.randn(1, 3, size, size))
        flops = analysis.total()
        products = analysis.by_operator().get("scaled_dot_product_attention", 0)
    return count_params(model) / 1e6, flops / 1e9, (flops - products) / 1e9


def variants(text: str) -> list[str]:
    """``--variants``: comma-separated WaveFormer variants."""
    names = [v.strip() for v in text.split(",") if v.strip()]
    unknown = [v for v in names if v not in ARCH_SETTINGS]
    if not names or unknown:
        raise argparse.ArgumentTypeError(f"expected variants among {', '.join(sorted(ARCH_SETTINGS))}, got {text!r}")
    return names


def plot(variants_: dict, size: int, path: str | Path) -> Path:
    """Params against GFLOPs of each variant: ours in both Frequency Finer readings, the paper's, Wave-ViT's."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(variants_)
    series = {"WaveFormer, subbands (default)": [(r["params_m"], r["gflops"]) for r in variants_.values()],
              "WaveFormer, published reading ('input')": [(r["params_m"], r["gflops_published_reading"])
                                                          for r in variants_.values()],
              "paper's table": [tuple(r["paper"]) for r in variants_.values() if r.get("paper")],
              "Wave-ViT (same counting)": [tuple(r["wave_vit"]) for r in variants_.values() if r.get("wave_vit")]}
    fig, ax = plt.subplots(figsize=(6, 4))
    for (label, points), marker in zip(series.items(), "osx^"):
        ax.plot(*zip(*points), marker=marker, label=label)
    for name, (x, y) in zip(names, series["WaveFormer, subbands (default)"]):
        ax.annotate(name.upper(), (x, y), textcoords="offset points", xytext=(-12, 6), fontsize=9)
    ax.set_xlabel("parameters (M)")
    ax.set_ylabel(f"GFLOPs at {size}x{size}")
    ax.set_title("WaveFormer-S/B/L: fvcore, attention products counted", fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=110))
    plt.close(fig)
    return Path(path)


def read_complexity_record(path: str) -> tuple[int, dict]:
    """(size, per-variant numbers) of a run record written by ``--record``."""
    try:
        metrics = json.loads(Path(path).read_text())["metrics"]
        return metrics["size"], metrics["variants"]
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise InputError(f"--from-record {path}: not a run record of tools/complexity.py ({err})") from None


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--variants", type=variants, default="s,b,l")
    parser.add_argument("--size", type=positive_int, default=224, help="image side (>= the total stride, 32)")
    parser.add_argument("--json", type=output_file, help="write the numbers to this file")
    parser.add_argument("--record", type=output_file, help="write a run record (the numbers, commit, machine) here")
    parser.add_argument("--plot", type=output_file, help="draw params against GFLOPs into this PNG")
    parser.add_argument("--from-record", type=existing_file,
                        help="with --plot: draw the numbers of this run record instead of counting")
    args = parser.parse_args(argv)
    if args.from_record:
        if not args.plot:
            parser.error("argument --from-record: needs --plot")
        size, numbers = read_complexity_record(args.from_record)
        print(plot(numbers, size, args.plot))
        return
    if args.size < MIN_INPUT_SIZE:
        parser.error(f"argument --size: the smallest image a WaveFormer takes is {MIN_INPUT_SIZE} (its total "
                     f"stride), got {args.size}")
    warnings.filterwarnings("ignore")

    rows = {}
    print("| model | params (M) | GFLOPs | published reading: GFLOPs | + aux head params (M) "
          "| stages 1-3 WaveMSA: params / GFLOPs | paper: params / GFLOPs | Wave-ViT: params / GFLOPs |")
    print("|---|---|---|---|---|---|---|---|")
    for v in args.variants:
        p, f, f_np = measure(v, args.size)
        _, f_input, f_input_np = measure(v, args.size, frequency_finer="input")
        p_aux = count_params(timm.create_model(f"wavemsa_{v}", token_label=True)) / 1e6
        p3, f3, _ = measure(v, args.size, wave_stages=3)
        with torch.no_grad():
            f_run = executed_flops(timm.create_model(f"wavemsa_{v}").eval(), torch.randn(1, 3, args.size, args.size))
        rows[v] = dict(params_m=p, gflops=f, gflops_published_reading=f_input, params_aux_m=p_aux,
                       params_wave3_m=p3, gflops_wave3=f3, gflops_no_attention_products=f_np,
                       gflops_published_reading_no_attention_products=f_input_np, gflops_executed=f_run / 1e9,
                       paper=PAPER.get(v),
                       wave_vit=WAVE_VIT.get(v))
        paper = "{:.1f} / {:.1f}".format(*PAPER[v]) if v in PAPER else "-"
        wvit = "{:.2f} / {:.2f}".format(*WAVE_VIT[v]) if v in WAVE_VIT else "-"
        print(f"| WaveFormer-{v.upper()} | {p:.2f} | {f:.2f} | {f_input:.2f} | {p_aux:.2f} | {p3:.2f} / {f3:.2f} "
              f"| {paper} | {wvit} |")
    if args.json:
        write_json(args.json, rows)
    if args.record:
        write_record(args.record, {"size": args.size, "variants": {v: {k: round(x, 4) if isinstance(x, float) else x
                                                                      for k, x in r.items()}
                                                                  for v, r in rows.items()}}, name="complexity")
    if args.plot:
        plot(rows, args.size, args.plot)


if __name__ == "__main__":
    sys.exit(run_main(main, prog="complexity.py"))
