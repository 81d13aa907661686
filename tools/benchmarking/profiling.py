"""Where the time of one step goes: ``torch.profiler`` events grouped by model part.

Every module of the model gets a *part* from its class name, its attribute name and its parent's part
(:func:`assign_parts`; no dependence on the model file's layout beyond the class and attribute names listed in
:data:`PART_NOTES`). While profiling, each module whose part differs from its parent's runs inside a
``record_function("part::<part>")`` scope (:class:`PartScopes`, forward hooks). Each profiler event's self time
then goes to:

* the step's own scopes: ``step.loss`` -> ``loss``, ``step.optimizer`` (AdamW, GradScaler, ``zero_grad``) and
  gradient accumulation -> ``optimizer``;
* ``dtype casts`` if the event is, or runs inside, ``aten::to`` / ``aten::_to_copy`` (autocast's casts);
* ``layout copies`` if it is, or runs inside, ``aten::copy_`` / ``aten::clone`` / ``aten::contiguous`` (token/map
  layout changes, channels_last conversions, a reshape of a non-contiguous view);
* otherwise the part of the innermost enclosing scope. A backward op goes to the part of the forward op that
  created its autograd node (the profiler's sequence number links them, as ``torch.autograd.profiler`` does for
  backward stack traces). Inside an attention module, convolutions and layer norms that are not modules of
  their own (the Frequency Finer folded into the sr conv) go to ``Finer + kv reduction``.

On the CPU the time is the events' self CPU time (including the Python time spent inside a scope); on CUDA it
is the self device (kernel) time, with the CPU time and the number of kernels alongside. "Per kernel" is the
op name on the CPU and the kernel name on CUDA.
"""
from __future__ import annotations

import contextlib
import statistics
import time
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import torch
from torch import nn
from torch.autograd import DeviceType

from .runners import BenchmarkRunner, measure_interleaved, sync

__all__ = ["PARTS", "PART_NOTES", "assign_parts", "PartScopes", "attribute", "profile_runner", "markdown", "plot"]

SCOPE_PREFIX = "part::"
KV = "Finer + kv reduction"
PARTS = ("stem", "downsample", "WBB reduce", "WBB DWT", "WBB filter", "WBB IDWT", "WBB resume", "WBB residual", KV,
         "attention", "FFN", "norms", "head", "layout copies", "dtype casts", "loss", "optimizer", "other")
PART_NOTES = {
    "stem": "WaveFormer `Stem` (conv7x7/2 + 2 conv3x3 with BN/ReLU, conv3x3/2, LayerNorm); PVTv2 `patch_embed`",
    "downsample": "patch embedding of stages 2-4 (`Downsample`, `OverlapPatchEmbed`, `downsample`)",
    "WBB reduce": "`WaveletBottleneckBooster.reduce`: WaveConv1x1 C -> C/4, BN, ReLU (fused: one 1x1 conv + ReLU)",
    "WBB DWT": "`DWT2D`: the 2-D Haar transform of the reduced map",
    "WBB filter": "`WaveletBottleneckBooster.filter`: grouped conv3x3, BN, ReLU",
    "WBB IDWT": "`IDWT2D`",
    "WBB resume": "`WaveletBottleneckBooster.resume`: WaveConv1x1 C/4 -> C, BN, ReLU",
    "WBB residual": "the WBB's own ops: padding, the shortcut add X + resume(...)",
    KV: "`FrequencyFiner`, the key/value sr conv (`kv_embed`, PVTv2 `sr`) and the LayerNorm on the reduced keys",
    "attention": "q / kv / proj linears, scaled dot-product attention, head split/merge (`*Attention` modules)",
    "FFN": "`ConvFFN` / `MlpWithDepthwiseConv`: fc1, depth-wise conv3x3, GELU, fc2",
    "norms": "the blocks' and stages' LayerNorms",
    "head": "class-attention block, final norm, classifier (`ClassBlock`, `head`, `post_blocks`)",
    "layout copies": "`aten::copy_` / `clone` / `contiguous` anywhere in the model, forward and backward",
    "dtype casts": "`aten::to` / `_to_copy` (the casts autocast inserts)",
    "loss": "cross-entropy on the logits",
    "optimizer": "AdamW step, GradScaler, zero_grad, gradient accumulation",
    "other": "residual adds, drop path and model-level glue outside the parts above",
}
WBB_CHILDREN = {"reduce": "WBB reduce", "filter": "WBB filter", "resume": "WBB resume", "dwt": "WBB DWT",
                "idwt": "WBB IDWT"}
