#!/usr/bin/env python
"""Throughput, latency and peak memory of timm models, measured side by side in one process.

Every model named with ``--models`` is built once; then, for each resolution, mode (``infer``: forward under
``torch.inference_mode``; ``train``: forward + backward + AdamW step) and precision (``--dtype``), the models are
timed **interleaved** (model A, model B, ..., A, B, ...) for ``--repeats`` rounds after ``--warmup`` rounds, and the
median is reported. Interleaving makes the ratios robust to load on a shared machine; absolute numbers are not
comparable between machines. The parts live in ``tools/benchmarking/`` (specs, runners, memory probe, checks,
report); ``tools/profile_step.py`` profiles the same steps.

Model specs (``--models``): any timm model name; ``NAME:reference`` (the published formulation loaded with the
weights of ``NAME``); ``NAME:nofuse`` (a WaveFormer at inference without ``model.fuse()``). Plain WaveFormer specs
are fused for inference and trained unfused.

Precision (``--dtype``, several give rows for each): float32, or bfloat16 / float16 under autocast (``--no-amp``:
weights and inputs stored in that dtype instead). The default is float32 on the CPU and float16 autocast on CUDA.
``--check`` compares, at inference on the benchmark input, ``NAME:reference`` / ``NAME:nofuse`` with ``NAME``
(float32) and every model under each reduced precision with its float32 output (and, with ``--compile``, compiled
with eager). ``--backbone-only`` measures the feature pyramid (timm ``features_only=True``). Peak memory: on CUDA
``torch.cuda.max_memory_allocated``; on the CPU (``--memory``) the resident set size that one step adds, measured in
a fresh subprocess per model (see tools/benchmarking/memory.py).

Example (the README table)::

    python tools/benchmark.py --models wavemsa_s pvt_v2_b2 wavemsa_s:reference --batch-size 16 \\
        --threads 2 --repeats 5 --check --out output/benchmark --plot
"""
from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
for _path in (REPO, Path(__file__).resolve().parent):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

import timm  # noqa: E402
from benchmarking.checks import compiled_differences, output_differences  # noqa: E402
from benchmarking.memory import (  # noqa: E402,F401  (re-exported for callers of this script's module)
    keep_freed_memory,
    measure_in_subprocess,
    peak_memory_of,
    proc_status_mb,
)
from benchmarking.models import Spec, build_models, model_spec, parse_size, prepare  # noqa: E402,F401
from benchmarking.report import markdown, write_reports  # noqa: E402
from benchmarking.runners import (  # noqa: E402
    DTYPES,
    MODES,
    RUNNERS,
    Precision,
    Result,
    make_inputs,
    measure_interleaved,
)

from wavemsa.cli import device_or_auto, non_negative_int, positive_int  # noqa: E402
from wavemsa.errors import InputError, run_main  # noqa: E402

_proc_status_mb = proc_status_mb  # the name the tests and older notes use


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise InputError(f"--device {name}: CUDA is not available on this machine")
    return device


def precisions_of(args: argparse.Namespace, device: torch.device) -> list[Precision]:
    """``--dtype`` (default: float32 on the CPU, float16 on CUDA) with ``--amp`` (default on)."""
    dtypes = args.dtype or (["float16"] if device.type == "cuda" else ["float32"])
    return [Precision.parse(d, args.amp) for d in dict.fromkeys(dtypes)]


def _memory_probe_args(args: argparse.Namespace, spec: Spec, mode: str, size: tuple[int, int],
                       precision: Precision) -> list[str]:
    return ["--models", spec.label, "--modes", mode, "--img-size", f"{size[0]}x{size[1]}",
            "--batch-size", str(args.batch_size), "--threads", str(args.threads), "--dtype", precision.dtype,
            "--amp" if precision.amp else "--no-amp", "--device", "cpu", "--num-classes", str(args.num_classes),
            "--malloc", args.malloc,
            *["--backbone-only"] * args.backbone_only, *["--channels-last"] * args.channels_last]


def _memory_probe(args: argparse.Namespace) -> None:
    """``--_memory-probe``: one step of one spec in this fresh process; prints ``{"peak_mb": X}``."""
    import json

    spec, mode, size = Spec.parse(args.models[0]), args.modes[0], args.img_size[0]
    torch.set_num_threads(args.threads)
    if args.malloc == "keep":
        keep_freed_memory()
    model = prepare(spec, build_models([spec], size, args.backbone_only, args.num_classes)[spec.label], mode)
    x, target = make_inputs(args.batch_size, size, args.num_classes)
    runner = RUNNERS[mode](spec.label, model, x, target, precisions_of(args, torch.device("cpu"))[0], "cpu",
                           channels_last=args.channels_last)
    if mode == "train":
        runner.step()  # the first step allocates the optimizer state: measure a steady-state step
    print(json.dumps({"peak_mb": peak_memory_of(runner.step)}))


