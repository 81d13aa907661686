#!/usr/bin/env python
"""Throughput, latency and peak memory of timm models, measured side by side in one process.

Every model named with ``--models`` is built once; then, for each resolution and mode (``infer``: forward
under ``torch.inference_mode``; ``train``: forward + backward + AdamW step), the models are timed
**interleaved** (model A, model B, ..., A, B, ...) for ``--repeats`` rounds after ``--warmup`` rounds, and
the median is reported. Interleaving makes the ratios robust to load on a shared machine; absolute numbers
are not comparable between machines.

Model specs (``--models``):

* any timm model name (``pvt_v2_b2``, ``swin_tiny_patch4_window7_224``, ``wavemsa_s`` ...);
* ``NAME:reference``: ``tools/reference.py`` (the published formulation) loaded with the weights of the
  library model ``NAME`` built in the same run, so their outputs can be compared (``--check``);
* ``NAME:nofuse``: a WaveFormer measured at inference *without* ``model.fuse()`` (inference only: its
  training step is NAME's). Plain WaveFormer specs are fused for inference (BatchNorm and the
  channel-wavelet convs folded into dense convs; same function) and trained unfused.

``--backbone-only`` measures the feature pyramid (timm ``features_only=True``) instead of the classifier.
On a CUDA device (``--device auto`` picks it) the run uses autocast float16 by default (``--amp``), and
peak memory is ``torch.cuda.max_memory_allocated``; on the CPU (``--memory``) it is the peak resident set
size that one step adds above the memory in use before it, measured in a fresh subprocess per model (the
kernel's peak mark is reset just before the step; for training, after a first step that creates the
optimizer state).

Example (the README table)::

    python tools/benchmark.py --models wavemsa_s pvt_v2_b2 wavemsa_s:reference --batch-size 16 \\
        --threads 2 --repeats 5 --check --out output/benchmark --plot
"""
from __future__ import annotations

import argparse
import copy
import ctypes
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import timm  # noqa: E402
from reference import reference_wavemsa  # noqa: E402  (tools/reference.py, beside this script)

import wavemsa  # noqa: E402,F401  (registers the wavemsa_* timm models)

MODES = ("infer", "train")
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


# ----------------------------------------------------------------------------------------------------
# model specs
# ----------------------------------------------------------------------------------------------------
@dataclass
class Spec:
    """A model to measure: ``name`` (timm), ``kind`` ('' | 'reference' | 'nofuse') and the label shown."""

    name: str
    kind: str = ""

    @classmethod
    def parse(cls, text: str) -> Spec:
        name, _, kind = text.partition(":")
        if kind not in ("", "reference", "nofuse"):
            raise ValueError(f"unknown model spec suffix in {text!r}: use NAME, NAME:reference or NAME:nofuse")
        if kind and not name.startswith("wavemsa_"):
            raise ValueError(f"{text!r}: ':{kind}' applies to wavemsa_* models only")
        return cls(name, kind)

    @property
    def label(self) -> str:
        return f"{self.name}:{self.kind}" if self.kind else self.name

    @property
    def fused(self) -> bool:
        return self.name.startswith("wavemsa_") and not self.kind


def _img_size_kwargs(name: str, size: tuple[int, int]) -> dict:
    """Extra timm kwargs so a model accepts ``size`` (Swin: non-strict size, masks built per input)."""
    if name.startswith("swin"):
        return dict(img_size=size, strict_img_size=False)
    return {}


