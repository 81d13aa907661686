"""WaveMSA attention (Wavelet Bottleneck Booster + Frequency Finer + spatial-reduction attention) and
the plain multi-head self-attention of the later stages.

Shapes: tokens are (B, N, C) with N = H * W in row-major order; maps are (B, C, H, W).
See DESIGN.md section 2 for the architecture and the three fixes to the published code.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .wave_conv import WaveConv1x1
from .wavelets import DWT2D, IDWT2D


def tokens_to_map(x: torch.Tensor, H: int, W: int) -> torch.Tensor:
    """(B, H*W, C) -> (B, C, H, W)."""
    return x.transpose(1, 2).reshape(x.shape[0], x.shape[2], H, W)


def map_to_tokens(x: torch.Tensor) -> torch.Tensor:
    """(B, C, H, W) -> (B, H*W, C)."""
    return x.flatten(2).transpose(1, 2)


def add_residual(branch: torch.Tensor, shortcut: torch.Tensor) -> torch.Tensor:
    """``shortcut + branch``. Without autograd, when ``branch`` is a fresh tensor of the result's dtype, the
    sum is written into it (no new allocation; same values). Under autocast the dtypes can differ and the
    ordinary promoting add runs."""
    if torch.is_grad_enabled() or branch.dtype != torch.result_type(branch, shortcut):
        return shortcut + branch
    return branch.add_(shortcut)


def _conv_bn_relu(conv: nn.Module, channels: int) -> nn.Sequential:
    return nn.Sequential(conv, nn.BatchNorm2d(channels), nn.ReLU(inplace=True))


class WaveletBottleneckBooster(nn.Module):
    """WBB: (B, C, H, W) -> (X2 = X + resume(IDWT(X~0)) of shape (B, C, H, W), X~0 of shape
    (B, C, H'/2, W'/2)), where H', W' are H, W zero-padded up to a multiple of ``pad_multiple``.

    reduce: channel-wavelet 1x1 conv C -> C/4, BN, ReLU; 2-D DWT (C/4 -> C channels at half size);
    filter: 3x3 conv with 4 groups (one per subband), BN, ReLU -> X~0; 2-D IDWT back to C/4 channels
    at full size (cropped to H, W); resume: channel-wavelet 1x1 conv C/4 -> C, BN(C), ReLU.
    """

    def __init__(self, dim: int, wave: str = "haar") -> None:
        super().__init__()
        if dim % 8:
            raise ValueError(f"WaveletBottleneckBooster needs dim divisible by 8, got {dim}")
        self.reduce = _conv_bn_relu(WaveConv1x1(dim, dim // 4, wave), dim // 4)
        self.dwt = DWT2D(wave)
        self.filter = _conv_bn_relu(nn.Conv2d(dim, dim, kernel_size=3, padding=1, groups=4), dim)
        self.idwt = IDWT2D(wave)
        self.resume = _conv_bn_relu(WaveConv1x1(dim // 4, dim, wave), dim)  # BN(C): fix of the seed

    def forward(self, x: torch.Tensor, pad_multiple: int = 2) -> tuple[torch.Tensor, torch.Tensor]:
        H, W = x.shape[-2:]
        reduced = self.reduce(x)
        pad_h, pad_w = (-H) % pad_multiple, (-W) % pad_multiple
        if pad_h or pad_w:
            reduced = F.pad(reduced, (0, pad_w, 0, pad_h))
        subbands = self.filter(self.dwt(reduced))  # X~0
        restored = self.idwt(subbands)
        if pad_h or pad_w:
            restored = restored[..., :H, :W]
        return add_residual(self.resume(restored), x), subbands


class FrequencyFiner(nn.Module):
    """Adds the low band to the magnitude of each high band: (B, 4c, h, w) -> (B, 4c, h, w).

    Subbands [ll, lh, hl, hh] -> [ll, |lh| + ll, |hl| + ll, |hh| + ll].
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, C, h, w = x.shape
        bands = x.view(B, 4, C // 4, h, w)
        ll = bands[:, :1]
        return torch.cat([ll, bands[:, 1:].abs() + ll], dim=1).view(B, C, h, w)


def _split_heads(x: torch.Tensor, num_heads: int) -> torch.Tensor:
    """(B, N, C) -> (B, heads, N, C / heads)."""
    B, N, C = x.shape
    return x.view(B, N, num_heads, C // num_heads).transpose(1, 2)


def _merge_heads(x: torch.Tensor) -> torch.Tensor:
    """(B, heads, N, d) -> (B, N, heads * d)."""
    B, h, N, d = x.shape
    return x.transpose(1, 2).reshape(B, N, h * d)


class WaveAttention(nn.Module):
    """WaveMSA: (B, N, C) tokens on an H x W grid -> (B, N, C).

    Queries come from every token; keys and values from the Frequency-Finer output of the WBB's
    subbands, downsampled by ``sr_ratio`` (so they live on an (H/2sr) x (W/2sr) grid). The attention
    output is concatenated with the WBB's local branch X2 and projected back to C channels.
    """

    def __init__(self, dim: int, num_heads: int, sr_ratio: int = 1, wave: str = "haar") -> None:
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"dim {dim} is not divisible by num_heads {num_heads}")
        self.num_heads = num_heads
        self.sr_ratio = sr_ratio
        self.q = nn.Linear(dim, dim)
        self.wbb = WaveletBottleneckBooster(dim, wave)
        self.finer = FrequencyFiner()
        self.kv_embed = nn.Conv2d(dim, dim, sr_ratio, stride=sr_ratio) if sr_ratio > 1 else nn.Identity()
        self.kv = nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, 2 * dim))
        self.proj = nn.Linear(2 * dim, dim)

    def forward(self, x: torch.Tensor, H: int, W: int) -> torch.Tensor:
        q = _split_heads(self.q(x), self.num_heads)
        local, subbands = self.wbb(tokens_to_map(x, H, W), pad_multiple=2 * self.sr_ratio)
        kv = self.kv(map_to_tokens(self.finer_kv_embed(subbands)))
        k, v = (_split_heads(t, self.num_heads) for t in kv.chunk(2, dim=-1))
        out = _merge_heads(F.scaled_dot_product_attention(q, k, v))
        return self.project(out, map_to_tokens(local))

    def project(self, attn_out: torch.Tensor, local: torch.Tensor) -> torch.Tensor:
        """``proj(cat([attn_out, local], -1))`` for two (B, N, C) inputs, without building the (B, N, 2C)
        concatenation: the two halves of the weight are applied one after the other (two GEMMs writing
        one output), which saves a write and a read of 2C values per token."""
        C = attn_out.shape[-1]
        w_attn, w_local = self.proj.weight.split(C, dim=1)
        y = F.linear(attn_out, w_attn, self.proj.bias)  # under autocast y is in the autocast dtype
        return y.view(-1, C).addmm_(local.reshape(-1, C).to(y.dtype), w_local.t().to(y.dtype)).view_as(y)

    def finer_kv_embed(self, subbands: torch.Tensor) -> torch.Tensor:
        """``kv_embed(finer(subbands))``: (B, C, h, w) -> (B, C, h/sr, w/sr).

        The WBB's filter ends in a ReLU, so the subbands are >= 0 and |.| is the identity on them: the
        Frequency Finer is then linear (it adds ll to each high band) and folds exactly into the kv_embed
        conv, whose weight for the ll band becomes the sum of its four band weights. That saves two passes
        over the subbands (values and gradients are those of the explicit form up to float rounding).
        """
        conv = self.kv_embed
        if not (isinstance(conv, nn.Conv2d) and isinstance(self.wbb.filter[-1], nn.ReLU)):
            return conv(self.finer(subbands))
        w_ll, w_lh, w_hl, w_hh = conv.weight.chunk(4, dim=1)
        weight = torch.cat([w_ll + w_lh + w_hl + w_hh, w_lh, w_hl, w_hh], dim=1)
        return F.conv2d(subbands, weight, conv.bias, stride=conv.stride)


