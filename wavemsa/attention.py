"""WaveMSA attention (Wavelet Bottleneck Booster + Frequency Finer + spatial-reduction attention) and the
plain multi-head self-attention of the later stages.

Shapes: tokens are (B, N, C) with N = H * W in row-major order; maps are (B, C, H, W); ``feat_size`` is [H, W].
A block's tokens viewed as a map are channels_last in memory, and every conv of the WBB keeps that layout, so
tokens and maps convert into each other without copies. See docs/DESIGN.md for the architecture and the fixes to
the published code.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from timm.layers import register_notrace_function
from torch import nn
from torch.fx.experimental.symbolic_shapes import statically_known_true

from .fuse import ConvBnReLU
from .wave_conv import WaveConv1x1
from .wavelets import DWT2D, IDWT2D

__all__ = ["Attention", "ClassAttention", "FREQUENCY_FINER_INPUTS", "FrequencyFiner", "FrequencyFinerConv",
           "WaveAttention", "WaveletBottleneckBooster", "crop", "pad_to_multiple"]


def _known_equal(a: int, b: int) -> bool:
    """``a == b`` for sizes. Where a traced program must serve every size, True only when it holds for every size:
    under symbolic shapes (torch.export, torch.compile with dynamic sizes) without fixing the sizes by a guard, under
    torch.jit.trace (sizes are traced tensors) never."""
    if torch.jit.is_scripting():
        return a == b
    if torch.jit.is_tracing():
        return False
    return statically_known_true(a == b)


@register_notrace_function  # a torch.fx leaf: it reads real sizes
def pad_to_multiple(x: torch.Tensor, multiple: int) -> torch.Tensor:
    """Zero-pad a (B, C, H, W) map at the bottom and right up to H and W divisible by ``multiple``; ``x`` itself when
    they already are."""
    H, W = x.shape[-2], x.shape[-1]
    pad_h, pad_w = (-H) % multiple, (-W) % multiple
    if _known_equal(pad_h, 0) and _known_equal(pad_w, 0):
        return x
    return F.pad(x, [0, pad_w, 0, pad_h])


@register_notrace_function  # a torch.fx leaf: it reads real sizes
def crop(x: torch.Tensor, H: int, W: int) -> torch.Tensor:
    """The top-left H x W of a (B, C, H', W') map: ``x`` itself when it is that size, else its rows and columns
    gathered into a new tensor (whose layout, unlike a view's, does not depend on H' - H, so one exported program
    serves every size)."""
    if _known_equal(x.shape[-2], H) and _known_equal(x.shape[-1], W):
        return x
    x = x.index_select(-2, torch.arange(H, device=x.device))
    return x.index_select(-1, torch.arange(W, device=x.device))


class WaveletBottleneckBooster(nn.Module):
    """WBB: (B, C, H, W) -> (X2 = X + resume(IDWT(X~0)) of shape (B, C, H, W), X~0 of shape
    (B, C, H'/2, W'/2)), where H', W' are H, W zero-padded up to a multiple of ``pad_multiple``.

    reduce: channel-wavelet 1x1 conv C -> C/4, BN, ReLU; 2-D DWT (C/4 -> C channels at half size, one strided
    conv); filter: 3x3 conv with 4 groups (one per subband), BN, ReLU -> X~0; 2-D IDWT back to C/4 channels at
    full size (one strided transposed conv, cropped to H, W); resume: channel-wavelet 1x1 conv C/4 -> C, BN(C),
    ReLU.
    """

    def __init__(self, dim: int, wave: str = "haar", pad_multiple: int = 2, device=None, dtype=None) -> None:
        super().__init__()
        dd = {"device": device, "dtype": dtype}
        if dim % 8:
            raise ValueError(f"WaveletBottleneckBooster needs dim divisible by 8, got {dim}")
        self.pad_multiple = pad_multiple
        self.reduce = ConvBnReLU(WaveConv1x1(dim, dim // 4, wave, **dd), nn.BatchNorm2d(dim // 4, **dd),
                                 nn.ReLU(inplace=True))
        self.dwt = DWT2D(wave, channels=dim // 4, **dd)
        self.filter = ConvBnReLU(nn.Conv2d(dim, dim, kernel_size=3, padding=1, groups=4, **dd),
                                 nn.BatchNorm2d(dim, **dd), nn.ReLU(inplace=True))
        self.idwt = IDWT2D(wave, channels=dim // 4, **dd)
        self.resume = ConvBnReLU(WaveConv1x1(dim // 4, dim, wave, **dd), nn.BatchNorm2d(dim, **dd),  # BN(C): a fix
                                 nn.ReLU(inplace=True))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        H, W = x.shape[-2], x.shape[-1]
        subbands = self.filter(self.dwt(pad_to_multiple(self.reduce(x), self.pad_multiple)))  # X~0
        return x + self.resume(crop(self.idwt(subbands), H, W)), subbands


class FrequencyFiner(nn.Module):
    """Adds the low band to the magnitude of each high band: (B, 4c, h, w) -> (B, 4c, h, w).

    Subbands [ll, lh, hl, hh] -> [ll, |lh| + ll, |hl| + ll, |hh| + ll].
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, C, h, w = x.shape
        bands = x.view(B, 4, C // 4, h, w)
        ll = bands[:, :1]
        return torch.cat([ll, bands[:, 1:].abs() + ll], dim=1).view(B, C, h, w)


class FrequencyFinerConv(nn.Conv2d):
    """The Frequency Finer followed by the keys' and values' ``sr x sr`` stride-``sr`` conv: (B, C, h, w) ->
    (B, C, h/sr, w/sr).

    ``fold=True`` is for input >= 0, the WBB's subbands (its filter ends in a ReLU): |.| is then the identity, the
    Frequency Finer is linear (it adds ll to each high band) and folds exactly into the conv, whose weight for the
    ll band becomes the sum of its four band weights (one small matrix product with a fixed 4 x 4 matrix per call).
    That saves passes over the subbands; values and gradients are those of ``conv(FrequencyFiner()(x))`` up to
    float rounding, and ``fuse()`` returns the folded ``nn.Conv2d``. ``fold=False`` runs the Frequency Finer
    explicitly, for signed input (the layer input, as the published code feeds it).
    """

    def __init__(self, dim: int, sr_ratio: int, fold: bool = True, device=None, dtype=None) -> None:
        super().__init__(dim, dim, kernel_size=sr_ratio, stride=sr_ratio, device=device, dtype=dtype)
        self.fold = fold
        self.finer = FrequencyFiner()
        # folded weight of band j = sum_i mix[j, i] * weight of band i: ll takes all four bands
        mix = torch.tensor([[1.0, 1, 1, 1], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]], dtype=dtype, device=device)
        self.register_buffer("band_mix", mix, persistent=False)

    def folded_weight(self) -> torch.Tensor:
        w = self.weight
        mix = self.band_mix.to(w.dtype).expand(w.shape[0], 4, 4)  # a view: DDP broadcasts the (4, 4) buffer
        return torch.bmm(mix, w.view(w.shape[0], 4, -1)).view_as(w)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.fold:
            return F.conv2d(x, self.folded_weight(), self.bias, self.stride)
        return F.conv2d(self.finer(x), self.weight, self.bias, self.stride)

    @torch.no_grad()
    def fuse(self) -> nn.Module:
        if not self.fold:
            return self
        conv = nn.Conv2d(self.in_channels, self.out_channels, self.kernel_size, self.stride,
                         device=self.weight.device, dtype=self.weight.dtype)
        conv.weight.copy_(self.folded_weight())
        conv.bias.copy_(self.bias)
        return conv.train(self.training)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, fold={self.fold}"