class _FeatureSum(nn.Module):
    """Wraps a features_only backbone so forward returns its list of maps (NCHW or NHWC)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        return list(self.model(x))


def build_models(specs: Sequence[Spec], size: tuple[int, int], backbone_only: bool, num_classes: int,
                 seed: int = 0) -> dict[str, nn.Module]:
    """Build every spec (train mode). ``NAME:reference`` copies the weights of a library ``NAME`` model."""
    built: dict[str, nn.Module] = {}
    library: dict[str, nn.Module] = {}

    def create(name: str) -> nn.Module:
        torch.manual_seed(seed)
        kwargs = dict(num_classes=num_classes, **_img_size_kwargs(name, size))
        if backbone_only:
            kwargs.update(features_only=True)
            return _FeatureSum(timm.create_model(name, **kwargs))
        return timm.create_model(name, **kwargs)

    for spec in specs:
        if spec.kind == "reference":
            if backbone_only:
                raise ValueError("the reference implementation is a classifier: drop --backbone-only or the spec")
            src = library.get(spec.name) or create(spec.name)
            library[spec.name] = src
            ref = reference_wavemsa(spec.name.removeprefix("wavemsa_"), num_classes=num_classes)
            ref.load_state_dict(src.state_dict())
            built[spec.label] = ref
        else:
            model = library.get(spec.name) or create(spec.name)
            library[spec.name] = model
            built[spec.label] = model
    return built


def inference_copy(spec: Spec, model: nn.Module) -> nn.Module:
    """The module to time at inference: an eval copy, fused for plain WaveFormer specs."""
    model = copy.deepcopy(model).eval()
    if spec.fused:
        target = model.model if isinstance(model, _FeatureSum) else model
        if hasattr(target, "fuse"):
            target.fuse()
        else:  # features_only wrapper of a WaveFormer: fuse its modules in place
            wavemsa.fuse.fuse_conv_bn(target)
    return model


# ----------------------------------------------------------------------------------------------------
# one step
# ----------------------------------------------------------------------------------------------------
def _loss(out, target: torch.Tensor) -> torch.Tensor:
    if isinstance(out, (list, tuple)):
        if isinstance(out, tuple) and out and out[0].dim() == 2 and len(out) == 2:  # token-label (cls, aux)
            return F.cross_entropy(out[0].float(), target)
        return sum(o.float().mean() for o in out)
    return F.cross_entropy(out.float(), target)


def make_step(model: nn.Module, mode: str, x: torch.Tensor, target: torch.Tensor, amp_dtype: torch.dtype | None,
              compile_model: bool) -> Callable[[], None]:
    """A closure running one inference forward or one training step (forward, backward, AdamW)."""
    device_type = x.device.type
    runner = torch.compile(model) if compile_model else model

    def autocast():
        return torch.autocast(device_type, dtype=amp_dtype, enabled=amp_dtype is not None)

    if mode == "infer":
        def step() -> None:
            with torch.inference_mode(), autocast():
                runner(x)
        return step

    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    scaler = torch.amp.GradScaler(device_type, enabled=amp_dtype == torch.float16)

    def step() -> None:
        with autocast():
            loss = _loss(runner(x), target)
        opt.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()
    return step


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def keep_freed_memory() -> bool:
    """``--malloc keep``: make glibc's malloc serve every block from its heap and never hand freed memory back
    to the kernel (what ``MALLOC_MMAP_MAX_=0 MALLOC_TRIM_THRESHOLD_=<huge>`` do), so that no step pays for
    fresh pages (faulted in and zeroed by the kernel). By default glibc maps blocks above a threshold
    (128 KiB, raised up to 32 MiB as such blocks are freed) afresh each time, so one model's allocations
    change the next one's costs. Returns False where the C library has no ``mallopt``."""
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    m_trim_threshold, m_mmap_max = -1, -4  # glibc's malloc.h
    return bool(mallopt(m_mmap_max, 0)) and bool(mallopt(m_trim_threshold, 2**31 - 1))


# ----------------------------------------------------------------------------------------------------
# peak memory
# ----------------------------------------------------------------------------------------------------
def _proc_status_mb(key: str) -> float | None:
    """A ``/proc/self/status`` memory field (VmRSS, VmHWM) in MiB; None where there is no procfs."""
    try:
        with open("/proc/self/status") as f:
            line = next(line for line in f if line.startswith(key + ":"))
    except (OSError, StopIteration):
        return None
    return int(line.split()[1]) / 1024