def run(args: argparse.Namespace) -> dict:
    """Measure every (size, mode, precision, spec); returns the report (meta, results, output checks)."""
    device = resolve_device(args.device)
    torch.set_num_threads(args.threads)
    torch.backends.cudnn.benchmark = args.cudnn_benchmark
    if args.malloc == "keep" and not keep_freed_memory():
        raise InputError("--malloc keep needs glibc's mallopt, which this C library does not have")
    precisions = precisions_of(args, device)
    specs = [Spec.parse(s) for s in args.models]
    if args.backbone_only and any(s.kind == "reference" for s in specs):
        raise InputError("--backbone-only: NAME:reference is a classifier; drop one of them")
    results: list[Result] = []
    checks: dict[str, float] = {}
    scales: dict[str, float] = {}
    n_runners = sum(s.trains() or m == "infer" for s in specs for m in args.modes) * len(precisions)
    progress = _progress_bar(len(args.img_size) * n_runners * (args.warmup + args.repeats))
    if args.compile:
        torch._dynamo.utils.counters.clear()
    for size in args.img_size:
        built = build_models(specs, size, args.backbone_only, args.num_classes)
        x, target = make_inputs(args.batch_size, size, args.num_classes)
        at = f" @ {size[0]}x{size[1]}"
        if args.check:
            diffs, scale = output_differences(built, specs, x, precisions, device)
            checks.update({k + at: v for k, v in diffs.items()})
            scales.update({k + at: v for k, v in scale.items()})
        for mode in args.modes:
            runners = [RUNNERS[mode](spec.label, prepare(spec, built[spec.label], mode), x, target, precision, device,
                                     compile=args.compile, compile_backend=args.compile_backend,
                                     channels_last=args.channels_last)
                       for precision in precisions for spec in specs if spec.trains() or mode == "infer"]
            results += measure_interleaved(runners, args.warmup, args.repeats, progress)
            if args.check and args.compile:
                diffs, scale = compiled_differences(runners)
                checks.update({k + at: v for k, v in diffs.items()})
                scales.update({k + at: v for k, v in scale.items()})
            del runners
            if args.memory and device.type == "cpu":
                for r in _last_rows(results, mode, size):
                    spec = Spec.parse(r.model)
                    precision = next(p for p in precisions if p.label == r.precision)
                    r.peak_mem_mb = measure_in_subprocess(Path(__file__).resolve(),
                                                          _memory_probe_args(args, spec, mode, size, precision))
    progress(None)
    report = dict(meta=_meta(args, device, precisions), results=[r.to_json() for r in results],
                  output_check=checks, output_scale=scales)
    if args.compile:
        report["dynamo"] = _dynamo_stats(results)
    return report


def _last_rows(results: list[Result], mode: str, size: tuple[int, int]) -> list[Result]:
    return [r for r in results if r.mode == mode and tuple(r.img_size) == tuple(size)]


def _dynamo_stats(results: Sequence[Result]) -> dict:
    """Graphs, graph breaks (with their reasons) and recompilations of torch._dynamo during the run."""
    counters = torch._dynamo.utils.counters
    return dict(unique_graphs=counters["stats"]["unique_graphs"],
                graph_breaks=sum(counters["graph_break"].values()),
                graph_break_reasons=dict(counters["graph_break"]),
                recompiles=sum(r.compile["recompiles"] for r in results if r.compile))


def _progress_bar(total: int) -> Callable[[str | None], None]:
    try:
        from tqdm import tqdm
    except ImportError:  # pragma: no cover - tqdm is a project requirement
        return lambda msg: None
    bar = tqdm(total=total, desc="benchmark", unit="step", file=sys.stderr)

    def update(msg: str | None) -> None:
        if msg is None:
            bar.close()
        else:
            bar.set_postfix_str(msg)
            bar.update(1)
    return update


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    try:
        with open("/proc/cpuinfo") as f:
            return next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        return platform.processor() or platform.machine()


def load_average() -> list[float] | None:
    """The machine's 1-, 5- and 15-minute load averages (how busy it was while measuring), where known."""
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except (OSError, AttributeError):
        return None


