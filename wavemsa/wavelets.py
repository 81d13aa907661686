"""Exact discrete wavelet transforms as differentiable PyTorch modules.

All transforms use PyWavelets' ``mode='periodization'`` convention and orthogonal wavelets, so each
inverse reconstructs its input exactly and is the adjoint of the forward transform.

* ``DWT2D``:  (B, C, H, W) -> (B, 4C, ceil(H/2), ceil(W/2)); channel groups ``[cA, cH, cV, cD]``
  (C channels each) equal ``pywt.dwt2(x, wave, mode='periodization')``.
* ``IDWT2D``: (B, 4C, h, w) -> (B, C, 2h, 2w), the inverse of ``DWT2D``.
* ``DWT1D``:  (B, C, ...) -> ``(low, high)``, each (B, ceil(C/2), ...), equal to
  ``pywt.dwt(x, wave, mode='periodization', axis=1)`` (the transform runs along the channel axis).
* ``IDWT1D``: ``(low, high)`` -> (B, 2 * C_half, ...).

Odd lengths are handled as PyWavelets does: the last sample is repeated to make the length even.

Haar (the wavelet WaveMSA uses) has a fast path made of strided slices, sums and differences: no
convolution, no matrices and no NumPy per call. Every other orthogonal wavelet goes through a general
path: circular padding + strided convolution (and its exact adjoint for the inverse). Filters are
built once, in float64, and cast to the input's dtype and device on use.

The four modules are TorchScript-compatible and registered with timm as leaves for torch.fx tracing
(their size checks and odd-length padding depend on the input's shape).
"""
from __future__ import annotations

import math

import pywt
import torch
import torch.nn.functional as F
from timm.layers import register_notrace_module
from torch import nn

__all__ = ["DWT1D", "IDWT1D", "DWT2D", "IDWT2D", "haar_dwt2d", "haar_idwt2d", "haar_dwt1d", "haar_idwt1d"]


