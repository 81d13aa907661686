"""The measurement: one runner per (model, mode, precision, input), timed interleaved with the others.

Like timm's ``benchmark.py`` (``BenchmarkRunner``, ``InferenceBenchmarkRunner``, ``TrainBenchmarkRunner``), a
runner owns its model, its input and its step; unlike timm's, a runner does not loop by itself: the
benchmark times several runners **interleaved** (A, B, C, A, B, C, ...; :func:`measure_interleaved`) so that
the ratios between models hold on a loaded machine, and the profile (:mod:`.profiling`) runs the same
``step()`` under ``torch.profiler``.

    runner = InferenceBenchmarkRunner("wavemsa_s", model, x, target, Precision.parse("bfloat16"))
    runner.step()                   # one step, untimed
    seconds = runner.timed_step()   # one step, synchronised and timed (also records CUDA peak memory)
"""
from __future__ import annotations

import contextlib
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["DTYPES", "MODES", "Precision", "Result", "BenchmarkRunner", "InferenceBenchmarkRunner",
           "TrainBenchmarkRunner", "RUNNERS", "make_inputs", "measure_interleaved", "sync"]

MODES = ("infer", "train")
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


@dataclass(frozen=True)
class Precision:
    """How a step computes: ``dtype`` with ``amp`` (autocast over float32 weights and inputs) or, without amp,
    weights and inputs stored in ``dtype``. float32 never autocasts."""

    dtype: str = "float32"
    amp: bool = False

    @classmethod
    def parse(cls, dtype: str, amp: bool = True) -> Precision:
        if dtype not in DTYPES:
            raise ValueError(f"unknown dtype {dtype!r}: expected one of {sorted(DTYPES)}")
        return cls(dtype, amp and dtype != "float32")

    @property
    def label(self) -> str:
        return f"{self.dtype} autocast" if self.amp else self.dtype

    @property
    def param_dtype(self) -> torch.dtype:
        return torch.float32 if self.amp else DTYPES[self.dtype]

    @property
    def autocast_dtype(self) -> torch.dtype | None:
        return DTYPES[self.dtype] if self.amp else None

    def autocast(self, device_type: str) -> contextlib.AbstractContextManager:
        if not self.amp:
            return contextlib.nullcontext()
        return torch.autocast(device_type, dtype=DTYPES[self.dtype])


@dataclass
class Result:
    """The times of one runner. ``precision`` is :attr:`Precision.label`."""

    model: str
    mode: str
    img_size: tuple[int, int]
    batch_size: int
    precision: str = "float32"
    times_s: list[float] = field(default_factory=list)
    peak_mem_mb: float | None = None
    compile: dict | None = None  # compiled runners: graphs / graph breaks of the first step, recompiles after it

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


