"""Parameter and FLOP counting with fvcore, including ``scaled_dot_product_attention``.

fvcore counts one fused multiply-add as one FLOP (the convention of the paper's tables) and has no
rule for SDPA, so one is added: q @ k^T and attn @ v, i.e. 2 * B * heads * N * M * d; nor for the
in-place ``addmm_`` (the second GEMM of ``WaveAttention.project``), which is counted as ``addmm``.
"""
from __future__ import annotations

from math import prod

import torch
from torch import nn


def _sdpa_flop(inputs, outputs) -> int:
    q, k = (i.type().sizes() for i in inputs[:2])
    *batch, n, d = q
    m = k[-2]
    v_dim = outputs[0].type().sizes()[-1]
    return prod(batch) * n * m * (d + v_dim)


def count_params(model: nn.Module) -> int:
    """Number of parameters (trainable or not)."""
    return sum(p.numel() for p in model.parameters())


def flop_analysis(model: nn.Module, inputs: torch.Tensor | tuple):
    """fvcore's ``FlopCountAnalysis`` of one forward pass with the SDPA and ``addmm_`` rules above
    (``.total()``, ``.by_module()`` for the share of each submodule)."""
    from fvcore.nn import FlopCountAnalysis
    from fvcore.nn.jit_handles import addmm_flop_jit

    analysis = FlopCountAnalysis(model, inputs)
    analysis.set_op_handle("aten::scaled_dot_product_attention", _sdpa_flop)
    analysis.set_op_handle("aten::addmm_", addmm_flop_jit)  # fvcore knows only the out-of-place addmm
    analysis.unsupported_ops_warnings(False)
    analysis.uncalled_modules_warnings(False)
    return analysis


def count_flops(model: nn.Module, inputs: torch.Tensor | tuple) -> float:
    """FLOPs (fused multiply-adds) of one forward pass, counted by fvcore, SDPA included."""
    return float(flop_analysis(model, inputs).total())
