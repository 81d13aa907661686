#!/usr/bin/env python
"""Speed of timm models side by side: throughput, latency, peak memory, operators per step, per-part profile.

``--models``: timm names; ``NAME:fused`` is NAME at inference after ``model.eval().fuse()`` (timm's
``reparameterize_model`` where there is no ``fuse``; no training row), with NAME's weights. Modes: ``infer``
(``torch.inference_mode``) and ``train`` (forward, cross-entropy, backward, AdamW; GradScaler under float16). Per
mode the models step **interleaved** (A, B, A, B, ...) for ``--warmup`` + ``--repeats`` rounds; the table has the
median step (img/s, latency; CPU ms: the process's CPU time, all threads, which waiting for a busy machine's cores
does not inflate; faulted MiB: the process's minor page faults times the page size, the fresh pages the kernel had
to map and zero, which the CPU allocator set-up avoids), peak memory and img/s relative to ``--baseline`` (default:
the last model). Only ratios of one run compare; absolute figures move with the machine and its load (the load
average is reported). Peak memory is what one step adds at its peak: on CUDA ``max_memory_allocated`` less the
memory allocated before (largest over the timed steps); on the CPU the resident memory of one extra step (free heap
pages returned by glibc's ``malloc_trim``, the kernel's peak mark reset, then VmHWM - VmRSS). The CPU allocator is
the project's set-up (``wavemsa.allocator``; ``WAVEMSA_CPU_ALLOCATOR=default`` keeps glibc's defaults).

``--ops`` counts the operators one eager step dispatches, exactly: every ``aten`` op a ``TorchDispatchMode`` sees
(composite ops such as ``linear`` or ``dropout`` count as what they decompose into) except views and aliases
(``is_view`` schemas: ``view``, ``transpose``, ``expand``, ``detach``, ...) and :data:`NOT_COMPUTE` (ops that only
allocate or describe a tensor). A training step counts forward, loss and backward; the optimizer step is shown apart
(its count depends on the optimizer's implementation, not on the model). ``--profile``: each part's median time over
``--profile-steps`` eager steps (self CPU time; on CUDA kernel time and kernels); ``--trace DIR`` also writes Chrome
traces. Parts (:func:`part_of`): stem, downsample, WBB, attention, FFN, norm, head, other, loss, optimizer; forward
ops by module hooks, backward ops by the part that created their autograd node. ``--check``: each inference output
vs the float32 eager output of the unfused model (TF32 off), i.e. fused vs unfused, reduced precision vs float32,
compiled vs eager.

    python tools/benchmark.py --models wavemsa_s wavemsa_s:fused pvt_v2_b2 --threads 2 --batch-size 16 --check
    python tools/benchmark.py --models wavemsa_s pvt_v2_b2 --batch-size 2 --repeats 0 --ops   # counts only
"""
from __future__ import annotations

import argparse
import contextlib
import copy
import ctypes
import os
import resource
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import timm  # noqa: E402
from timm.utils import reparameterize_model  # noqa: E402

import wavemsa  # noqa: E402,F401  (registers the wavemsa_* models)
from wavemsa.allocator import ENV_VAR, keep_freed_memory  # noqa: E402
from wavemsa.cli import device_or_auto, image_side, non_negative_int, positive_int  # noqa: E402
from wavemsa.errors import run_main  # noqa: E402
from wavemsa.files import atomic_write, write_json, write_text  # noqa: E402
from wavemsa.records import machine_info, write_record  # noqa: E402

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
MODES = ("infer", "train")
PARTS = ("stem", "downsample", "WBB", "attention", "FFN", "norm", "head", "other", "loss", "optimizer")
NOT_COMPUTE = {"empty", "empty_like", "empty_strided", "new_empty", "new_empty_strided", "_unsafe_view", "resize_",
               "set_", "sym_size", "sym_stride", "sym_numel", "sym_storage_offset", "is_contiguous", "result_type"}
HEAD_ATTRS = {"head", "head_drop", "post_blocks", "norm", "fc_norm", "aux_head", "global_pool"}
NORMS = (nn.LayerNorm, nn.GroupNorm, nn.modules.batchnorm._BatchNorm)