HEAD_ATTRS = {"head", "head_drop", "post_blocks", "norm", "fc_norm", "aux_head", "global_pool"}
INHERITING = {"stem", "downsample", "head"}  # everything inside these is that part
NORMS = (nn.LayerNorm, nn.GroupNorm, nn.modules.batchnorm._BatchNorm)
COPY_OPS = {"aten::copy_", "aten::clone", "aten::contiguous"}
CAST_OPS = {"aten::to", "aten::_to_copy"}
KV_OPS = {"aten::conv2d", "aten::convolution", "aten::_convolution", "aten::layer_norm"}
STEP_SCOPES = {"step.loss": "loss", "step.optimizer": "optimizer"}
CONTAINERS = (nn.ModuleList, nn.ModuleDict)  # never called: their children's scopes depend on the caller's part


def _part_of(module: nn.Module, attr: str, parent_part: str, parent_cls: str, depth: int) -> str:
    cls = type(module).__name__
    if parent_part in INHERITING:
        return parent_part
    if cls == "Stem" or attr in ("patch_embed", "stem"):
        return "stem"
    if cls in ("Downsample", "OverlapPatchEmbed", "PatchMerging") or attr == "downsample":
        return "downsample"
    if cls == "DWT2D":
        return "WBB DWT"
    if cls == "IDWT2D":
        return "WBB IDWT"
    if cls == "WaveletBottleneckBooster":
        return "WBB residual"
    if parent_cls == "WaveletBottleneckBooster" and attr in WBB_CHILDREN:
        return WBB_CHILDREN[attr]
    if cls == "FrequencyFiner":
        return KV
    if parent_part == "attention" and isinstance(module, (nn.Conv2d, *NORMS)):
        return KV
    if cls == "ClassBlock" or (depth == 1 and attr in HEAD_ATTRS):
        return "head"
    if cls.endswith("Attention"):
        return "attention"
    if cls.endswith("FFN") or cls.startswith("Mlp") or cls in ("GluMlp", "SwiGLU"):
        return "FFN"
    if isinstance(module, NORMS) and parent_part == "other":
        return "norms"
    return parent_part


def assign_parts(model: nn.Module) -> dict[nn.Module, str]:
    """The part of every module of ``model`` (the root is ``other``)."""
    parts: dict[nn.Module, str] = {model: "other"}

    def visit(module: nn.Module, depth: int) -> None:
        for attr, child in module.named_children():
            parts[child] = _part_of(child, attr, parts[module], type(module).__name__, depth + 1)
            visit(child, depth + 1)

    visit(model, 0)
    return parts


class PartScopes(contextlib.AbstractContextManager):
    """Within the ``with`` block, each module whose part differs from its parent's runs inside a
    ``record_function("part::<part>")`` scope (forward pre-hook opens it, forward hook closes it)."""

    def __init__(self, model: nn.Module) -> None:
        self.model = model
        self.handles: list = []

    def __enter__(self) -> PartScopes:
        parts = assign_parts(self.model)
        # the part of the nearest ancestor that runs a forward (containers such as ModuleList never do)
        parent_part: dict[nn.Module, str] = {}

        def visit(module: nn.Module, part: str) -> None:
            for child in module.children():
                parent_part[child] = part
                visit(child, part if isinstance(child, CONTAINERS) else parts[child])

        visit(self.model, parts[self.model])
        stacks: dict[int, list] = defaultdict(list)

        def open_scope(module, args, part=None):
            scope = torch.profiler.record_function(SCOPE_PREFIX + part)
            scope.__enter__()
            stacks[id(module)].append(scope)

        def close_scope(module, args, output):
            stacks[id(module)].pop().__exit__(None, None, None)

        for module, part in parts.items():
            if module is not self.model and part != parent_part[module]:
                self.handles.append(module.register_forward_pre_hook(
                    lambda m, a, part=part: open_scope(m, a, part)))
                self.handles.append(module.register_forward_hook(close_scope))
        return self

    def __exit__(self, *exc) -> None:
        for h in self.handles:
            h.remove()
        self.handles.clear()