def _reset_peak_rss() -> bool:
    """Reset the kernel's peak-RSS mark (VmHWM) of this process (Linux >= 4.0)."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def _rusage_peak_mb() -> float:
    scale = 1 if platform.system() == "Darwin" else 1024  # ru_maxrss: bytes on macOS, KiB on Linux
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale / 2**20


def peak_memory_of(step: Callable[[], None]) -> float:
    """Peak resident memory (MiB) that ``step`` adds above the memory in use before it."""
    if _reset_peak_rss() and _proc_status_mb("VmRSS") is not None:
        before = _proc_status_mb("VmRSS")
        step()
        return _proc_status_mb("VmHWM") - before
    before = _rusage_peak_mb()  # fallback: growth of the lifetime peak (underestimates small steps)
    step()
    return _rusage_peak_mb() - before


def measure_memory_subprocess(args: argparse.Namespace, spec: Spec, mode: str, size: tuple[int, int]) -> float | None:
    """Peak RSS growth (MiB) of one step in a fresh process (CPU), or None when it fails."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--_memory-probe", "--models", spec.label,
           "--modes", mode, "--img-size", f"{size[0]}x{size[1]}", "--batch-size", str(args.batch_size),
           "--threads", str(args.threads), "--dtype", args.dtype, "--device", "cpu",
           "--num-classes", str(args.num_classes), "--malloc", args.malloc]
    cmd += ["--backbone-only"] * args.backbone_only + ["--channels-last"] * args.channels_last
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        print(f"[memory] {spec.label} {mode} {size}: probe failed:\n{proc.stderr[-2000:]}", file=sys.stderr)
        return None
    return json.loads(proc.stdout.strip().splitlines()[-1])["peak_mb"]


def _memory_probe(args: argparse.Namespace) -> None:
    spec, mode, size = Spec.parse(args.models[0]), args.modes[0], parse_size(args.img_size[0])
    torch.set_num_threads(args.threads)
    if args.malloc == "keep":
        keep_freed_memory()
    model = build_models([spec], size, args.backbone_only, args.num_classes)[spec.label]
    model = inference_copy(spec, model) if mode == "infer" else model.train()
    x, target = make_inputs(args, size, torch.device("cpu"))
    if args.channels_last:
        model, x = model.to(memory_format=torch.channels_last), x.to(memory_format=torch.channels_last)
    step = make_step(model, mode, x, target, None, False)
    if mode == "train":
        step()  # the first step allocates the optimizer state: measure a steady-state step
    print(json.dumps({"peak_mb": peak_memory_of(step)}))


# ----------------------------------------------------------------------------------------------------
# the benchmark
# ----------------------------------------------------------------------------------------------------
@dataclass
class Result:
    model: str
    mode: str
    img_size: tuple[int, int]
    batch_size: int
    times_s: list[float] = field(default_factory=list)
    peak_mem_mb: float | None = None

    @property
    def median_s(self) -> float:
        return statistics.median(self.times_s)

    @property
    def img_per_s(self) -> float:
        return self.batch_size / self.median_s

    def to_json(self) -> dict:
        d = asdict(self)
        d.update(median_s=self.median_s, img_per_s=self.img_per_s, latency_ms=1000 * self.median_s,
                 spread_s=[min(self.times_s), max(self.times_s)])
        return d


def parse_size(text: str | int) -> tuple[int, int]:
    """'224' -> (224, 224); '800x1333' -> (800, 1333)."""
    parts = str(text).lower().split("x")
    if len(parts) not in (1, 2) or not all(p.isdigit() for p in parts):
        raise argparse.ArgumentTypeError(f"image size must be N or HxW, got {text!r}")
    h, w = int(parts[0]), int(parts[-1])
    return h, w


def make_inputs(args: argparse.Namespace, size: tuple[int, int], device: torch.device):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(args.batch_size, 3, *size, generator=g)
    target = torch.randint(0, max(args.num_classes, 1), (args.batch_size,), generator=g)
    dtype = DTYPES[args.dtype] if device.type == "cpu" or not args.amp else torch.float32
    return x.to(device=device, dtype=dtype), target.to(device)


def check_outputs(models: dict[str, nn.Module], specs: Sequence[Spec], x: torch.Tensor) -> dict[str, float]:
    """Max |difference| of each ``NAME:reference`` / ``NAME:nofuse`` output to the measured ``NAME``
    (fused) output at inference, on the benchmark input."""
    report = {}
    outs = {}
    with torch.inference_mode():
        for spec in specs:
            model = inference_copy(spec, models[spec.label])
            outs[spec.label] = model(x).float()
    for spec in specs:
        if spec.kind and spec.name in outs:
            diff = (outs[spec.label] - outs[spec.name]).abs().max().item()
            report[f"{spec.name} vs {spec.label}"] = diff
    return report