def _meta(args: argparse.Namespace, device: torch.device, precisions: Sequence[Precision]) -> dict:
    return dict(command="python tools/benchmark.py " + " ".join(args.argv), torch=torch.__version__,
                timm=timm.__version__, python=platform.python_version(), device=str(device),
                device_name=device_name(device), threads=args.threads,
                precisions=[p.label for p in precisions], channels_last=args.channels_last,
                cudnn_benchmark=args.cudnn_benchmark, compile=args.compile,
                compile_backend=args.compile_backend, backbone_only=args.backbone_only, batch_size=args.batch_size,
                warmup=args.warmup, repeats=args.repeats, malloc=args.malloc, load_average=load_average(),
                date=time.strftime("%Y-%m-%d %H:%M:%S %Z"))


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="benchmark.py", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", nargs="+", type=model_spec, default=["wavemsa_s", "pvt_v2_b2", "wavemsa_s:reference"],
                   help="timm names, NAME:reference or NAME:nofuse (see module doc)")
    p.add_argument("--modes", nargs="+", choices=MODES, default=list(MODES))
    p.add_argument("--img-size", nargs="+", type=parse_size, default=[(224, 224)],
                   help="N or HxW; several give a scaling study")
    p.add_argument("--batch-size", type=positive_int, default=16)
    p.add_argument("--threads", type=positive_int, default=2, help="torch.set_num_threads")
    p.add_argument("--dtype", nargs="+", choices=sorted(DTYPES), default=None,
                   help="precision(s): float32, or bfloat16/float16 under autocast (default: float32 on the CPU, "
                        "float16 on CUDA); several give rows for each")
    p.add_argument("--device", type=device_or_auto, default="auto",
                   help="auto (cuda when present), cpu, cuda, cuda:1 ...")
    p.add_argument("--amp", action=argparse.BooleanOptionalAction, default=True,
                   help="reduced precision under autocast over float32 weights (default); --no-amp stores the "
                        "weights and inputs in that dtype")
    p.add_argument("--channels-last", action="store_true")
    p.add_argument("--cudnn-benchmark", action="store_true",
                   help="torch.backends.cudnn.benchmark = True (cuDNN times its algorithms on the first steps)")
    p.add_argument("--compile", action="store_true", help="torch.compile each model")
    p.add_argument("--compile-backend", default="inductor",
                   help="torch.compile backend (inductor; aot_eager traces without generating code)")
    p.add_argument("--backbone-only", action="store_true", help="features_only=True (the detection backbone)")
    p.add_argument("--num-classes", type=positive_int, default=1000)
    p.add_argument("--malloc", choices=("default", "keep"), default="default",
                   help="keep: glibc malloc keeps freed memory for reuse (no fresh pages per step; see "
                        "benchmarking/memory.py)")
    p.add_argument("--warmup", type=non_negative_int, default=1)
    p.add_argument("--repeats", type=positive_int, default=5)
    p.add_argument("--memory", action="store_true", help="CPU: measure peak RSS in a subprocess per model/mode")
    p.add_argument("--check", action="store_true",
                   help="compare outputs: NAME:reference / NAME:nofuse with NAME, reduced precision with float32, "
                        "compiled with eager")
    p.add_argument("--baseline", default=None, help="model label for the ratio column (default: second model)")
    p.add_argument("--out", type=Path, default=REPO / "output" / "benchmark", help="writes OUT.json and OUT.md")
    p.add_argument("--record", type=Path, default=None, help="also write a run record (wavemsa.records) here")
    p.add_argument("--plot", action="store_true", help="write PNG charts")
    p.add_argument("--plot-dir", type=Path, default=REPO / "asset")
    p.add_argument("--plot-prefix", default="benchmark")
    p.add_argument("--_memory-probe", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    if args.baseline is not None and args.baseline not in args.models:
        p.error(f"argument --baseline: {args.baseline!r} is not one of --models")
    return args


def main(argv: Sequence[str] | None = None) -> dict:
    args = parse_args(argv)
    if args._memory_probe:
        _memory_probe(args)
        return {}
    report = run(args)
    baseline = args.baseline or (args.models[1] if len(args.models) > 1 else None)
    text = markdown(report, baseline)
    written = write_reports(report, args.out, text, args.plot_dir if args.plot else None, args.plot_prefix,
                            args.record)
    print(text)
    print("wrote " + ", ".join(str(p) for p in written), file=sys.stderr)
    return report


if __name__ == "__main__":
    sys.exit(run_main(main, prog="benchmark.py"))