# ----------------------------------------------------------------------------------------------------
# attribution of profiler events
# ----------------------------------------------------------------------------------------------------
@dataclass
class _State:
    """What an event inherits from its ancestors."""

    part: str  # the enclosing scope's part; for backward events, the part of the forward op of their node
    backward: bool = False
    cast: bool = False  # an ancestor (or the event) is a dtype cast
    copy: bool = False  # ... a layout copy
    outer_op: str | None = None  # the outermost op below the scope

    def inherit(self, name: str) -> _State:
        return _State(self.part, self.backward, self.cast or name in CAST_OPS, self.copy or name in COPY_OPS,
                      self.outer_op or name)

    def module_part(self) -> str:
        if not self.backward and self.part == "attention" and self.outer_op in KV_OPS:
            return KV
        return self.part

    def final(self) -> str:
        if self.part in ("loss", "optimizer"):
            return self.part
        if self.cast:
            return "dtype casts"
        if self.copy:
            return "layout copies"
        return self.module_part()


@dataclass
class PartTime:
    """Time of one part in one step: ``ms`` (CPU self time on the CPU, kernel time on CUDA), ``cpu_ms``, the
    number of ops (CPU) or kernels (CUDA), and per op/kernel name: [ms, count]."""

    ms: float = 0.0
    cpu_ms: float = 0.0
    count: int = 0
    by_name: dict[str, list] = field(default_factory=lambda: defaultdict(lambda: [0.0, 0]))


def _is_backward_node(evt) -> bool:
    return evt.scope == 1 or evt.name.startswith("autograd::engine::evaluate_function:")


def attribute(events: Iterable, cuda: bool = False) -> dict[str, PartTime]:
    """Group the self times of profiler ``events`` (``prof.events()``) by part; see the module doc."""
    cpu_events = sorted((e for e in events if e.device_type == DeviceType.CPU and not e.is_async),
                        key=lambda e: (e.time_range.start, -e.time_range.end))
    states: dict[int, _State] = {}
    forward_part: dict[tuple[int, int], str] = {}  # (thread, sequence number) of a forward op -> its part
    parts: dict[str, PartTime] = defaultdict(PartTime)
    for e in cpu_events:
        parent = states.get(id(e.cpu_parent)) if e.cpu_parent is not None else None
        name = e.name
        if name.startswith(SCOPE_PREFIX):
            state = _State(name[len(SCOPE_PREFIX):])
        elif name in STEP_SCOPES or name.startswith("Optimizer."):
            state = _State(STEP_SCOPES.get(name, "optimizer"))
        elif _is_backward_node(e) and (parent is None or not parent.backward):
            if e.sequence_nr >= 0:
                # an in-place op on a view (CopySlices) takes the number after its forward op's
                part = next((forward_part[(e.fwd_thread, e.sequence_nr - d)] for d in range(3)
                             if (e.fwd_thread, e.sequence_nr - d) in forward_part), "other")
            else:  # AccumulateGrad and other nodes without a forward op
                part = "optimizer" if "AccumulateGrad" in name else "other"
            state = _State(part, backward=True)
        else:
            state = (parent or _State("other")).inherit(name)
        states[id(e)] = state
        if not state.backward and e.sequence_nr >= 0:
            forward_part[(e.thread, e.sequence_nr)] = state.module_part()
        part = state.final()
        pt = parts[part]
        # for copies and casts, say in which module part they happened
        where = f" @ {state.module_part()}" if part in ("layout copies", "dtype casts") else ""
        cpu_ms = e.self_cpu_time_total / 1000
        pt.cpu_ms += cpu_ms
        if cuda:
            pt.ms += e.self_device_time_total / 1000
            for k in e.kernels:
                pt.count += 1
                entry = pt.by_name[k.name + where]
                entry[0] += k.duration / 1000
                entry[1] += 1
        else:
            pt.ms += cpu_ms
            pt.count += 1
            entry = pt.by_name[name + where]
            entry[0] += cpu_ms
            entry[1] += 1
    return dict(parts)