# ---- model parts -------------------------------------------------------------------------------------------
def part_of(module: nn.Module, attr: str, parent: nn.Module, parent_part: str) -> str:
    """The part a module belongs to, from its class and attribute names and its parent. Everything inside a stem,
    downsample, WBB, FFN or head is that part; inside an attention module everything but the WBB is attention
    (PVTv2's spatial-reduction conv and norm included); the head is what a timm model's ``forward_head`` uses."""
    cls = type(module).__name__
    if parent_part in ("stem", "downsample", "WBB", "FFN", "head"):
        return parent_part
    if cls == "WaveletBottleneckBooster":
        return "WBB"
    if parent_part == "attention" or (cls.endswith("Attention") and cls != "ClassAttention"):
        return "attention"
    if attr in ("patch_embed", "stem") or cls == "Stem":
        return "stem"
    if attr == "downsample" or cls in ("Downsample", "PatchMerging"):
        return "downsample"
    if cls == "ClassBlock" or (attr in HEAD_ATTRS and hasattr(parent, "forward_head")):
        return "head"
    if cls.endswith("FFN") or cls.startswith("Mlp") or cls in ("GluMlp", "SwiGLU"):
        return "FFN"
    return "norm" if isinstance(module, NORMS) else parent_part


def part_modules(model: nn.Module) -> dict[nn.Module, str]:
    """The modules where a part begins (their part differs from that of the nearest ancestor that runs a forward;
    ``ModuleList`` / ``ModuleDict`` never do) and their parts."""
    found: dict[nn.Module, str] = {}

    def visit(module: nn.Module, part: str, called_part: str) -> None:
        for attr, child in module.named_children():
            child_part = part_of(child, attr, module, part)
            container = isinstance(child, (nn.ModuleList, nn.ModuleDict))
            if child_part != called_part and not container:
                found[child] = child_part
            visit(child, child_part, called_part if container else child_part)

    visit(model, "other", "other")
    return found


class PartTracker(contextlib.AbstractContextManager):
    """Within the ``with`` block, :attr:`current` is the part of ``model`` running now: forward ops by module hooks
    (and :meth:`phase`: loss, optimizer), backward ops by the part that was current when their autograd node was
    created (``other`` for the nodes that accumulate into ``.grad``). Each forward part and phase also runs in a
    ``record_function("part::NAME")``, for the profiler."""

    def __init__(self, model: nn.Module) -> None:
        self.model, self.stack, self.handles = model, [("other", None)], []
        self.node_parts: dict[int, str] = {}  # sequence number of an autograd node -> part

    @property
    def current(self) -> str:
        node = torch._C._current_autograd_node()
        return self.stack[-1][0] if node is None else self.node_parts.get(node._sequence_nr(), "other")

    def enter(self, part: str) -> None:
        self.stack.append((part, torch.profiler.record_function("part::" + part).__enter__()))

    def exit(self) -> None:
        self.stack.pop()[1].__exit__(None, None, None)

    @contextlib.contextmanager
    def phase(self, part: str) -> Iterator[None]:
        self.enter(part)
        try:
            yield
        finally:
            self.exit()

    def _on_node(self, node) -> None:
        if "AccumulateGrad" not in node.name():  # these share one sequence number
            self.node_parts[node._sequence_nr()] = self.current

    def __enter__(self) -> PartTracker:
        for module, part in part_modules(self.model).items():
            self.handles.append(module.register_forward_pre_hook(lambda m, a, part=part: self.enter(part)))
            self.handles.append(module.register_forward_hook(lambda m, a, o: self.exit()))
        self.node_hook = torch.autograd.graph.node_creation_hook(self._on_node)
        self.node_hook.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self.node_hook.__exit__(*exc)
        for h in self.handles:
            h.remove()


class OpCounter(TorchDispatchMode):
    """Counts the dispatched operators (see the module doc for which) by the tracker's current part and by
    (part, op name)."""

    def __init__(self, tracker: PartTracker) -> None:
        super().__init__()
        self.tracker, self.parts, self.names = tracker, Counter(), Counter()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func.has_kernel_for_dispatch_key(torch._C.DispatchKey.CompositeImplicitAutograd):
            with self:  # count what a composite op runs (under inference_mode composites reach the mode whole)
                out = func.decompose(*args, **kwargs)
            if out is not NotImplemented:
                return out
        name = func._schema.name.split("::")[-1]
        if func.namespace == "aten" and not func.is_view and name not in NOT_COMPUTE:
            part = self.tracker.current
            self.parts[part] += 1
            self.names[part, name] += 1
        return func(*args, **kwargs)