def run(args: argparse.Namespace) -> dict:
    device = torch.device("cuda" if args.device == "auto" and torch.cuda.is_available() else
                          "cpu" if args.device == "auto" else args.device)
    torch.set_num_threads(args.threads)
    if args.malloc == "keep" and not keep_freed_memory():
        raise SystemExit("--malloc keep needs glibc's mallopt, which this C library does not have")
    if args.amp is None:
        args.amp = device.type == "cuda"
    amp_dtype = (torch.float16 if args.dtype == "float32" else DTYPES[args.dtype]) if args.amp else None
    specs = [Spec.parse(s) for s in args.models]
    sizes = [parse_size(s) for s in args.img_size]
    results: list[Result] = []
    checks: dict[str, float] = {}
    n_steps = sum(len([s for s in specs if not (m == "train" and s.kind == "nofuse")]) for m in args.modes)
    progress = _progress_bar(len(sizes) * n_steps * (args.warmup + args.repeats))
    for size in sizes:
        built = build_models(specs, size, args.backbone_only, args.num_classes)
        x, target = make_inputs(args, size, device)
        for model in built.values():
            model.to(device=device, dtype=x.dtype)
        if args.check and device.type == "cpu":
            checks.update({f"{k} @ {size[0]}x{size[1]}": v for k, v in check_outputs(built, specs, x).items()})
        for mode in args.modes:
            steps, row = {}, {}
            for spec in specs:
                if mode == "train" and spec.kind == "nofuse":
                    continue  # fusing is for inference only: its training step is NAME's
                model = inference_copy(spec, built[spec.label]) if mode == "infer" else built[spec.label].train()
                xm = x
                if args.channels_last:
                    model, xm = model.to(memory_format=torch.channels_last), x.to(memory_format=torch.channels_last)
                steps[spec.label] = make_step(model, mode, xm, target, amp_dtype, args.compile)
                row[spec.label] = Result(spec.label, mode, size, args.batch_size)
            for r in range(args.warmup + args.repeats):
                for label, step in steps.items():
                    if device.type == "cuda":
                        torch.cuda.reset_peak_memory_stats(device)
                    _sync(device)
                    t0 = time.perf_counter()
                    step()
                    _sync(device)
                    dt = time.perf_counter() - t0
                    if r >= args.warmup:
                        row[label].times_s.append(dt)
                    if device.type == "cuda":
                        row[label].peak_mem_mb = torch.cuda.max_memory_allocated(device) / 2**20
                    progress(f"{size[0]}x{size[1]} {mode} {label} {dt:.2f}s")
            del steps
            if args.memory and device.type == "cpu":
                for spec in (s for s in specs if s.label in row):
                    row[spec.label].peak_mem_mb = measure_memory_subprocess(args, spec, mode, size)
            results.extend(row.values())
    progress(None)
    return dict(meta=_meta(args, device, amp_dtype), results=[r.to_json() for r in results], output_check=checks)


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


def _meta(args: argparse.Namespace, device: torch.device, amp_dtype: torch.dtype | None) -> dict:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return dict(command="python tools/benchmark.py " + " ".join(args.argv), torch=torch.__version__,
                timm=timm.__version__, python=platform.python_version(), device=str(device),
                device_name=torch.cuda.get_device_name(device) if device.type == "cuda" else cpu,
                threads=args.threads, dtype=args.dtype,
                amp=str(amp_dtype).removeprefix("torch.") if amp_dtype else None,
                channels_last=args.channels_last, compile=args.compile, backbone_only=args.backbone_only,
                batch_size=args.batch_size, warmup=args.warmup, repeats=args.repeats, malloc=args.malloc,
                date=time.strftime("%Y-%m-%d %H:%M:%S %Z"))


# ----------------------------------------------------------------------------------------------------
# reports
# ----------------------------------------------------------------------------------------------------
def _fmt_size(size: Sequence[int]) -> str:
    return f"{size[0]}x{size[1]}"


