#!/usr/bin/env python
"""Per-part and per-kernel time of one training step and one inference step (torch.profiler), models side by side.

Each model is built and stepped by the benchmark's runners (tools/benchmarking/runners.py: inference fused for
WaveFormer, training = forward + loss + backward + AdamW), warmed up, timed without the profiler, then profiled;
the profiler's events are grouped by model part (stem, WBB reduce / DWT / filter / IDWT / resume, Frequency Finer
+ kv reduction, attention, FFN, norms, layout copies, ...; see tools/benchmarking/profiling.py). On the CPU the
time is self CPU time; on CUDA (``--device cuda``, the same command) it is kernel time, with the kernel counts.

Writes OUT.json (meta + one profile per model and mode), OUT.md (the side-by-side table, top ops/kernels, the
parts' legend), OUT.png (bar chart) and, with ``--record``, a run record (wavemsa.records).

Example (the CPU table of tools/README_benchmark.md)::

    python tools/profile_step.py --models wavemsa_s pvt_v2_b2 --batch-size 16 --threads 2 --out output/profile/cpu

(Not named ``profile.py``: a script of that name in ``tools/`` would shadow the standard library's ``profile``
module, which ``torch._dynamo`` imports through ``cProfile``.)
"""
from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
for _path in (REPO, Path(__file__).resolve().parent):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

import timm  # noqa: E402
from benchmark import device_name, load_average, resolve_device  # noqa: E402
from benchmarking.models import Spec, build_models, model_spec, parse_size, prepare  # noqa: E402
from benchmarking.profiling import markdown, plot, profile_runner  # noqa: E402
from benchmarking.report import write_text_atomic  # noqa: E402
from benchmarking.runners import DTYPES, MODES, RUNNERS, Precision, make_inputs  # noqa: E402

from wavemsa.cli import device_or_auto, non_negative_int, positive_int  # noqa: E402
from wavemsa.errors import InputError, run_main  # noqa: E402


def run(args: argparse.Namespace) -> dict:
    device = resolve_device(args.device)
    torch.set_num_threads(args.threads)
    torch.backends.cudnn.benchmark = args.cudnn_benchmark
    dtype = args.dtype or ("float16" if device.type == "cuda" else "float32")
    precision = Precision.parse(dtype, args.amp)
    specs = [Spec.parse(s) for s in args.models]
    if any(s.kind == "nofuse" for s in specs) and "train" in args.modes:
        raise InputError("--models NAME:nofuse profiles inference only: add --modes infer")
    built = build_models(specs, args.img_size, False, args.num_classes)
    x, target = make_inputs(args.batch_size, args.img_size, args.num_classes)
    profiles = []
    trace_dir = Path(args.trace_dir) if args.trace_dir else None
    for mode in args.modes:
        for spec in specs:
            runner = RUNNERS[mode](spec.label, prepare(spec, built[spec.label], mode), x, target, precision, device)
            trace = None
            if trace_dir is not None:
                trace_dir.mkdir(parents=True, exist_ok=True)
                trace = str(trace_dir / f"{spec.label.replace(':', '-')}_{mode}.json")
            profiles.append(profile_runner(runner, args.warmup, args.repeats, args.steps, trace))
            print(f"[profile] {mode} {spec.label}: {profiles[-1]['step_ms']:.1f} ms per step", file=sys.stderr)
            del runner
    meta = dict(command="python tools/profile_step.py " + " ".join(args.argv), torch=torch.__version__,
                timm=timm.__version__, python=platform.python_version(), device=str(device),
                device_name=device_name(device), threads=args.threads, batch_size=args.batch_size,
                img_size=list(args.img_size), precision=precision.label, cudnn_benchmark=args.cudnn_benchmark,
                warmup=args.warmup, repeats=args.repeats, steps=args.steps, load_average=load_average(),
                date=time.strftime("%Y-%m-%d %H:%M:%S %Z"))
    return dict(meta=meta, profiles=profiles)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="profile_step.py", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", nargs="+", type=model_spec, default=["wavemsa_s", "pvt_v2_b2"],
                   help="timm names, NAME:reference or NAME:nofuse (as in tools/benchmark.py)")
    p.add_argument("--modes", nargs="+", choices=MODES, default=list(MODES))
    p.add_argument("--img-size", type=parse_size, default=(224, 224), help="N or HxW")
    p.add_argument("--batch-size", type=positive_int, default=16)
    p.add_argument("--threads", type=positive_int, default=2, help="torch.set_num_threads")
    p.add_argument("--dtype", choices=sorted(DTYPES), default=None,
                   help="float32, or bfloat16/float16 under autocast (default: float32 on the CPU, float16 on CUDA)")
    p.add_argument("--amp", action=argparse.BooleanOptionalAction, default=True,
                   help="autocast for a reduced --dtype (default); --no-amp stores weights and inputs in it")
    p.add_argument("--device", type=device_or_auto, default="auto", help="auto (cuda when present), cpu, cuda ...")
    p.add_argument("--cudnn-benchmark", action="store_true", help="torch.backends.cudnn.benchmark = True")
    p.add_argument("--num-classes", type=positive_int, default=1000)
    p.add_argument("--warmup", type=non_negative_int, default=1, help="steps before timing")
    p.add_argument("--repeats", type=positive_int, default=1, help="timed steps without the profiler (median)")
    p.add_argument("--steps", type=positive_int, default=1, help="profiled steps (averaged)")
    p.add_argument("--out", type=Path, default=REPO / "output" / "profile" / "profile",
                   help="writes OUT.json, OUT.md, OUT.png")
    p.add_argument("--record", type=Path, default=None, help="also write a run record (wavemsa.records) here")
    p.add_argument("--trace-dir", default=None, help="also export a Chrome trace per model and mode here")
    args = p.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    return args


def main(argv: Sequence[str] | None = None) -> dict:
    args = parse_args(argv)
    report = run(args)
    text = markdown(report)
    written = [write_text_atomic(args.out.with_suffix(".json"), json.dumps(report, indent=2) + "\n"),
               write_text_atomic(args.out.with_suffix(".md"), text)]
    plot(report, args.out.with_suffix(".png"))
    written.append(args.out.with_suffix(".png"))
    if args.record is not None:
        from wavemsa.records import write_record

        written.append(write_record(args.record, report, name="profile", command=report["meta"]["command"]))
    print(text)
    print("wrote " + ", ".join(str(p) for p in written), file=sys.stderr)
    return report


if __name__ == "__main__":
    sys.exit(run_main(main, prog="profile_step.py"))