# ----------------------------------------------------------------------------------------------------
# one runner's profile, and its reports
# ----------------------------------------------------------------------------------------------------
def _top(by_name: dict[str, list], n: int, part: str | None = None) -> list[dict]:
    rows = sorted(by_name.items(), key=lambda kv: -kv[1][0])[:n]
    return [dict(name=k, ms=v[0], count=v[1], **({"part": part} if part else {})) for k, v in rows]


def profile_runner(runner: BenchmarkRunner, warmup: int = 1, repeats: int = 1, steps: int = 1,
                   trace: str | None = None, top: int = 8) -> dict:
    """Warm ``runner`` up, time ``repeats`` steps without the profiler, then profile ``steps`` steps with
    :class:`PartScopes`; returns the per-part times of one step (see :class:`PartTime`) and the top ops or
    kernels of each part and overall. ``trace``: also write a Chrome trace there."""
    measure_interleaved([runner], warmup, repeats)
    cuda = runner.device.type == "cuda"
    activities = [torch.profiler.ProfilerActivity.CPU] + [torch.profiler.ProfilerActivity.CUDA] * cuda
    with PartScopes(runner.model), torch.profiler.profile(activities=activities) as prof:
        sync(runner.device)
        t0 = time.perf_counter()
        for _ in range(steps):
            runner.step()
        sync(runner.device)
        wall = time.perf_counter() - t0
    if trace:
        prof.export_chrome_trace(trace)
    parts = attribute(prof.events(), cuda)
    merged: dict[str, list] = {}
    for name, pt in parts.items():
        for op, (ms, count) in pt.by_name.items():
            merged[f"{op}\0{name}"] = [ms / steps, count / steps]
    overall = [dict(name=r["name"].split("\0")[0], part=r["name"].split("\0")[1], ms=r["ms"], count=r["count"])
               for r in _top(merged, 3 * top)]
    res = runner.result
    return dict(model=res.model, mode=res.mode, precision=res.precision, img_size=list(res.img_size),
                batch_size=res.batch_size, time="cuda kernel time" if cuda else "cpu self time",
                step_ms=1000 * statistics.median(res.times_s), profiled_step_ms=1000 * wall / steps,
                parts={name: dict(ms=parts[name].ms / steps, cpu_ms=parts[name].cpu_ms / steps,
                                  count=parts[name].count / steps,
                                  top=[dict(r, ms=r["ms"] / steps, count=r["count"] / steps)
                                       for r in _top(parts[name].by_name, top)])
                       for name in PARTS if name in parts},
                top=overall)


def _mode_table(profiles: Sequence[dict], cuda: bool) -> list[str]:
    labels = [p["model"] for p in profiles]
    head = "| part |" + "".join(f" {m} ms | share |" + (" kernels |" if cuda else "") for m in labels)
    rule = "|---|" + "---:|---:|" * len(labels) + "---:|" * len(labels) * cuda
    lines = [head, rule]
    totals = [sum(v["ms"] for v in p["parts"].values()) for p in profiles]
    for part in PARTS:
        if not any(part in p["parts"] and p["parts"][part]["ms"] > 0 for p in profiles):
            continue
        cells = []
        for p, total in zip(profiles, totals):
            v = p["parts"].get(part)
            cells.append(f" {v['ms']:.1f} | {100 * v['ms'] / total:.1f}% |" if v else " - | - |")
            if cuda:
                cells[-1] += f" {v['count']:.0f} |" if v else " - |"
        lines.append(f"| {part} |" + "".join(cells))
    sums = [f" **{t:.1f}** | 100% |" + (f" {sum(v['count'] for v in p['parts'].values()):.0f} |" if cuda else "")
            for p, t in zip(profiles, totals)]
    lines.append("| **sum of parts** |" + "".join(sums))
    lines.append("| step time without the profiler |" + "".join(
        f" {p['step_ms']:.1f} | |" + (" |" if cuda else "") for p in profiles))
    return lines