class Attention(nn.Module):
    """Plain multi-head self-attention (stages 3-4): (B, N, C) -> (B, N, C)."""

    def __init__(self, dim: int, num_heads: int) -> None:
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"dim {dim} is not divisible by num_heads {num_heads}")
        self.num_heads = num_heads
        self.q = nn.Linear(dim, dim)
        self.kv = nn.Linear(dim, 2 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor, H: int, W: int) -> torch.Tensor:
        q = _split_heads(self.q(x), self.num_heads)
        k, v = (_split_heads(t, self.num_heads) for t in self.kv(x).chunk(2, dim=-1))
        return self.proj(_merge_heads(F.scaled_dot_product_attention(q, k, v)))


class ClassAttention(nn.Module):
    """Attention of the class token (first token) over all tokens: (B, 1 + N, C) -> (B, 1, C)."""

    def __init__(self, dim: int, num_heads: int) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.q = nn.Linear(dim, dim, bias=False)
        self.kv = nn.Linear(dim, 2 * dim, bias=False)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q = _split_heads(self.q(x[:, :1]), self.num_heads)
        k, v = (_split_heads(t, self.num_heads) for t in self.kv(x).chunk(2, dim=-1))
        return self.proj(_merge_heads(F.scaled_dot_product_attention(q, k, v)))