def markdown(report: dict, baseline: str | None) -> str:
    """A markdown table: one row per (model, mode, size), throughput, latency, ratio to the baseline."""
    meta, results = report["meta"], report["results"]
    base = {(r["mode"], tuple(r["img_size"])): r["img_per_s"] for r in results if r["model"] == baseline}
    lines = [f"`{meta['command']}`", "",
             f"{meta['device_name']} ({meta['device']}), {meta['threads']} threads, batch {meta['batch_size']}, "
             f"{meta['dtype']}{', AMP ' + meta['amp'] if meta['amp'] else ''}"
             f"{', channels_last' if meta['channels_last'] else ''}{', torch.compile' if meta['compile'] else ''}"
             f"{', malloc keeps freed memory' if meta.get('malloc') == 'keep' else ''}, "
             f"median of {meta['repeats']} interleaved repeats; torch {meta['torch']}, timm {meta['timm']}", "",
             f"| model | mode | size | img/s | latency (ms) | peak mem (MiB) | vs {baseline or '-'} |",
             "|---|---|---|---:|---:|---:|---:|"]
    for r in results:
        ref = base.get((r["mode"], tuple(r["img_size"])))
        ratio = f"{r['img_per_s'] / ref:.2f}x" if ref else "-"
        mem = f"{r['peak_mem_mb']:.0f}" if r["peak_mem_mb"] is not None else "-"
        lines.append(f"| {r['model']} | {r['mode']} | {_fmt_size(r['img_size'])} | {r['img_per_s']:.2f} | "
                     f"{r['latency_ms']:.0f} | {mem} | {ratio} |")
    if report.get("output_check"):
        lines += ["", "| outputs compared at inference (same weights) | max abs difference |", "|---|---:|"]
        lines += [f"| {k} | {v:.2e} |" for k, v in report["output_check"].items()]
    return "\n".join(lines) + "\n"


