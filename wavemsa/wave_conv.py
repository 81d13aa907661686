"""The channel-wavelet 1x1 convolution of the Wavelet Bottleneck Booster (the seed's ``ConvBNReLU1x1``).

A 1-D DWT along the channel axis splits the C input channels into a low and a high band (C/2 each);
a bias-free 1x1 conv maps each band to C_out/2 channels; the 1-D IDWT merges the two bands into C_out
channels. It holds C * C_out / 2 weights, half those of a dense 1x1 conv.

Everything in it is linear, so it equals one dense 1x1 conv: :meth:`WaveConv1x1.dense_weight` builds
that weight (differentiably) and :meth:`WaveConv1x1.fuse` returns the equivalent ``nn.Conv2d`` for
inference (timm's ``fuse()`` convention, so ``timm.utils.reparameterize_model`` folds it).

Speed: in training mode the forward builds the dense weight from the parameters (a C_out x C_in matrix,
cheap) and runs one 1x1 conv, instead of slicing, concatenating and re-interleaving the activations. It is
the same function with the same parameters and gradients (up to float rounding). In eval mode the factored
form runs (it is what FLOP counting sees: half the multiply-adds of a dense conv); use ``model.fuse()`` for
fast inference.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from timm.layers import register_notrace_function
from torch import nn

from .wavelets import DWT1D, IDWT1D


@register_notrace_function  # torch.fx cannot pass a traced dtype/device to torch.eye
def _identity_like(weight: torch.Tensor, n: int) -> torch.Tensor:
    """(n, n, 1, 1) identity in ``weight``'s dtype and device: n basis images of a 1x1 conv's input."""
    return torch.eye(n, dtype=weight.dtype, device=weight.device)[:, :, None, None]


class WaveConv1x1(nn.Module):
    """Channel-wavelet 1x1 conv: (B, C_in, H, W) -> (B, C_out, H, W). C_in and C_out must be even."""

    def __init__(self, in_channels: int, out_channels: int, wave: str = "haar", device=None, dtype=None) -> None:
        super().__init__()
        if in_channels % 2 or out_channels % 2:
            raise ValueError(f"WaveConv1x1 needs even channel counts, got {in_channels} -> {out_channels}")
        self.in_channels, self.out_channels = in_channels, out_channels
        self.dwt = DWT1D(wave, device=device)
        self.idwt = IDWT1D(wave, device=device)
        # one grouped conv holds both bands: group 0 maps the low band, group 1 the high band
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size=1, groups=2, bias=False, device=device,
                              dtype=dtype)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training:
            return F.conv2d(x, self.dense_weight())
        return self.factored_forward(x)

    def factored_forward(self, x: torch.Tensor) -> torch.Tensor:
        """Channel DWT, one 1x1 conv per band, channel IDWT (the published formulation)."""
        low, high = self.dwt(x)
        y = self.conv(torch.cat([low, high], dim=1))
        y_low, y_high = y.chunk(2, dim=1)
        return self.idwt(y_low, y_high)

    def dense_weight(self) -> torch.Tensor:
        """The (C_out, C_in, 1, 1) weight of the dense 1x1 conv computing the same function."""
        if self.dwt.is_haar:
            return self._haar_dense_weight()
        cols = self.factored_forward(_identity_like(self.conv.weight, self.in_channels))  # row i: image of e_i
        return cols.squeeze(-1).squeeze(-1).t().contiguous()[:, :, None, None]

    def _haar_dense_weight(self) -> torch.Tensor:
        """:meth:`dense_weight` for Haar in closed form (a few kernels instead of a DWT/conv/IDWT chain on an
        identity). With ``W_L``, ``W_H`` the (C_out/2, C_in/2) weights of the low and high band, ``S = (W_L + W_H)/2``
        and ``D = (W_L - W_H)/2``: output channel 2m takes ``S[m, k]`` from input 2k and ``D[m, k]`` from 2k+1,
        output channel 2m+1 takes ``D[m, k]`` from 2k and ``S[m, k]`` from 2k+1."""
        w_low, w_high = self.conv.weight[:, :, 0, 0].chunk(2, dim=0)
        s, d = (w_low + w_high) * 0.5, (w_low - w_high) * 0.5
        even, odd = torch.stack([s, d], dim=-1), torch.stack([d, s], dim=-1)  # (C_out/2, C_in/2, 2) each
        return torch.stack([even, odd], dim=1).reshape(self.out_channels, self.in_channels, 1, 1)

    @torch.no_grad()
    def fuse(self) -> nn.Conv2d:
        """An ``nn.Conv2d(C_in, C_out, 1, bias=False)`` equal to this module (computed in float64)."""
        ref = self.conv.weight
        w = WaveConv1x1(self.in_channels, self.out_channels, self.dwt.wave, device=ref.device, dtype=torch.float64)
        w.conv.weight.copy_(ref)
        conv = nn.Conv2d(self.in_channels, self.out_channels, 1, bias=False, device=ref.device, dtype=ref.dtype)
        conv.weight.copy_(w.dense_weight())
        return conv.train(self.training)

    def extra_repr(self) -> str:
        return f"{self.in_channels}, {self.out_channels}, wave={self.dwt.wave!r}"

