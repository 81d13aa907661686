"""Eager-mode speed paths of WaveFormer: the same functions as the plain layer code, with less memory traffic.

The layers (:mod:`wavemsa.attention`, :mod:`wavemsa.waveformer`) are written as plain PyTorch in timm's style.
When eager PyTorch runs them (:func:`active`), three of them hand over to the functions here:

* ``ConvFFN`` -> :func:`conv_ffn_forward`: on the CPU the FFN runs in tiles (groups of whole images, or bands
  of rows of one large image) whose hidden activation stays under a byte budget, :data:`FFN_TILE_BYTES`; without
  autograd its GELU runs in place.
* ``Block`` -> :func:`block_forward`: without autograd each residual is added into the branch's fresh output
  (:func:`add_residual`), as is the WBB's local residual.
* ``WaveAttention``'s output projection -> :func:`linear_of_concat`: ``proj(cat([a, b], -1))`` as two GEMMs
  writing one output, without the concatenation.

Why it pays: the FFN's hidden tensor is the largest of the network (8x the width in stages 1-2: 98 MiB for a
batch of 16 at 224x224 in stage 1). glibc's malloc serves blocks above 32 MiB with fresh pages from the kernel,
which are faulted in and zeroed on every step; smaller blocks reuse memory freed a moment before. At inference
each tile is freed before the next starts (small tiles do best); with autograd each tile's activations live
until the backward pass (fewer, larger tiles do best). In-place adds and GELU save allocating tensors of that
size again. Under an allocator that keeps freed memory the tiles neither help nor cost measurably
(``tools/README_benchmark.md``).

Under TorchScript, torch.fx symbolic tracing, ``torch.jit.trace``, ``torch.compile`` and ``torch.export`` (and so
ONNX export) the plain layer code runs instead: those tools see one graph without data-dependent tiling and
optimise memory themselves. Outputs agree to float rounding (``tests/test_model.py``).
"""
from __future__ import annotations

import torch
from torch import nn

try:
    from torch.fx._symbolic_trace import is_fx_symbolic_tracing
except ImportError:  # torch < 2.6
    from torch.fx._symbolic_trace import is_fx_tracing as is_fx_symbolic_tracing

__all__ = ["FFN_TILE_BYTES", "active", "add_residual", "block_forward", "conv_ffn_forward", "ffn_tiles",
           "linear_of_concat"]

# Largest hidden activation (images x tokens x hidden) a CPU ConvFFN builds at once, without and with autograd.
# Both stay under glibc's largest mmap threshold (32 MiB).
FFN_TILE_BYTES = (8 * 2**20, 28 * 2**20)
MIN_BAND_ROWS = 8  # a band of fewer rows would spend more than 25% extra on its halo rows in fc1


def active() -> bool:
    """True in eager PyTorch; False while a tracer or compiler records the model (then the plain code runs)."""
    return not (torch.jit.is_tracing() or is_fx_symbolic_tracing() or torch.compiler.is_compiling()
                or torch.compiler.is_exporting())


def add_residual(branch: torch.Tensor, shortcut: torch.Tensor) -> torch.Tensor:
    """``shortcut + branch``. Without autograd, when ``branch`` is a fresh tensor of the result's dtype, the sum is
    written into it (no new allocation; same values). Under autocast the dtypes can differ and the ordinary
    promoting add runs."""
    if torch.is_grad_enabled() or branch.dtype != torch.result_type(branch, shortcut):
        return shortcut + branch
    return branch.add_(shortcut)


def block_forward(block: nn.Module, x: torch.Tensor, feat_size: list[int]) -> torch.Tensor:
    """``wavemsa.waveformer.Block.forward`` with :func:`add_residual` for its two residual adds."""
    x = add_residual(block.drop_path1(block.attn(block.norm1(x), feat_size)), x)
    return add_residual(block.drop_path2(block.mlp(block.norm2(x), feat_size)), x)


