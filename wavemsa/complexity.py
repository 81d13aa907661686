"""Parameter and FLOP counting with fvcore, including ``scaled_dot_product_attention``.

fvcore counts one fused multiply-add as one FLOP (the convention of the paper's tables) and has no rule for SDPA, so
one is added: q @ k^T and attn @ v, i.e. 2 * B * heads * N * M * d.

The count is that of the formulation, not of how the library runs it. Three modules run something equivalent
that costs differently, and :func:`flop_analysis` charges each what the formulation does (hooks record their shapes
during fvcore's trace; their own fvcore count, in them and in every module above them, is replaced):

* :class:`~wavemsa.wave_conv.WaveConv1x1` runs one dense 1x1 conv (its weight built from the two per-band weights):
  charged its two per-band 1x1 convs, H * W * C_in * C_out / 2, half the dense conv (the channel transforms are
  additions);
* :class:`~wavemsa.wavelets.DWT2D` / :class:`~wavemsa.wavelets.IDWT2D` run a strided conv with fixed weights: charged
  nothing (Haar is additions and subtractions, which fvcore does not count);
* :class:`~wavemsa.attention.FrequencyFinerConv` folds the Frequency Finer into its weight (a small matrix product per
  call, independent of the image): charged its conv only.

:func:`executed_flops` gives fvcore's plain count of what runs.
"""
from __future__ import annotations

from collections import Counter
from math import prod

import torch
from torch import nn

from .attention import FrequencyFinerConv
from .wave_conv import WaveConv1x1
from .wavelets import DWT2D, IDWT2D


def _sdpa_flop(inputs, outputs) -> int:
    q, k = (i.type().sizes() for i in inputs[:2])
    *batch, n, d = q
    m = k[-2]
    v_dim = outputs[0].type().sizes()[-1]
    return prod(batch) * n * m * (d + v_dim)


def count_params(model: nn.Module) -> int:
    """Number of parameters (trainable or not)."""
    return sum(p.numel() for p in model.parameters())


def _formulation_cost(module: nn.Module, out: torch.Tensor) -> int:
    """What the formulation charges ``module`` for producing ``out`` (see the module docstring)."""
    n = int(out.numel())  # a traced tensor under fvcore's trace
    if isinstance(module, WaveConv1x1):
        return n * module.in_channels // 2
    if isinstance(module, FrequencyFinerConv):
        return n * module.in_channels * module.kernel_size[0] * module.kernel_size[1]
    return 0  # DWT2D, IDWT2D


def _analysis_class():
    from fvcore.nn import FlopCountAnalysis

    class FormulationFlopCount(FlopCountAnalysis):
        """fvcore's analysis with the modules of the module docstring charged by their formulation."""

        def _analyze(self):
            if self._stats is not None:
                return self._stats
            charged = (WaveConv1x1, FrequencyFinerConv, DWT2D, IDWT2D)
            names = {m: self._aliases[m] for m in self._model.modules() if isinstance(m, charged)}
            outer = {m: n for m, n in names.items() if not any(n.startswith(f"{o}.") for o in names.values())}
            costs = {m: 0 for m in outer}

            def record(module: nn.Module, args: tuple, out: torch.Tensor) -> None:
                costs[module] += _formulation_cost(module, out)

            hooks = [m.register_forward_hook(record) for m in outer]
            try:
                stats = super()._analyze()
            finally:
                for h in hooks:
                    h.remove()
            for m, name in outer.items():
                ran = Counter(stats.counts[name])
                parts = name.split(".") if name else []
                for depth in range(len(parts) + 1):
                    counts = stats.counts[".".join(parts[:depth])]
                    counts.subtract(ran)
                    counts["conv"] += costs[m]
                    stats.counts[".".join(parts[:depth])] = +counts  # without the emptied entries
            return stats

    return FormulationFlopCount


def flop_analysis(model: nn.Module, inputs: torch.Tensor | tuple, executed: bool = False):
    """fvcore's ``FlopCountAnalysis`` of one forward pass with the SDPA rule above (``.total()``, ``.by_module()``,
    ``.by_operator()``), the channel-wavelet convs, wavelet transforms and folded Frequency-Finer convs charged by
    their formulation (see the module docstring); ``executed=True``: fvcore's plain count of what runs."""
    from fvcore.nn import FlopCountAnalysis

    analysis = (FlopCountAnalysis if executed else _analysis_class())(model, inputs)
    analysis.set_op_handle("aten::scaled_dot_product_attention", _sdpa_flop)
    analysis.unsupported_ops_warnings(False)
    analysis.uncalled_modules_warnings(False)
    return analysis


def count_flops(model: nn.Module, inputs: torch.Tensor | tuple) -> float:
    """FLOPs (fused multiply-adds) of one forward pass of the formulation, counted by fvcore, SDPA included."""
    return float(flop_analysis(model, inputs).total())


def executed_flops(model: nn.Module, inputs: torch.Tensor | tuple) -> float:
    """fvcore's count of what the library runs (dense channel-wavelet convs, the wavelet transforms' fixed-weight
    convs, the weight folds), SDPA included."""
    return float(flop_analysis(model, inputs, executed=True).total())
