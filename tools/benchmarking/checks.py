"""Output and gradient comparisons: the fast model computes the published function, in every mode measured.

* :func:`output_differences` (``tools/benchmark.py --check``): on the benchmark input, at inference, the max
  |difference| of ``NAME:reference`` / ``NAME:nofuse`` to the fused ``NAME`` (float32), and of every model
  under each reduced precision to its own float32 output;
* :func:`compiled_differences`: compiled vs eager output of the compiled inference runners;
* :func:`equivalence` (``tools/equivalence.py``, the GPU check): library vs reference outputs (fused,
  unfused, in-place inference path, autograd path), training loss and every parameter gradient, reduced
  precision vs float32 and, optionally, compiled vs eager; each with a tolerance relative to the compared
  tensor's largest magnitude.

Float32 comparisons run with TF32 off (on Ampere and later, cuDNN and cuBLAS would otherwise use 10-bit
mantissas in float32 convolutions and matmuls).
"""
from __future__ import annotations

import contextlib
import copy
from collections.abc import Iterator, Sequence

import timm
import torch
from torch import nn

from .models import Spec, prepare, reference_wavemsa
from .runners import BenchmarkRunner, InferenceBenchmarkRunner, Precision, loss_of, make_inputs

__all__ = ["output_differences", "compiled_differences", "equivalence", "exact_float32"]

FP32_OUTPUT_TOL = 1e-4  # max |a - b| / max |b| for float32 outputs of two formulations
# the same, per parameter gradient: the WBB convs feed training-mode BatchNorms, which cancel most of their gradient,
# so float32 rounding alone moves those gradients by up to 1.1e-2 of their largest value (float32 vs float64 of one
# model, tools/grad_conditioning.py, asset/records/gpu-h200-2026-11-28/wbb_grad_conditioning_cpu.json)
FP32_GRAD_TOL = 3e-2
AMP_OUTPUT_TOL = 0.1  # reduced precision vs float32: catches overflow, NaN and wrong casts, not rounding
COMPILED_TOL = 1e-3  # compiled (inductor reorders and fuses reductions) vs eager, float32


@contextlib.contextmanager
def exact_float32() -> Iterator[None]:
    """TF32 off for CUDA matmuls and convolutions inside the block."""
    old = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = old


def _first(out) -> torch.Tensor:
    """The compared tensor of an output: logits, or the first map of a feature list."""
    return (out[0] if isinstance(out, (list, tuple)) else out).float()


def _diff(a: torch.Tensor, b: torch.Tensor) -> tuple[float, float]:
    """(max |a - b|, max |b|)."""
    a, b = _first(a), _first(b)
    return (a - b).abs().max().item(), b.abs().max().item()


def output_differences(built: dict[str, nn.Module], specs: Sequence[Spec], x: torch.Tensor,
                       precisions: Sequence[Precision] = (), device: torch.device | str = "cpu"
                       ) -> tuple[dict[str, float], dict[str, float]]:
    """At inference on ``x``: ``{"NAME vs NAME:reference": max |diff|, "NAME vs NAME:nofuse": ...,
    "LABEL <precision> vs float32": ...}`` and the largest |output| each difference is relative to."""
    diffs, scales, fp32 = {}, {}, {}
    x = x.to(device)
    for spec in specs:
        model = prepare(spec, built[spec.label], "infer").to(device)
        with exact_float32(), torch.inference_mode():
            fp32[spec.label] = model(x)
        for p in precisions:
            if p.dtype == "float32":
                continue
            runner = InferenceBenchmarkRunner(spec.label, copy.deepcopy(model), x, x.new_zeros(0), p, device)
            key = f"{spec.label} {p.label} vs float32"
            diffs[key], scales[key] = _diff(runner.output(), fp32[spec.label])
    for spec in specs:
        if spec.kind and spec.name in fp32:
            key = f"{spec.name} vs {spec.label}"
            diffs[key], scales[key] = _diff(fp32[spec.label], fp32[spec.name])
    return diffs, scales


def compiled_differences(runners: Sequence[BenchmarkRunner]) -> tuple[dict[str, float], dict[str, float]]:
    """Compiled vs eager output of each compiled inference runner (same precision, same input)."""
    diffs, scales = {}, {}
    for r in runners:
        if isinstance(r, InferenceBenchmarkRunner) and r.compiled:
            key = f"{r.result.model} {r.precision.label} compiled vs eager"
            diffs[key], scales[key] = _diff(r.output(compiled=True), r.output(compiled=False))
    return diffs, scales


# ----------------------------------------------------------------------------------------------------
# the equivalence check of the GPU script
# ----------------------------------------------------------------------------------------------------
@torch.no_grad()
def _calibrate_batchnorm(model: nn.Module, x: torch.Tensor) -> None:
    """Running statistics from a few forward passes in train mode (cumulative average), so that folding
    BatchNorm at inference is exercised with non-trivial statistics."""
    bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    momenta = [m.momentum for m in bns]
    for m in bns:
        m.momentum = None
    model.train()
    for i in range(3):
        model(x * (1 + 0.5 * i) + 0.1 * i)
    for m, momentum in zip(bns, momenta):
        m.momentum = momentum


def _entry(name: str, diff: float, scale: float, tol: float) -> dict:
    return dict(name=name, max_abs_diff=diff, max_abs=scale, rel=diff / max(scale, 1e-12), tol=tol,
                ok=bool(diff <= tol * max(scale, 1e-12)))