def make_inputs(batch_size: int, size: tuple[int, int], num_classes: int, seed: int = 0
                ) -> tuple[torch.Tensor, torch.Tensor]:
    """A fixed random image batch (B, 3, H, W) and class targets (B,), on the CPU in float32."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(batch_size, 3, *size, generator=g)
    return x, torch.randint(0, max(num_classes, 1), (batch_size,), generator=g)


def _dynamo_counts() -> tuple[int, int]:
    """(graphs compiled, graph breaks) counted by torch._dynamo in this process so far."""
    counters = torch._dynamo.utils.counters
    return counters["stats"]["unique_graphs"], sum(counters["graph_break"].values())


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def loss_of(out, target: torch.Tensor) -> torch.Tensor:
    """Cross-entropy of logits (or of the class logits of a token-label pair); mean of feature maps."""
    if isinstance(out, (list, tuple)):
        if isinstance(out, tuple) and len(out) == 2 and out[0].dim() == 2:  # token-label (cls, aux)
            return F.cross_entropy(out[0].float(), target)
        return sum(o.float().mean() for o in out)
    return F.cross_entropy(out.float(), target)


class BenchmarkRunner:
    """One model in one mode at one precision on one input batch.

    Args:
        label: the row label (model spec).
        model: the module to run; moved to ``device``, the precision's parameter dtype and, with
            ``channels_last``, that memory format. The caller prepares it for the mode (see models.prepare).
        x, target: the input batch and class targets (moved like the model).
        precision: see :class:`Precision`.
        compile: run ``torch.compile(model, backend=compile_backend)`` (the first step compiles).
    """

    mode: str = ""

    def __init__(self, label: str, model: nn.Module, x: torch.Tensor, target: torch.Tensor,
                 precision: Precision = Precision(), device: torch.device | str = "cpu", compile: bool = False,
                 compile_backend: str = "inductor", channels_last: bool = False) -> None:
        self.device = torch.device(device)
        self.precision = precision
        fmt = torch.channels_last if channels_last else torch.preserve_format
        self.model = model.to(device=self.device, dtype=precision.param_dtype, memory_format=fmt)
        self.x = x.to(device=self.device, dtype=precision.param_dtype).contiguous(memory_format=fmt)
        self.target = target.to(self.device)
        self.compiled = compile
        self.forward = torch.compile(self.model, backend=compile_backend) if compile else self.model
        self.result = Result(label, self.mode, tuple(x.shape[-2:]), x.shape[0], precision.label)

    def autocast(self) -> contextlib.AbstractContextManager:
        return self.precision.autocast(self.device.type)

    def step(self) -> None:
        raise NotImplementedError

    def timed_step(self) -> float:
        """One synchronised step; returns its seconds (on CUDA also records the step's peak memory; compiled, the
        graphs and graph breaks dynamo made in the first step and the graphs it added in later ones)."""
        if self.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(self.device)
        before = _dynamo_counts() if self.compiled else None
        sync(self.device)
        t0 = time.perf_counter()
        self.step()
        sync(self.device)
        dt = time.perf_counter() - t0
        if self.device.type == "cuda":
            self.result.peak_mem_mb = torch.cuda.max_memory_allocated(self.device) / 2**20
        if before is not None:
            graphs, breaks = (a - b for a, b in zip(_dynamo_counts(), before))
            if self.result.compile is None:
                self.result.compile = dict(graphs=graphs, graph_breaks=breaks, first_step_s=dt, recompiles=0)
            else:
                self.result.compile["recompiles"] += graphs
        return dt

    def run(self, warmup: int = 1, repeats: int = 5) -> Result:
        """Time this runner alone (``measure_interleaved`` times several side by side)."""
        return measure_interleaved([self], warmup, repeats)[0]


class InferenceBenchmarkRunner(BenchmarkRunner):
    """Forward under ``torch.inference_mode`` (compiled: ``torch.no_grad``) and the precision's autocast."""

    mode = "infer"

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.model.eval()

    def output(self, compiled: bool = True):
        """The step's output (with ``compiled=False`` from the eager model even when compiled). A compiled model
        runs under ``torch.no_grad`` (what the torch.compile docs use; dynamo's guards on inference-mode tensors
        fail on the reference's NumPy-built matrices), an eager one under ``torch.inference_mode``."""
        no_grad = torch.no_grad if self.compiled else torch.inference_mode
        with no_grad(), self.autocast():
            return (self.forward if compiled else self.model)(self.x)

    def step(self) -> None:
        self.output()


class TrainBenchmarkRunner(BenchmarkRunner):
    """Forward + loss + backward + AdamW step (GradScaler under float16 autocast). The loss and the optimizer
    run in ``record_function`` scopes ``step.loss`` / ``step.optimizer`` (what the profile groups them by)."""

    mode = "train"

    def __init__(self, *args, lr: float = 1e-4, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.model.train()
        self.optimizer = torch.optim.AdamW([p for p in self.model.parameters() if p.requires_grad], lr=lr)
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=self.precision.autocast_dtype == torch.float16)

    def step(self) -> None:
        with self.autocast():
            out = self.forward(self.x)
            with torch.profiler.record_function("step.loss"):
                loss = loss_of(out, self.target)
        self.scaler.scale(loss).backward()
        with torch.profiler.record_function("step.optimizer"):
            self.scaler.step(self.optimizer)
            self.scaler.update()
            self.optimizer.zero_grad(set_to_none=True)


RUNNERS: dict[str, type[BenchmarkRunner]] = {"infer": InferenceBenchmarkRunner, "train": TrainBenchmarkRunner}


def measure_interleaved(runners: Sequence[BenchmarkRunner], warmup: int, repeats: int,
                        progress: Callable[[str], None] | None = None) -> list[Result]:
    """``warmup`` + ``repeats`` rounds; each round steps every runner once, in order. Appends the ``repeats``
    timed rounds to each runner's result and returns the results."""
    for r in range(warmup + repeats):
        for runner in runners:
            dt = runner.timed_step()
            if r >= warmup:
                runner.result.times_s.append(dt)
            if progress is not None:
                res = runner.result
                progress(f"{res.img_size[0]}x{res.img_size[1]} {res.mode} {res.model} {res.precision} {dt:.2f}s")
    return [runner.result for runner in runners]