def markdown(report: dict) -> str:
    """Per mode: one table of the parts of every profiled model side by side; the top ops/kernels; the legend."""
    meta, profiles = report["meta"], report["profiles"]
    cuda = meta["device"].startswith("cuda")
    lines = [f"`{meta['command']}`", "",
             f"{meta['device_name']} ({meta['device']}), {meta['threads']} threads, batch {meta['batch_size']}, "
             f"{meta['img_size'][0]}x{meta['img_size'][1]}, {meta['precision']}; ms per step = "
             f"{'kernel (device) time' if cuda else 'self CPU time'} of one step, average of {meta['steps']} "
             f"profiled step(s); torch {meta['torch']}, timm {meta['timm']}"
             f"{'; load average ' + ', '.join(map(str, meta['load_average'])) if meta.get('load_average') else ''}"]
    for mode in dict.fromkeys(p["mode"] for p in profiles):
        rows = [p for p in profiles if p["mode"] == mode]
        lines += ["", f"**{mode}**", ""] + _mode_table(rows, cuda)
    lines += ["", f"Top {'kernels' if cuda else 'ops'} (self time per step):", "",
              "| model | mode | op | part | ms | calls |", "|---|---|---|---|---:|---:|"]
    for p in profiles:
        for r in p["top"][:10]:
            name = r["name"] if len(r["name"]) <= 60 else r["name"][:57] + "..."
            lines.append(f"| {p['model']} | {p['mode']} | `{name}` | {r['part']} | {r['ms']:.1f} | {r['count']:.0f} |")
    lines += ["", "| part | what it holds |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in PART_NOTES.items()]
    return "\n".join(lines) + "\n"


def plot(report: dict, path) -> None:
    """Horizontal bars: ms per part, one panel per mode, the models side by side."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    profiles, meta = report["profiles"], report["meta"]
    modes = list(dict.fromkeys(p["mode"] for p in profiles))
    models = list(dict.fromkeys(p["model"] for p in profiles))
    present = [part for part in PARTS if any(p["parts"].get(part, {}).get("ms", 0) > 0 for p in profiles)]
    fig, axes = plt.subplots(1, len(modes), figsize=(6 * len(modes), 0.35 * len(present) * len(models) / 2 + 2),
                             squeeze=False)
    height = 0.8 / len(models)
    for ax, mode in zip(axes[0], modes):
        for j, model in enumerate(models):
            prof = next((p for p in profiles if p["mode"] == mode and p["model"] == model), None)
            if prof is None:
                continue
            vals = [prof["parts"].get(part, {}).get("ms", 0) for part in present]
            ys = [i + (j - (len(models) - 1) / 2) * height for i in range(len(present))]
            ax.barh(ys, vals, height, color=f"C{j}", label=f"{model} ({sum(vals):.0f} ms)")
        ax.set_yticks(range(len(present)), present, fontsize=8)
        ax.invert_yaxis()
        ax.set_xlabel(f"ms per step ({'kernel time' if meta['device'].startswith('cuda') else 'self CPU time'})")
        ax.set_title(mode)
        ax.grid(axis="x", alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(f"{meta['device_name'][:40]}, {meta['threads']} threads, batch {meta['batch_size']}, "
                 f"{meta['img_size'][0]}x{meta['img_size'][1]}, {meta['precision']}", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