# ---- one model in one mode ---------------------------------------------------------------------------------
class Runner:
    """One model (``label``), one mode, one input batch; :meth:`step` runs one step, :meth:`timed_step` times it."""

    def __init__(self, label: str, mode: str, model: nn.Module, x: torch.Tensor, target: torch.Tensor,
                 dtype: str, compile_mode: str | None, compile_backend: str) -> None:
        self.label, self.mode, self.model, self.x, self.target = label, mode, model, x, target
        self.device = x.device
        self.amp = DTYPES[dtype] if dtype != "float32" else None
        self.cuda_graphs = compile_mode == "reduce-overhead"
        self.forward = torch.compile(model, mode=compile_mode, backend=compile_backend) if compile_backend else model
        self.times: list[float] = []
        self.cpu_times: list[float] = []  # process CPU time of each timed step, all threads
        self.faulted: list[float] = []  # MiB faulted in by each timed step
        self.peak_mib = 0.0
        if mode == "train":
            self.optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
            self.scaler = torch.amp.GradScaler(self.device.type, enabled=self.amp == torch.float16)

    def output(self, forward: Callable | None = None) -> torch.Tensor:
        with torch.inference_mode(), torch.autocast(self.device.type, self.amp, enabled=self.amp is not None):
            return (self.forward if forward is None else forward)(self.x)

    def step(self, tracker: PartTracker | None = None) -> None:
        """One step; with a ``tracker``, of the eager model, its loss and optimizer marked as such."""
        forward, phase = (self.model, tracker.phase) if tracker else (self.forward, lambda _: contextlib.nullcontext())
        if self.cuda_graphs and not tracker:
            torch.compiler.cudagraph_mark_step_begin()
        if self.mode == "infer":
            self.output(forward)
            return
        with torch.autocast(self.device.type, self.amp, enabled=self.amp is not None):
            out = forward(self.x)
            with phase("loss"):
                loss = F.cross_entropy((out[0] if isinstance(out, tuple) else out).float(), self.target)
        self.scaler.scale(loss).backward()
        with phase("optimizer"):
            self.scaler.step(self.optimizer)
            self.scaler.update()
            self.optimizer.zero_grad(set_to_none=True)

    def timed_step(self) -> float:
        sync(self.device)
        if self.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(self.device)
            before = torch.cuda.memory_allocated(self.device)
        t0, c0, f0 = time.perf_counter(), time.process_time(), faulted_mib()
        self.step()
        sync(self.device)
        dt, cpu, faulted = time.perf_counter() - t0, time.process_time() - c0, faulted_mib() - f0
        if self.device.type == "cuda":
            self.peak_mib = max(self.peak_mib, (torch.cuda.max_memory_allocated(self.device) - before) / 2**20)
        return dt, cpu, faulted


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def faulted_mib() -> float:
    """Memory (MiB) this process has faulted in so far: its minor page faults times the base page size (a
    transparent huge page counts as one base page)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt * resource.getpagesize() / 2**20


def _proc_status_mib(key: str) -> float:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) / 1024 for line in f if line.startswith(key + ":"))


def peak_rss_mib(step: Callable[[], None]) -> float | None:
    """Resident memory (MiB) that ``step`` adds at its peak (Linux; None elsewhere)."""
    try:
        ctypes.CDLL(None).malloc_trim(0)  # glibc: hand free heap pages back, so that reusing them shows
    except (OSError, AttributeError):
        pass
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")  # reset VmHWM, the kernel's peak mark
        before = _proc_status_mib("VmRSS")
    except (OSError, StopIteration):
        return None
    step()
    return _proc_status_mib("VmHWM") - before


def count_ops(runner: Runner) -> dict:
    """The operators of one eager step of ``runner``, after one step that is not counted (optimizer state, caches)."""
    with PartTracker(runner.model) as tracker:
        runner.step(tracker)
        with OpCounter(tracker) as counter:
            runner.step(tracker)
    parts = {p: counter.parts[p] for p in PARTS if counter.parts[p]}
    return dict(parts=parts, total=sum(n for p, n in parts.items() if p != "optimizer"),
                top={f"{part}: {name}": n for (part, name), n in counter.names.most_common(15)})


def _event_part(event, tracker: PartTracker) -> str:
    """The part of a profiler event: that of the innermost part scope or backward node around it."""
    while event is not None:
        if event.name.startswith("part::"):
            return event.name[len("part::"):]
        if event.name.startswith("autograd::engine::evaluate_function: "):
            return tracker.node_parts.get(event.sequence_nr, "other")
        event = event.cpu_parent
    return "other"


def profile_parts(runner: Runner, steps: int = 3, trace: Path | None = None) -> dict:
    """Each part's median time over ``steps`` profiled eager steps (CPU: self CPU time; CUDA: kernel time and kernel
    count); ``trace``: the last step's Chrome trace goes there."""
    cuda = runner.device.type == "cuda"
    activities = [torch.profiler.ProfilerActivity.CPU] + [torch.profiler.ProfilerActivity.CUDA] * cuda
    per_step, walls = [], []
    for _ in range(steps):
        with PartTracker(runner.model) as tracker, torch.profiler.profile(activities=activities) as prof:
            t0 = time.perf_counter()
            runner.step(tracker)
            sync(runner.device)
            walls.append(time.perf_counter() - t0)
        ms: Counter = Counter()
        kernels: Counter = Counter()
        for e in prof.events():
            part = _event_part(e, tracker)
            ms[part] += (e.self_device_time_total if cuda else e.self_cpu_time_total) / 1000
            kernels[part] += len(e.kernels)
        per_step.append((ms, kernels))
    if trace is not None:
        trace.mkdir(parents=True, exist_ok=True)
        prof.export_chrome_trace(str(trace / f"{runner.label.replace(':', '-')}_{runner.mode}.json"))
    parts = {}
    for p in PARTS:
        if any(p in ms for ms, _ in per_step):
            parts[p] = dict(ms=round(statistics.median(ms[p] for ms, _ in per_step), 2))
            if cuda:
                parts[p]["kernels"] = statistics.median_low(k[p] for _, k in per_step)
    parts["total"] = dict(ms=round(sum(v["ms"] for v in parts.values()), 2))
    if cuda:
        parts["total"]["kernels"] = sum(v["kernels"] for p, v in parts.items() if p != "total")
    return dict(parts=parts, profiled_step_ms=round(1000 * statistics.median(walls), 1))