def _grad_entries(name: str, model: nn.Module, other: nn.Module, tol: float) -> list[dict]:
    """The worst parameter gradient difference of ``model`` vs ``other`` (same parameter names), each relative to
    its own largest magnitude but at least 1e-3 of the largest gradient of all (a gradient that is zero in exact
    arithmetic, such as a conv bias before BatchNorm, is rounding noise in both)."""
    theirs = dict(other.named_parameters())
    pairs = [(pname, p.grad, theirs[pname].grad) for pname, p in model.named_parameters() if p.grad is not None]
    if not pairs:
        return []
    floor = 1e-3 * max(g.abs().max().item() for _, _, g in pairs)
    entries = []
    for pname, mine, ref in pairs:
        diff, scale = _diff(mine, ref)
        entries.append(_entry(f"{name}: {pname}", diff, max(scale, floor), tol))
    return [max(entries, key=lambda e: e["rel"])]


def _train_step(model: nn.Module, x: torch.Tensor, target: torch.Tensor, precision: Precision) -> torch.Tensor:
    model.zero_grad(set_to_none=True)
    with precision.autocast(x.device.type):
        loss = loss_of(model(x), target)
    loss.backward()
    return loss.detach().float()


def equivalence(arch: str = "t", device: torch.device | str = "cpu", batch_size: int = 2,
                size: tuple[int, int] = (64, 64), precisions: Sequence[Precision] = (), num_classes: int = 1000,
                compile: bool = False, compile_backend: str = "inductor") -> dict:
    """Compare WaveFormer-``arch`` (library) with the published formulation on ``device``; see module doc.

    Returns ``{"entries": [{"name", "max_abs_diff", "max_abs", "rel", "tol", "ok"}, ...], "ok": all ok}``.
    """
    device = torch.device(device)
    x, target = (t.to(device) for t in make_inputs(batch_size, size, num_classes))
    lib = timm.create_model(f"wavemsa_{arch}", num_classes=num_classes).to(device)
    _calibrate_batchnorm(lib, x)
    ref = reference_wavemsa(arch, num_classes=num_classes).to(device)
    ref.load_state_dict(lib.state_dict())
    entries: list[dict] = []
    with exact_float32():
        # inference: the published formulation, the library's autograd path, its in-place path, fused
        lib.eval(), ref.eval()
        with torch.no_grad():
            expected = ref(x)
        with torch.enable_grad():
            autograd_path = lib(x).detach()
        fused = copy.deepcopy(lib)
        fused.fuse()
        with torch.inference_mode():
            inplace_path = lib(x)
            fused_out = fused(x)
        entries += [_entry("eval: library (autograd path) vs reference", *_diff(autograd_path, expected),
                           FP32_OUTPUT_TOL),
                    _entry("eval: library (inference path) vs reference", *_diff(inplace_path, expected),
                           FP32_OUTPUT_TOL),
                    _entry("eval: fused vs unfused library", *_diff(fused_out, inplace_path), FP32_OUTPUT_TOL)]
        # training: loss and every parameter gradient, batch statistics
        lib_t, ref_t = copy.deepcopy(lib).train(), copy.deepcopy(ref).train()
        fp32 = Precision("float32")
        lib_loss, ref_loss = _train_step(lib_t, x, target, fp32), _train_step(ref_t, x, target, fp32)
        entries.append(_entry("train: loss, library vs reference", *_diff(lib_loss, ref_loss), FP32_OUTPUT_TOL))
        entries += _grad_entries("train: worst gradient, library vs reference", lib_t, ref_t, FP32_GRAD_TOL)
        if compile:
            compiled = torch.compile(copy.deepcopy(fused), backend=compile_backend)
            with torch.inference_mode():
                entries.append(_entry(f"eval: compiled ({compile_backend}) vs eager, fused",
                                      *_diff(compiled(x), fused_out), COMPILED_TOL))
            lib_c = copy.deepcopy(lib).train()
            lib_e = copy.deepcopy(lib).train()
            c_loss = _train_step(torch.compile(lib_c, backend=compile_backend), x, target, fp32)
            e_loss = _train_step(lib_e, x, target, fp32)
            entries.append(_entry(f"train: loss, compiled ({compile_backend}) vs eager", *_diff(c_loss, e_loss),
                                  COMPILED_TOL))
            entries += _grad_entries(f"train: worst gradient, compiled ({compile_backend}) vs eager", lib_c, lib_e,
                                     COMPILED_TOL * 10)
    # reduced precision: the fused model at inference and the training loss, against float32
    for p in precisions:
        if p.dtype == "float32":
            continue
        runner = InferenceBenchmarkRunner("fused", copy.deepcopy(fused), x, target, p, device)
        entries.append(_entry(f"eval: fused, {p.label} vs float32", *_diff(runner.output(), fused_out),
                              AMP_OUTPUT_TOL))
        low = copy.deepcopy(lib).train().to(p.param_dtype)
        with exact_float32():
            loss32 = _train_step(copy.deepcopy(lib).train(), x, target, Precision("float32"))
        entries.append(_entry(f"train: loss, {p.label} vs float32", *_diff(
            _train_step(low, x.to(p.param_dtype), target, p), loss32), AMP_OUTPUT_TOL))
    return dict(arch=arch, device=str(device), batch_size=batch_size, img_size=list(size),
                entries=entries, ok=all(e["ok"] for e in entries))
