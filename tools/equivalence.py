#!/usr/bin/env python
"""Check on a device that the library's WaveFormer computes the published formulation (the GPU check's third part).

Same weights (BatchNorm statistics calibrated on the input), float32 with TF32 off: eval outputs of the published
formulation vs the library (autograd path, in-place inference path) and fused vs unfused; in training the loss and
the worst parameter gradient, library vs reference; optionally (``--compile``) compiled vs eager, at inference and
for a training step; and the fused model and the training loss under each reduced ``--dtype`` (autocast) vs float32.
Every comparison has a tolerance relative to the compared tensor's largest magnitude (tools/benchmarking/checks.py).

Writes OUT (JSON) and, with ``--record``, a run record; exits with status 1 when a comparison fails::

    python tools/equivalence.py --device cuda --arch s --batch-size 8 --dtype float16 bfloat16 \\
        --out output/gpu_check/equivalence.json
"""
from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
for _path in (REPO, Path(__file__).resolve().parent):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

from benchmark import resolve_device  # noqa: E402
from benchmarking.checks import equivalence  # noqa: E402
from benchmarking.models import parse_size  # noqa: E402
from benchmarking.report import write_text_atomic  # noqa: E402
from benchmarking.runners import DTYPES, Precision  # noqa: E402

from wavemsa.cli import device_or_auto, positive_int  # noqa: E402
from wavemsa.errors import run_main  # noqa: E402
from wavemsa.waveformer import ARCH_SETTINGS  # noqa: E402


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="equivalence.py", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--arch", choices=sorted(ARCH_SETTINGS), default="s", help="WaveFormer variant")
    p.add_argument("--device", type=device_or_auto, default="auto", help="auto (cuda when present), cpu, cuda ...")
    p.add_argument("--batch-size", type=positive_int, default=8)
    p.add_argument("--img-size", type=parse_size, default=(224, 224), help="N or HxW")
    p.add_argument("--num-classes", type=positive_int, default=1000)
    p.add_argument("--dtype", nargs="*", choices=sorted(DTYPES), default=["bfloat16"],
                   help="reduced precisions to compare with float32 under autocast")
    p.add_argument("--compile", action="store_true", help="also compare torch.compile with eager")
    p.add_argument("--compile-backend", default="inductor")
    p.add_argument("--threads", type=positive_int, default=2)
    p.add_argument("--out", type=Path, default=REPO / "output" / "equivalence.json")
    p.add_argument("--record", type=Path, default=None, help="also write a run record (wavemsa.records) here")
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> dict:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    report = equivalence(args.arch, device, args.batch_size, args.img_size,
                         [Precision.parse(d) for d in args.dtype], args.num_classes, args.compile,
                         args.compile_backend)
    report["command"] = "python tools/equivalence.py " + " ".join(sys.argv[1:] if argv is None else argv)
    write_text_atomic(args.out, json.dumps(report, indent=2) + "\n")
    if args.record is not None:
        from wavemsa.records import write_record

        write_record(args.record, report, name="equivalence", command=report["command"])
    for e in report["entries"]:
        print(f"{'ok  ' if e['ok'] else 'FAIL'} {e['name']}: max |diff| {e['max_abs_diff']:.2e} "
              f"(max |value| {e['max_abs']:.2e}, relative {e['rel']:.1e} <= {e['tol']:.0e})")
    print(f"wrote {args.out}", file=sys.stderr)
    if not report["ok"]:
        raise SystemExit(1)
    return report


if __name__ == "__main__":
    sys.exit(run_main(main, prog="equivalence.py"))
