"""The channel-wavelet 1x1 convolution of the Wavelet Bottleneck Booster (the published ``ConvBNReLU1x1``).

A 1-D DWT along the channel axis splits the C input channels into a low and a high band (C/2 each); a bias-free 1x1
conv maps each band to C_out/2 channels; the 1-D IDWT merges the two bands into C_out channels. It holds
C * C_out / 2 weights, half those of a dense 1x1 conv.

Everything in it is linear, so it is one dense 1x1 conv, and that is how it runs, in training and at inference. The
dense weight is ``W = S @ blockdiag(W_low, W_high) @ A`` (A, S: the channel transform's analysis and synthesis
matrices), that is ``W[o, i] = sum_band sum_(m,k) W_band[m, k] f_band[o - 2m] f_band[i - 2k]`` (periodic): a 2-D
inverse wavelet transform of the two per-band weight matrices seen as the LL and HH subbands of a (C_out, C_in)
image. The forward builds it with one stride-2 transposed conv on the parameters (O(C_in * C_out) work per call,
independent of the image size) and runs one 1x1 conv. Parameters, values and gradients are those of the factored
formulation up to float rounding (``tests/test_reference_equivalence.py``). :meth:`fuse` returns the equivalent
``nn.Conv2d`` (timm's ``fuse()`` convention, so ``timm.utils.reparameterize_model`` folds it). FLOP counts
(:mod:`wavemsa.complexity`) charge it the factored cost, half a dense 1x1 conv.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .wavelets import _fold_circular, _orthogonal_filters

__all__ = ["WaveConv1x1"]


class WaveConv1x1(nn.Module):
    """Channel-wavelet 1x1 conv: (B, C_in, H, W) -> (B, C_out, H, W). C_in and C_out must be even.

    ``conv`` (a grouped ``nn.Conv2d``: group 0 maps the low band, group 1 the high band) holds the parameters; the
    forward runs the dense conv they define (see the module docstring).
    """

    def __init__(self, in_channels: int, out_channels: int, wave: str = "haar", device=None, dtype=None) -> None:
        super().__init__()
        if in_channels % 2 or out_channels % 2:
            raise ValueError(f"WaveConv1x1 needs even channel counts, got {in_channels} -> {out_channels}")
        self.in_channels, self.out_channels, self.wave = in_channels, out_channels, wave
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size=1, groups=2, bias=False, device=device,
                              dtype=dtype)
        lo, hi = _orthogonal_filters(wave)
        self.pad = lo.numel() // 2 - 1  # circular wrap of periodization (0 for Haar)
        # the LL and HH synthesis filters of the 2-D transform; Haar's are +-1/2, exact in every float dtype
        kernels = torch.stack([torch.outer(lo, lo), torch.outer(hi, hi)]).unsqueeze(1)  # (2, 1, L, L)
        self.register_buffer("kernels", kernels.to(device=device, dtype=dtype or torch.get_default_dtype()),
                             persistent=False)

    def dense_weight(self) -> torch.Tensor:
        """The (C_out, C_in, 1, 1) weight of the dense 1x1 conv computing the same function."""
        w = self.conv.weight.view(1, 2, self.out_channels // 2, self.in_channels // 2)
        dense = F.conv_transpose2d(w, self.kernels.to(w.dtype), stride=2)  # (1, 1, C_out, C_in) + wrap-around
        dense = _fold_circular(_fold_circular(dense, self.pad, dim=2), self.pad, dim=3)
        return dense.view(self.out_channels, self.in_channels, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.dense_weight())

    @torch.no_grad()
    def fuse(self) -> nn.Conv2d:
        """An ``nn.Conv2d(C_in, C_out, 1, bias=False)`` equal to this module (its weight computed in float64)."""
        ref = self.conv.weight
        exact = WaveConv1x1(self.in_channels, self.out_channels, self.wave, device=ref.device, dtype=torch.float64)
        exact.conv.weight.copy_(ref)
        conv = nn.Conv2d(self.in_channels, self.out_channels, 1, bias=False, device=ref.device, dtype=ref.dtype)
        conv.weight.copy_(exact.dense_weight())
        return conv.train(self.training)

    def extra_repr(self) -> str:
        return f"{self.in_channels}, {self.out_channels}, wave={self.wave!r}"