def linear_of_concat(linear: nn.Linear, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``linear(cat([a, b], -1))`` for two (B, N, C) inputs without building the (B, N, 2C) concatenation: the two
    halves of the weight are applied one after the other (two GEMMs writing one output), which saves a write and
    a read of 2C values per token."""
    C = a.shape[-1]
    w_a, w_b = linear.weight.split(C, dim=1)
    y = nn.functional.linear(a, w_a, linear.bias)  # under autocast y is in the autocast dtype
    return y.view(-1, C).addmm_(b.reshape(-1, C).to(y.dtype), w_b.t().to(y.dtype)).view_as(y)


def ffn_tiles(x: torch.Tensor, feat_size: list[int], hidden_dim: int,
              tile_bytes: tuple[int, int] = FFN_TILE_BYTES,
              min_band_rows: int = MIN_BAND_ROWS) -> list[tuple[int, int, int, int]]:
    """The tiles of a ConvFFN input ``x`` (B, H*W, C) as (first image, end image, first row, end row): one tile
    unless on the CPU the hidden activation (B x H*W x ``hidden_dim``) exceeds the budget ``tile_bytes[0]``
    (inference) or ``tile_bytes[1]`` (autograd); 0 disables tiling."""
    B = x.shape[0]
    H, W = feat_size
    budget = tile_bytes[torch.is_grad_enabled()]
    row_bytes = W * hidden_dim * x.element_size()
    if budget <= 0 or x.device.type != "cpu" or B * H * row_bytes <= budget:
        return [(0, B, 0, H)]
    if H * row_bytes <= budget:
        step = budget // (H * row_bytes)
        return [(i, min(i + step, B), 0, H) for i in range(0, B, step)]
    rows = max(min_band_rows, budget // row_bytes - 2)
    return [(i, i + 1, r, min(r + rows, H)) for i in range(B) for r in range(0, H, rows)]


def conv_ffn_forward(ffn: nn.Module, x: torch.Tensor, feat_size: list[int],
                     tile_bytes: tuple[int, int] = FFN_TILE_BYTES, min_band_rows: int = MIN_BAND_ROWS) -> torch.Tensor:
    """``wavemsa.waveformer.ConvFFN.forward`` run in :func:`ffn_tiles`: (B, H*W, C) -> (B, H*W, C)."""
    H, W = feat_size
    tiles = ffn_tiles(x, feat_size, ffn.fc1.out_features, tile_bytes, min_band_rows)
    if len(tiles) == 1:
        return _conv_ffn_rows(ffn, x, H, W, 0, H)
    groups: dict[int, list[torch.Tensor]] = {}  # first image of a tile -> its bands of rows, in order
    for i, j, r0, r1 in tiles:
        groups.setdefault(i, []).append(_conv_ffn_rows(ffn, x[i:j], H, W, r0, r1))
    return torch.cat([bands[0] if len(bands) == 1 else torch.cat(bands, dim=1) for bands in groups.values()])


def _conv_ffn_rows(ffn: nn.Module, x: torch.Tensor, H: int, W: int, r0: int, r1: int) -> torch.Tensor:
    """The FFN's output for rows [r0, r1) of the H x W grid: (b, H*W, C) -> (b, (r1 - r0) * W, C)."""
    lo, hi = max(r0 - 1, 0), min(r1 + 1, H)  # the depth-wise conv reads one row above and below
    hidden = ffn.fc1(x[:, lo * W:hi * W] if (lo, hi) != (0, H) else x)
    hidden = hidden.transpose(1, 2).reshape(hidden.shape[0], -1, hi - lo, W)  # a channels_last view
    hidden = ffn.dwconv(hidden)[:, :, r0 - lo:r1 - lo].flatten(2).transpose(1, 2)
    if torch.is_grad_enabled() or not isinstance(ffn.act, nn.GELU):
        return ffn.fc2(ffn.act(hidden))
    # inference: the GELU overwrites the conv's fresh output instead of allocating the largest tensor of the
    # block again (a fresh allocation costs more than the GELU itself on the CPU)
    return ffn.fc2(torch.ops.aten.gelu_(hidden, approximate=ffn.act.approximate))