def _orthogonal_filters(wave: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Decomposition (low, high) filters of an orthogonal PyWavelets wavelet, float64, reversed for
    use with ``conv1d`` (cross-correlation)."""
    try:
        w = pywt.Wavelet(wave)
    except ValueError as err:
        raise ValueError(f"unknown wavelet {wave!r}: use a discrete PyWavelets name such as 'haar' or 'db2'") from err
    if not w.orthogonal:
        raise ValueError(f"wavelet {wave!r} is not orthogonal; only orthogonal wavelets are supported")
    lo = torch.tensor(w.dec_lo[::-1], dtype=torch.float64)
    hi = torch.tensor(w.dec_hi[::-1], dtype=torch.float64)
    return lo, hi


def _make_even(x: torch.Tensor, dim: int) -> torch.Tensor:
    """Repeat the last sample along ``dim`` when its length is odd (PyWavelets' periodization rule)."""
    n = x.shape[dim]
    if n % 2 == 0:
        return x
    return torch.cat([x, x.narrow(dim, n - 1, 1)], dim=dim)


# ----------------------------------------------------------------------------------------------------
# Haar fast paths (functional)
# ----------------------------------------------------------------------------------------------------
def haar_dwt2d(x: torch.Tensor) -> torch.Tensor:
    """Haar DWT over the last two dims of (B, C, H, W) with even H, W -> (B, 4C, H/2, W/2)."""
    a, b = x[..., 0::2, 0::2], x[..., 0::2, 1::2]
    c, d = x[..., 1::2, 0::2], x[..., 1::2, 1::2]
    s_top, d_top = a + b, a - b
    s_bot, d_bot = c + d, c - d
    out = torch.cat([s_top + s_bot, s_top - s_bot, d_top + d_bot, d_top - d_bot], dim=1)
    return out * 0.5


def haar_idwt2d(x: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`haar_dwt2d`: (B, 4C, h, w) -> (B, C, 2h, 2w).

    The output keeps the input's memory format (channels_last in, channels_last out), so a conv after it
    needs no layout conversion.
    """
    B, C4, h, w = x.shape
    channels_last = not x.is_contiguous() and x.is_contiguous(memory_format=torch.channels_last)
    if channels_last:  # work on the (B, h, w, 4C) view: the output is written as (B, h, 2, w, 2, C)
        bands = x.permute(0, 2, 3, 1).chunk(4, dim=-1)
        pos_w, pos_h = 3, 2
    else:
        bands = x.chunk(4, dim=1)
        pos_w, pos_h = -1, -3
    ll, lh, hl, hh = bands[0], bands[1], bands[2], bands[3]
    s1, d1 = ll + lh, ll - lh
    s2, d2 = hl + hh, hl - hh
    # even rows: a = (s1 + s2)/2, b = (s1 - s2)/2 ; odd rows: c = (d1 + d2)/2, d = (d1 - d2)/2
    top = torch.stack([s1 + s2, s1 - s2], dim=pos_w)
    bot = torch.stack([d1 + d2, d1 - d2], dim=pos_w)
    out = torch.stack([top, bot], dim=pos_h)
    if channels_last:  # (B, h, 2, w, 2, C)
        return (out.reshape(B, 2 * h, 2 * w, C4 // 4) * 0.5).permute(0, 3, 1, 2)
    return out.reshape(B, C4 // 4, 2 * h, 2 * w) * 0.5  # from (B, C, h, 2, w, 2)


def haar_dwt1d(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Haar DWT along dim 1 (even length) -> (low, high)."""
    even, odd = x[:, 0::2], x[:, 1::2]
    return (even + odd) * math.sqrt(0.5), (even - odd) * math.sqrt(0.5)


def haar_idwt1d(low: torch.Tensor, high: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`haar_dwt1d`: interleaves (low + high, low - high) / sqrt(2) along dim 1."""
    out = torch.stack([low + high, low - high], dim=2)
    return out.flatten(1, 2) * math.sqrt(0.5)


# ----------------------------------------------------------------------------------------------------
# General orthogonal wavelets: circular pad + strided conv, and the exact adjoint
# ----------------------------------------------------------------------------------------------------
def _fold_circular(z: torch.Tensor, pad: int, dim: int) -> torch.Tensor:
    """Adjoint of circular padding by ``pad`` on both sides of ``dim``: wrap the borders back in."""
    if pad == 0:
        return z
    n = z.shape[dim] - 2 * pad
    core = z.narrow(dim, pad, n).clone()
    core.narrow(dim, n - pad, pad).add_(z.narrow(dim, 0, pad))
    core.narrow(dim, 0, pad).add_(z.narrow(dim, n + pad, pad))
    return core


def _analysis_last_dim(x: torch.Tensor, bank: torch.Tensor) -> torch.Tensor:
    """(..., N) with even N -> (..., 2, N/2): low/high band along the last dim. ``bank``: (2, 1, L)."""
    lead, n = list(x.shape[:-1]), x.shape[-1]
    pad = bank.shape[-1] // 2 - 1
    y = x.reshape(-1, 1, n)
    if pad > 0:
        y = F.pad(y, [pad, pad], mode="circular")
    y = F.conv1d(y, bank, stride=2)
    return y.reshape(lead + [2, n // 2])


def _synthesis_last_dim(y: torch.Tensor, bank: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`_analysis_last_dim`: (..., 2, n) -> (..., 2n)."""
    lead, n = list(y.shape[:-2]), y.shape[-1]
    pad = bank.shape[-1] // 2 - 1
    z = F.conv_transpose1d(y.reshape(-1, 2, n), bank, stride=2)
    z = _fold_circular(z, pad, dim=-1)
    return z.reshape(lead + [2 * n])


class _WaveletBase(nn.Module):
    """Holds the filter bank of one orthogonal wavelet (float64, non-persistent)."""

    def __init__(self, wave: str = "haar", device=None) -> None:
        super().__init__()
        self.wave = wave
        lo, hi = _orthogonal_filters(wave)
        self.is_haar = lo.numel() == 2  # 'haar' and its alias 'db1'; fast path
        bank = torch.stack([lo, hi]).unsqueeze(1).to(device)  # (2, 1, L)
        self.register_buffer("bank", bank, persistent=False)

    def _bank(self, x: torch.Tensor) -> torch.Tensor:
        return self.bank.to(device=x.device, dtype=x.dtype)

    def extra_repr(self) -> str:
        return f"wave={self.wave!r}"


def _check_ndim(x: torch.Tensor, ndim: int, name: str) -> None:
    if x.dim() != ndim:
        raise ValueError(f"{name} expects a {ndim}-D tensor, got shape {x.shape}")


@register_notrace_module
class DWT2D(_WaveletBase):
    """2-D DWT: (B, C, H, W) -> (B, 4C, ceil(H/2), ceil(W/2)), groups [cA, cH, cV, cD] as pywt.dwt2."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_ndim(x, 4, "DWT2D")
        x = _make_even(_make_even(x, 2), 3)
        if self.is_haar:
            return haar_dwt2d(x)
        B, C, H, W = x.shape
        bank = self._bank(x)
        y = _analysis_last_dim(x, bank)  # along W: (B, C, H, 2[w band], W/2)
        y = _analysis_last_dim(y.transpose(2, 4), bank)  # along H: (B, C, W/2, 2[w], 2[h], H/2)
        # pywt order: cA (h low, w low), cH (h high, w low), cV (h low, w high), cD (h high, w high)
        y = y.permute(0, 3, 4, 1, 5, 2)  # (B, w band, h band, C, H/2, W/2)
        return y.reshape(B, 4 * C, H // 2, W // 2)


@register_notrace_module
class IDWT2D(_WaveletBase):
    """Inverse 2-D DWT: (B, 4C, h, w) -> (B, C, 2h, 2w)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_ndim(x, 4, "IDWT2D")
        if x.shape[1] % 4 != 0:
            raise ValueError(f"IDWT2D expects a channel count divisible by 4, got {x.shape[1]}")
        if self.is_haar:
            return haar_idwt2d(x)
        B, C4, h, w = x.shape
        bank = self._bank(x)
        y = x.reshape(B, 2, 2, C4 // 4, h, w).permute(0, 3, 5, 1, 2, 4)  # (B, C, w, w band, h band, h)
        y = _synthesis_last_dim(y, bank)  # along H: (B, C, w, 2[w band], 2h)
        y = _synthesis_last_dim(y.transpose(2, 4), bank)  # along W: (B, C, 2h, 2w)
        return y


@register_notrace_module
class DWT1D(_WaveletBase):
    """1-D DWT along dim 1: (B, C, ...) -> (low, high), each (B, ceil(C/2), ...), as pywt.dwt(axis=1)."""

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if x.dim() < 2:
            raise ValueError(f"DWT1D expects at least a 2-D tensor (B, C, ...), got shape {x.shape}")
        x = _make_even(x, 1)
        if self.is_haar:
            return haar_dwt1d(x)
        y = _analysis_last_dim(x.movedim(1, -1), self._bank(x))  # (B, ..., 2, C/2)
        return y.select(-2, 0).movedim(-1, 1), y.select(-2, 1).movedim(-1, 1)


@register_notrace_module
class IDWT1D(_WaveletBase):
    """Inverse 1-D DWT along dim 1: (low, high), each (B, C', ...) -> (B, 2C', ...)."""

    def forward(self, low: torch.Tensor, high: torch.Tensor) -> torch.Tensor:
        if low.shape != high.shape:
            raise ValueError(f"IDWT1D expects low and high of equal shape, got {low.shape} and {high.shape}")
        if self.is_haar:
            return haar_idwt1d(low, high)
        y = torch.stack([low.movedim(1, -1), high.movedim(1, -1)], dim=-2)  # (B, ..., 2, C')
        return _synthesis_last_dim(y, self._bank(low)).movedim(-1, 1)
