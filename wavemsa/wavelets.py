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

Each 2-D transform is one strided convolution with fixed weights: ``DWT2D`` a stride-2 L x L conv whose (4C, C, L, L)
weight sends input channel c through the four separable filters into output channels c, C + c, 2C + c, 3C + c (so
the subbands come out band-major, without a reordering copy), ``IDWT2D`` the stride-2 transposed conv with the same
weight (its adjoint). Wavelets longer than Haar (L > 2) add a circular padding by L/2 - 1 (and, in the inverse, its
adjoint). Given ``channels`` the weight is built once (a buffer that follows the module's device and dtype);
otherwise it is built per call for the input's channel count. The 1-D transforms are a strided ``conv1d`` along the
channel axis. Filters are built in float64 and cast to the input's dtype on use.

The four modules are TorchScript-compatible and registered with timm as leaves for torch.fx tracing
(their size checks and odd-length padding depend on the input's shape).
"""
from __future__ import annotations

import pywt
import torch
import torch.nn.functional as F
from timm.layers import register_notrace_module
from torch import nn

__all__ = ["DWT1D", "IDWT1D", "DWT2D", "IDWT2D"]


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


def _fold_circular(z: torch.Tensor, pad: int, dim: int) -> torch.Tensor:
    """Adjoint of circular padding by ``pad`` on both sides of ``dim``: wrap the borders back in."""
    if pad == 0:
        return z
    n = z.shape[dim] - 2 * pad
    core = z.narrow(dim, pad, n).clone()
    core.narrow(dim, n - pad, pad).add_(z.narrow(dim, 0, pad))
    core.narrow(dim, 0, pad).add_(z.narrow(dim, n + pad, pad))
    return core


def _band_major_weight(kernels: torch.Tensor, channels: int) -> torch.Tensor:
    """(4C, C, L, L) conv weight from the four (L, L) subband filters: output channel b * C + c reads input channel
    c through filter b."""
    eye = torch.eye(channels, dtype=kernels.dtype, device=kernels.device)
    L = kernels.shape[-1]
    return (kernels[:, None, None] * eye[None, :, :, None, None]).reshape(4 * channels, channels, L, L)


class _WaveletBase(nn.Module):
    """Holds the filter bank of one orthogonal wavelet: the 1-D pair ``bank`` (2, 1, L) and the four separable 2-D
    filters ``kernels`` (4, L, L) in pywt.dwt2's band order, float64, non-persistent; with ``channels`` also the
    band-major conv ``weight`` (4C, C, L, L) of the 2-D transforms."""

    def __init__(self, wave: str = "haar", channels: int | None = None, device=None, dtype=None) -> None:
        super().__init__()
        self.wave = wave
        self.name = type(self).__name__
        self.channels = channels or 0  # 0: the 2-D weight is built per call
        lo, hi = _orthogonal_filters(wave)
        self.pad = lo.numel() // 2 - 1  # circular padding of periodization (0 for Haar)
        # cA (H low, W low), cH (H high, W low), cV (H low, W high), cD (H high, W high); rows run along H
        kernels = torch.stack([torch.outer(a, b) for a, b in ((lo, lo), (hi, lo), (lo, hi), (hi, hi))])
        self.register_buffer("bank", torch.stack([lo, hi]).unsqueeze(1).to(device), persistent=False)
        self.register_buffer("kernels", kernels.to(device), persistent=False)
        weight = _band_major_weight(kernels, self.channels) if self.channels else torch.empty(0)
        self.register_buffer("weight", weight.to(device=device, dtype=dtype or torch.get_default_dtype()),
                             persistent=False)

    def _weight(self, x: torch.Tensor, channels: int) -> torch.Tensor:
        """The 2-D transforms' (4C, C, L, L) weight in ``x``'s dtype and device."""
        if self.channels:
            if channels != self.channels:
                raise ValueError(f"{self.name} was built for {self.channels} channels, got {channels}")
            weight = self.weight
        else:
            weight = _band_major_weight(self.kernels, channels)
        return weight.to(dtype=x.dtype, device=x.device)

    def extra_repr(self) -> str:
        return f"wave={self.wave!r}" + (f", channels={self.channels}" if self.channels else "")


def _check_ndim(x: torch.Tensor, ndim: int, name: str) -> None:
    if x.dim() != ndim:
        raise ValueError(f"{name} expects a {ndim}-D tensor, got shape {x.shape}")


@register_notrace_module
class DWT2D(_WaveletBase):
    """2-D DWT: (B, C, H, W) -> (B, 4C, ceil(H/2), ceil(W/2)), groups [cA, cH, cV, cD] as pywt.dwt2; one stride-2
    conv (see the module docstring)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_ndim(x, 4, "DWT2D")
        x = _make_even(_make_even(x, 2), 3)
        if self.pad:
            x = F.pad(x, [self.pad, self.pad, self.pad, self.pad], mode="circular")
        return F.conv2d(x, self._weight(x, x.shape[1]), stride=2)


@register_notrace_module
class IDWT2D(_WaveletBase):
    """Inverse 2-D DWT: (B, 4C, h, w) -> (B, C, 2h, 2w); one stride-2 transposed conv (see the module docstring)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_ndim(x, 4, "IDWT2D")
        if x.shape[1] % 4 != 0:
            raise ValueError(f"IDWT2D expects a channel count divisible by 4, got {x.shape[1]}")
        y = F.conv_transpose2d(x, self._weight(x, x.shape[1] // 4), stride=2)
        return _fold_circular(_fold_circular(y, self.pad, dim=2), self.pad, dim=3)


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


@register_notrace_module
class DWT1D(_WaveletBase):
    """1-D DWT along dim 1: (B, C, ...) -> (low, high), each (B, ceil(C/2), ...), as pywt.dwt(axis=1)."""

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if x.dim() < 2:
            raise ValueError(f"DWT1D expects at least a 2-D tensor (B, C, ...), got shape {x.shape}")
        x = _make_even(x, 1)
        y = _analysis_last_dim(x.movedim(1, -1), self.bank.to(dtype=x.dtype, device=x.device))  # (B, ..., 2, C/2)
        return y.select(-2, 0).movedim(-1, 1), y.select(-2, 1).movedim(-1, 1)


@register_notrace_module
class IDWT1D(_WaveletBase):
    """Inverse 1-D DWT along dim 1: (low, high), each (B, C', ...) -> (B, 2C', ...)."""

    def forward(self, low: torch.Tensor, high: torch.Tensor) -> torch.Tensor:
        if low.shape != high.shape:
            raise ValueError(f"IDWT1D expects low and high of equal shape, got {low.shape} and {high.shape}")
        y = torch.stack([low.movedim(1, -1), high.movedim(1, -1)], dim=-2)  # (B, ..., 2, C')
        return _synthesis_last_dim(y, self.bank.to(dtype=low.dtype, device=low.device)).movedim(-1, 1)