def plot(report: dict, out_dir: Path, prefix: str) -> list[Path]:
    """Bar charts of throughput per mode (one size) or time/memory versus resolution (several sizes)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    results, meta = report["results"], report["meta"]
    models = list(dict.fromkeys(r["model"] for r in results))
    sizes = list(dict.fromkeys(tuple(r["img_size"]) for r in results))
    modes = list(dict.fromkeys(r["mode"] for r in results))
    subtitle = (f"{meta['device_name'][:40]}, {meta['threads']} threads, batch {meta['batch_size']}, "
                f"{meta['amp'] or meta['dtype']}")
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    get = {(r["model"], r["mode"], tuple(r["img_size"])): r for r in results}
    if len(sizes) == 1:
        fig, axes = plt.subplots(1, len(modes), figsize=(5 * len(modes), 4), squeeze=False)
        for ax, mode in zip(axes[0], modes):
            vals = [get[(m, mode, sizes[0])]["img_per_s"] if (m, mode, sizes[0]) in get else 0 for m in models]
            bars = ax.bar(range(len(models)), vals, color=[f"C{i}" for i in range(len(models))])
            ax.bar_label(bars, fmt="%.2f")
            ax.set_xticks(range(len(models)), models, rotation=20, ha="right")
            ax.set_ylabel("images / s (higher is better)")
            ax.set_title(f"{mode}, {_fmt_size(sizes[0])}")
        fig.suptitle(subtitle, fontsize=9)
        fig.tight_layout()
        paths.append(out_dir / f"{prefix}_throughput.png")
        fig.savefig(paths[-1], dpi=120)
        plt.close(fig)
        return paths
    pixels = [h * w for h, w in sizes]
    for mode in modes:
        fig, axes = plt.subplots(1, 2, figsize=(10, 4))
        for i, m in enumerate(models):
            pts = [(p, get[(m, mode, s)]) for p, s in zip(pixels, sizes) if (m, mode, s) in get]
            axes[0].plot([p for p, _ in pts], [r["latency_ms"] / r["batch_size"] for _, r in pts], "o-",
                         color=f"C{i}", label=m)
            mem = [(p, r["peak_mem_mb"]) for p, r in pts if r["peak_mem_mb"] is not None]
            if mem:
                axes[1].plot(*zip(*mem), "o-", color=f"C{i}", label=m)
        for ax, ylabel in zip(axes, ("ms per image", "peak memory (MiB)")):
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.set_xticks(pixels, [_fmt_size(s) for s in sizes], rotation=20)
            ax.minorticks_off()
            ax.set_xlabel("input size")
            ax.set_ylabel(ylabel)
            ax.grid(alpha=0.3)
            ax.legend(fontsize=8)
        fig.suptitle(f"{mode}{' (backbone only)' if meta['backbone_only'] else ''} - {subtitle}", fontsize=9)
        fig.tight_layout()
        paths.append(out_dir / f"{prefix}_scaling_{mode}.png")
        fig.savefig(paths[-1], dpi=120)
        plt.close(fig)
    return paths


def write_reports(report: dict, out: Path, baseline: str | None, plot_dir: Path | None, prefix: str) -> list[Path]:
    """Write ``out``.json and ``out``.md (atomically) and, with ``plot_dir``, PNG charts."""
    out.parent.mkdir(parents=True, exist_ok=True)
    written = []
    for suffix, text in ((".json", json.dumps(report, indent=2) + "\n"), (".md", markdown(report, baseline))):
        path = out.with_suffix(suffix)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(text)
        os.replace(tmp, path)
        written.append(path)
    if plot_dir is not None:
        written += plot(report, plot_dir, prefix)
    return written


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", nargs="+", default=["wavemsa_s", "pvt_v2_b2", "wavemsa_s:reference"],
                   help="timm names, NAME:reference or NAME:nofuse (see module doc)")
    p.add_argument("--modes", nargs="+", choices=MODES, default=list(MODES))
    p.add_argument("--img-size", nargs="+", default=["224"], help="N or HxW; several give a scaling study")
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--threads", type=int, default=2, help="torch.set_num_threads")
    p.add_argument("--dtype", choices=sorted(DTYPES), default="float32",
                   help="input/parameter dtype, or the autocast dtype with --amp")
    p.add_argument("--device", default="auto", help="auto (cuda when present), cpu, cuda, cuda:1 ...")
    p.add_argument("--amp", action=argparse.BooleanOptionalAction, default=None,
                   help="autocast (default: on for CUDA, off on the CPU)")
    p.add_argument("--channels-last", action="store_true")
    p.add_argument("--compile", action="store_true", help="torch.compile each model")
    p.add_argument("--backbone-only", action="store_true", help="features_only=True (the detection backbone)")
    p.add_argument("--num-classes", type=int, default=1000)
    p.add_argument("--malloc", choices=("default", "keep"), default="default",
                   help="keep: glibc malloc keeps freed memory for reuse (no fresh pages per step; see "
                        "keep_freed_memory)")
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--memory", action="store_true", help="CPU: measure peak RSS in a subprocess per model/mode")
    p.add_argument("--check", action="store_true",
                   help="compare outputs of NAME:reference / NAME:nofuse with NAME (same weights)")
    p.add_argument("--baseline", default=None, help="model label for the ratio column (default: second model)")
    p.add_argument("--out", type=Path, default=REPO / "output" / "benchmark", help="writes OUT.json and OUT.md")
    p.add_argument("--plot", action="store_true", help="write PNG charts")
    p.add_argument("--plot-dir", type=Path, default=REPO / "asset")
    p.add_argument("--plot-prefix", default="benchmark")
    p.add_argument("--_memory-probe", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    for s in args.img_size:
        try:
            parse_size(s)
        except argparse.ArgumentTypeError as err:
            p.error(str(err))
    if args.repeats < 1 or args.warmup < 0 or args.batch_size < 1 or args.threads < 1:
        p.error("--repeats, --batch-size and --threads must be >= 1 and --warmup >= 0")
    return args


def main(argv: Sequence[str] | None = None) -> dict:
    args = parse_args(argv)
    if args._memory_probe:
        _memory_probe(args)
        return {}
    report = run(args)
    baseline = args.baseline or (args.models[1] if len(args.models) > 1 else None)
    written = write_reports(report, args.out, baseline, args.plot_dir if args.plot else None, args.plot_prefix)
    print(markdown(report, baseline))
    print("wrote " + ", ".join(str(p) for p in written), file=sys.stderr)
    return report


if __name__ == "__main__":
    main()