# ---- the run -----------------------------------------------------------------------------------------------
def build(names: Sequence[str], num_classes: int) -> dict[str, nn.Module]:
    models = {}
    for name in dict.fromkeys(names):
        torch.manual_seed(0)
        models[name] = timm.create_model(name, num_classes=num_classes)
    return models


def prepare(model: nn.Module, fused: bool, mode: str, device: torch.device) -> nn.Module:
    model = copy.deepcopy(model).to(device).train(mode == "train")
    if fused:
        model = model.fuse() if hasattr(model, "fuse") else reparameterize_model(model, inplace=True)
    return model


@torch.inference_mode()
def reference_output(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The float32 eager output of an eval copy of ``model`` (TF32 off)."""
    tf32 = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    try:
        return copy.deepcopy(model).to(x.device).eval()(x).float()
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = tf32


def run(args: argparse.Namespace) -> dict:
    state, device = keep_freed_memory(), torch.device(args.device)
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.backends.cudnn.benchmark = True  # fixed shapes: cuDNN picks its fastest algorithms in the warm-up
    specs = [(s, *s.partition(":")[::2]) for s in args.models]  # (label, name, suffix)
    models = build([name for _, name, _ in specs], args.num_classes)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(args.batch_size, 3, args.img_size, args.img_size, generator=g).to(device)
    target = torch.randint(0, args.num_classes, (args.batch_size,), generator=g).to(device)
    references = {name: reference_output(models[name], x) for name in models} if args.check else {}
    results, ops, profiles = [], {}, {}
    backend = args.compile_backend if args.compile else None
    for mode in args.modes:
        runners = [Runner(label, mode, prepare(models[name], suffix == "fused", mode, device), x, target,
                          args.dtype, args.compile_mode, backend)
                   for label, name, suffix in specs if mode == "infer" or suffix != "fused"]
        for r in range(args.warmup + args.repeats):
            for runner in runners:
                dt, cpu, faulted = runner.timed_step()
                if r >= args.warmup:
                    runner.times.append(dt)
                    runner.cpu_times.append(cpu)
                    runner.faulted.append(faulted)
        for runner in runners:
            row = dict(model=runner.label, mode=mode)
            if runner.times:
                median = statistics.median(runner.times)
                peak = runner.peak_mib if device.type == "cuda" else peak_rss_mib(runner.step)
                row.update(img_per_s=round(args.batch_size / median, 3), latency_ms=round(1000 * median, 1),
                           spread_ms=[round(1000 * min(runner.times), 1), round(1000 * max(runner.times), 1)],
                           cpu_ms=round(1000 * statistics.median(runner.cpu_times), 1),
                           faulted_mib=round(statistics.median(runner.faulted), 1),
                           peak_mib=None if peak is None else round(peak, 1))
            if args.check and mode == "infer":
                ref = references[runner.label.partition(":")[0]]
                row.update(max_abs_diff=float((runner.output().float() - ref).abs().max()),
                           max_abs=float(ref.abs().max()))
            results.append(row)
            if args.ops:
                ops.setdefault(mode, {})[runner.label] = count_ops(runner)
            if args.profile:
                profiles.setdefault(mode, {})[runner.label] = profile_parts(runner, args.profile_steps, args.trace)
        del runners
    baseline = {r["mode"]: r.get("img_per_s") for r in results if r["model"] == args.baseline}
    for r in results:
        if r.get("img_per_s") and baseline.get(r["mode"]):
            r["vs_baseline"] = round(r["img_per_s"] / baseline[r["mode"]], 3)
    env = f"{ENV_VAR}={os.environ[ENV_VAR]} " if ENV_VAR in os.environ else ""
    meta = dict(command=f"{env}python tools/benchmark.py " + " ".join(args.argv), device=str(device),
                device_name=torch.cuda.get_device_name(device) if device.type == "cuda" else machine_info()["cpu"],
                threads=torch.get_num_threads(), batch_size=args.batch_size, img_size=args.img_size,
                dtype=args.dtype, compile=backend and f"{backend}, mode {args.compile_mode or 'default'}",
                allocator=state if device.type == "cpu" else "cuda", baseline=args.baseline, warmup=args.warmup,
                repeats=args.repeats, profile_steps=args.profile_steps, torch=torch.__version__,
                timm=timm.__version__, load_average=[round(v, 2) for v in os.getloadavg()],
                date=time.strftime("%Y-%m-%d %H:%M %Z"))
    return dict(meta=meta, results=results, ops=ops, profile=profiles)


# ---- reports -----------------------------------------------------------------------------------------------
def _ratio(a: float | None, b: float | None) -> str:
    return f"{a / b:.2f}x" if a and b else "-"


def _part_table(per_model: dict[str, dict], baseline: str, value: Callable[[dict, str], float | None],
                rows: Sequence[str]) -> list[str]:
    """One row per part: each model's value, then each other model's ratio to ``baseline``."""
    models = list(per_model)
    others = [m for m in models if m != baseline]
    lines = ["| part | " + " | ".join(models) + " | " + " | ".join(f"{m} / {baseline}" for m in others) + " |",
             "|---|" + "---:|" * (len(models) + len(others))]
    for part in rows:
        vals = {m: value(per_model[m], part) for m in models}
        if any(vals.values()):
            cells = [f"{v:,.1f}".removesuffix(".0") if v else "-" for v in vals.values()]
            ratios = [_ratio(vals[m], vals.get(baseline)) for m in others]
            lines.append(f"| {part} | " + " | ".join(cells + ratios) + " |")
    return lines


def markdown(report: dict) -> str:
    meta, base = report["meta"], report["meta"]["baseline"]
    lines = [f"`{meta['command']}`", "",
             f"{meta['device_name']} ({meta['device']}), {meta['threads']} threads, batch {meta['batch_size']}, "
             f"{meta['img_size']}x{meta['img_size']}, {meta['dtype']}{' autocast' * (meta['dtype'] != 'float32')}, "
             f"{'compiled (' + meta['compile'] + ')' if meta['compile'] else 'eager'}, allocator: "
             f"{meta['allocator']}; {meta['repeats']} interleaved repeats (median); torch {meta['torch']}, "
             f"timm {meta['timm']}; load average {', '.join(map(str, meta['load_average']))}; {meta['date']}"]
    timed = [r for r in report["results"] if "img_per_s" in r]
    if timed:
        lines += ["", f"| model | mode | img/s | latency ms (min-max) | CPU ms | faulted MiB | peak MiB | vs {base} |",
                  "|---|---|---:|---:|---:|---:|---:|---:|"]
        lines += [f"| {r['model']} | {r['mode']} | {r['img_per_s']:.2f} | {r['latency_ms']:.0f} "
                  f"({r['spread_ms'][0]:.0f}-{r['spread_ms'][1]:.0f}) | {r['cpu_ms']:.0f} | {r['faulted_mib']:.0f} | "
                  f"{'-' if r['peak_mib'] is None else round(r['peak_mib'])} | "
                  f"{format(r['vs_baseline'], '.2f') + 'x' if 'vs_baseline' in r else '-'} |" for r in timed]
    checked = [r for r in report["results"] if "max_abs_diff" in r]
    if checked:
        lines += ["", "| output at inference vs float32 eager unfused | max abs diff | max abs output |",
                  "|---|---:|---:|"]
        lines += [f"| {r['model']} | {r['max_abs_diff']:.2e} | {r['max_abs']:.2e} |" for r in checked]
    for mode, per_model in report["ops"].items():
        lines += ["", f"Operators per {mode} step (see tools/benchmark.py for what counts):", ""]
        rows = [*PARTS[:-1], "total"] + ["optimizer (not in total)"] * (mode == "train")
        lines += _part_table(per_model, base, lambda d, p: d["total"] if p == "total" else
                             d["parts"].get(p.split(" ")[0]), rows)
    for mode, per_model in report["profile"].items():
        unit = "kernel ms" if meta["device"].startswith("cuda") else "self CPU ms"
        lines += ["", f"Time per part of one {mode} step ({unit}, profiled, median of {meta['profile_steps']} steps):",
                  ""]
        lines += _part_table(per_model, base, lambda d, p: d["parts"].get(p, {}).get("ms"), (*PARTS, "total"))
        if meta["device"].startswith("cuda"):
            lines += ["", f"Kernels per {mode} step:", ""]
            lines += _part_table(per_model, base, lambda d, p: d["parts"].get(p, {}).get("kernels"), (*PARTS, "total"))
    return "\n".join(lines) + "\n"


def plot(report: dict, path: Path) -> Path:
    """Bars: each model's img/s relative to the baseline per mode; operators per part, the models side by side."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    meta, base = report["meta"], report["meta"]["baseline"]
    ratios = {f"{r['model']} {r['mode']}": r["vs_baseline"] for r in report["results"] if r.get("vs_baseline")}
    panels = bool(ratios) + len(report["ops"])
    fig, axes = plt.subplots(1, panels, figsize=(1 + 6 * panels, 4), squeeze=False)
    if ratios:
        axes[0][0].barh(list(ratios), list(ratios.values()), color=["C0" if v < 1 else "C2" for v in ratios.values()])
        axes[0][0].axvline(1.0, color="k", lw=0.8)
        axes[0][0].set_title(f"img/s relative to {base}", fontsize=9)
    for ax, (mode, per_model) in zip(axes[0][bool(ratios):], report["ops"].items()):
        parts = [p for p in PARTS[:-1] if any(d["parts"].get(p) for d in per_model.values())]
        height = 0.8 / len(per_model)
        for i, (model, d) in enumerate(per_model.items()):
            ax.barh([j + (i - (len(per_model) - 1) / 2) * height for j in range(len(parts))],
                    [d["parts"].get(p, 0) for p in parts], height, label=f"{model} ({d['total']:,})")
        ax.set_yticks(range(len(parts)), parts)
        ax.set_title(f"operators per {mode} step (total)", fontsize=9)
        ax.legend(fontsize=8)
    for ax in axes[0]:
        ax.invert_yaxis()
        ax.tick_params(labelsize=8)
    fig.suptitle(f"{meta['device_name'][:40]}, {meta['threads']} threads, batch {meta['batch_size']}, "
                 f"{meta['dtype']}, {meta['compile'] or 'eager'}, allocator {meta['allocator']}", fontsize=9)
    fig.tight_layout()
    atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=110))
    plt.close(fig)
    return path