FREQUENCY_FINER_INPUTS = ("subbands", "input")


def _heads(x: torch.Tensor, num_heads: int) -> torch.Tensor:
    """(B, N, C) -> (B, heads, N, C / heads), a view."""
    B, N, C = x.shape
    return x.view(B, N, num_heads, C // num_heads).transpose(1, 2)


def _key_value_heads(kv: torch.Tensor, num_heads: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, M, 2C) -> k, v, each (B, heads, M, C / heads), views. Unbinding before transposing makes the backward
    pass stack the two gradients straight into kv's layout (no copy)."""
    B, M, C2 = kv.shape
    k, v = kv.view(B, M, 2, num_heads, C2 // (2 * num_heads)).unbind(2)
    return k.transpose(1, 2), v.transpose(1, 2)


def _merge_heads(x: torch.Tensor) -> torch.Tensor:
    """(B, heads, N, d) -> (B, N, heads * d)."""
    B, h, N, d = x.shape
    return x.transpose(1, 2).reshape(B, N, h * d)


class WaveAttention(nn.Module):
    """WaveMSA: (B, N, C) tokens on an H x W grid -> (B, N, C).

    Queries come from every token. Keys and values come from the Frequency Finer's output, downsampled by
    ``sr_ratio``; ``frequency_finer`` says what the Frequency Finer reads:

    * ``'subbands'`` (the paper's figure): the WBB's subbands X~0, so keys and values live on an (H/2sr) x (W/2sr)
      grid;
    * ``'input'`` (the published code): the layer's input map split into four channel groups, so keys and values
      live on an (H/sr) x (W/sr) grid (four times as many).

    The attention output is concatenated with the WBB's local branch X2 and projected back to C channels.
    """

    def __init__(self, dim: int, num_heads: int, sr_ratio: int = 1, wave: str = "haar",
                 frequency_finer: str = "subbands", device=None, dtype=None) -> None:
        super().__init__()
        dd = {"device": device, "dtype": dtype}
        if dim % num_heads:
            raise ValueError(f"dim {dim} is not divisible by num_heads {num_heads}")
        if frequency_finer not in FREQUENCY_FINER_INPUTS:
            raise ValueError(f"frequency_finer must be one of {FREQUENCY_FINER_INPUTS}, got {frequency_finer!r}")
        self.num_heads = num_heads
        self.sr_ratio = sr_ratio
        self.finer_on_input = frequency_finer == "input"
        self.q = nn.Linear(dim, dim, **dd)
        pad_multiple = 2 if self.finer_on_input else 2 * sr_ratio
        self.wbb = WaveletBottleneckBooster(dim, wave, pad_multiple=pad_multiple, **dd)
        if sr_ratio > 1:
            self.kv_embed = FrequencyFinerConv(dim, sr_ratio, fold=not self.finer_on_input, **dd)
        else:
            self.kv_embed = FrequencyFiner()
        self.kv = nn.Sequential(nn.LayerNorm(dim, **dd), nn.Linear(dim, 2 * dim, **dd))
        self.proj = nn.Linear(2 * dim, dim, **dd)

    def forward(self, x: torch.Tensor, feat_size: list[int]) -> torch.Tensor:
        B, N, C = x.shape
        q = _heads(self.q(x), self.num_heads)
        x_map = x.transpose(1, 2).reshape(B, C, feat_size[0], feat_size[1])
        local, subbands = self.wbb(x_map)
        source = pad_to_multiple(x_map, self.sr_ratio) if self.finer_on_input else subbands
        k, v = _key_value_heads(self.kv(self.kv_embed(source).flatten(2).transpose(1, 2)), self.num_heads)
        x = _merge_heads(F.scaled_dot_product_attention(q, k, v))
        return self.proj(torch.cat([x, local.flatten(2).transpose(1, 2)], dim=2))  # local's tokens: a view


class Attention(nn.Module):
    """Plain multi-head self-attention (stages 3-4): (B, N, C) -> (B, N, C).

    ``qkv`` projects the tokens to queries, keys and values in one GEMM. Its rows are the originals' separate ``q``
    (C rows) and ``kv`` (2C rows) projections stacked, and a state dict in their layout (``q.*``, ``kv.*``) loads
    into it (:meth:`_load_from_state_dict`). AdamW and weight decay act per element, so training is the same.
    """

    def __init__(self, dim: int, num_heads: int, device=None, dtype=None) -> None:
        super().__init__()
        dd = {"device": device, "dtype": dtype}
        if dim % num_heads:
            raise ValueError(f"dim {dim} is not divisible by num_heads {num_heads}")
        self.num_heads = num_heads
        self.qkv = nn.Linear(dim, 3 * dim, **dd)
        self.proj = nn.Linear(dim, dim, **dd)

    def forward(self, x: torch.Tensor, feat_size: list[int]) -> torch.Tensor:
        B, N, C = x.shape
        q, k, v = self.qkv(x).view(B, N, 3, self.num_heads, C // self.num_heads).unbind(2)
        x = F.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2))
        return self.proj(_merge_heads(x))

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs) -> None:
        # the originals' layout: q (C rows) and kv (2C rows) -> qkv
        for name in ("weight", "bias"):
            q, kv, qkv = (f"{prefix}{layer}.{name}" for layer in ("q", "kv", "qkv"))
            if q in state_dict and kv in state_dict and qkv not in state_dict:
                state_dict[qkv] = torch.cat([state_dict.pop(q), state_dict.pop(kv)])
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)


class ClassAttention(nn.Module):
    """Attention of the class token (first token) over all tokens: (B, 1 + N, C) -> (B, 1, C)."""

    def __init__(self, dim: int, num_heads: int, device=None, dtype=None) -> None:
        super().__init__()
        dd = {"device": device, "dtype": dtype}
        self.num_heads = num_heads
        self.q = nn.Linear(dim, dim, **dd)
        self.kv = nn.Linear(dim, 2 * dim, **dd)
        self.proj = nn.Linear(dim, dim, **dd)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        k, v = _key_value_heads(self.kv(x), self.num_heads)
        q = _heads(self.q(x[:, 0]).unsqueeze(1), self.num_heads)
        return self.proj(_merge_heads(F.scaled_dot_product_attention(q, k, v)))