def model_spec(text: str) -> str:
    """argparse type of ``--models``: a timm name, optionally with ``:fused``."""
    name, _, suffix = text.partition(":")
    if suffix not in ("", "fused"):
        raise argparse.ArgumentTypeError(f"{text!r}: the only suffix is ':fused'")
    if not timm.is_model(name):
        raise argparse.ArgumentTypeError(f"{name!r}: no timm model of that name")
    return text


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="benchmark.py", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", nargs="+", type=model_spec, default=["wavemsa_s", "wavemsa_s:fused", "pvt_v2_b2"])
    p.add_argument("--baseline", help="the model the ratios are to (default: the last of --models)")
    p.add_argument("--modes", nargs="+", choices=MODES, default=list(MODES))
    p.add_argument("--device", type=device_or_auto, default="auto", help="auto (cuda when present), cpu, cuda")
    p.add_argument("--threads", type=positive_int, help="torch.set_num_threads (default: torch's)")
    p.add_argument("--batch-size", type=positive_int, default=16)
    p.add_argument("--img-size", type=image_side, default=224)
    p.add_argument("--num-classes", type=positive_int, default=1000)
    p.add_argument("--dtype", choices=DTYPES, default="float32", help="bfloat16 / float16: autocast")
    p.add_argument("--compile", action="store_true", help="torch.compile each model")
    p.add_argument("--compile-mode", choices=("default", "reduce-overhead", "max-autotune"), default=None,
                   help="reduce-overhead: CUDA graphs (CUDA only)")
    p.add_argument("--compile-backend", default="inductor", help="eager / aot_eager: trace without generating code")
    p.add_argument("--warmup", type=non_negative_int, default=1)
    p.add_argument("--repeats", type=non_negative_int, default=5, help="timed rounds (0: no timing)")
    p.add_argument("--check", action="store_true", help="compare inference outputs with float32 eager unfused")
    p.add_argument("--ops", action="store_true", help="count the operators of one step per part")
    p.add_argument("--profile", action="store_true", help="time per part of a step (torch.profiler)")
    p.add_argument("--profile-steps", type=positive_int, default=3, help="--profile's median of so many steps")
    p.add_argument("--trace", type=Path, help="with --profile: write Chrome traces into this folder")
    p.add_argument("--out", type=Path, help="write OUT.json and OUT.md")
    p.add_argument("--plot", action="store_true", help="with --out: also OUT.png, the ratios as bars")
    p.add_argument("--record", type=Path, help="write a run record (wavemsa.records) of the figures here")
    args = p.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    args.baseline = args.baseline or args.models[-1]
    if args.baseline not in args.models:
        p.error(f"argument --baseline: {args.baseline!r} is not one of --models")
    if args.plot and not args.out:
        p.error("argument --plot: needs --out")
    if args.device == "auto":
        args.device = "cuda" if torch.cuda.is_available() else "cpu"
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        p.error(f"argument --device: {args.device}: CUDA is not available on this machine")
    if args.compile_mode == "reduce-overhead" and not args.device.startswith("cuda"):
        p.error("argument --compile-mode: reduce-overhead (CUDA graphs) needs --device cuda")
    args.compile = args.compile or args.compile_mode is not None
    args.compile_mode = None if args.compile_mode == "default" else args.compile_mode
    return args


def main(argv: Sequence[str] | None = None) -> dict:
    args = parse_args(argv)
    report = run(args)
    text = markdown(report)
    written = []
    if args.out:
        written += [write_json(args.out.with_suffix(".json"), report), write_text(args.out.with_suffix(".md"), text)]
        if args.plot:
            written.append(plot(report, args.out.with_suffix(".png")))
    if args.record:
        written.append(write_record(args.record, report, name="benchmark", command=report["meta"]["command"]))
    print(text)
    if written:
        print("wrote " + ", ".join(map(str, written)), file=sys.stderr)
    return report


if __name__ == "__main__":
    sys.exit(run_main(main, prog="benchmark.py"))
