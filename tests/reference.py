"""The *published* WaveMSA formulation, re-implemented as a test oracle for ``tests/test_reference_equivalence.py``
(not part of the installed ``wavemsa`` package; not for training or deployment: use :mod:`wavemsa.waveformer`).

It computes what the published code computes, the way it computes it:

* the WBB's channel-wavelet 1x1 conv (the published ``ConvBNReLU1x1``) uses a **matrix-based 1-D DWT** whose
  analysis matrices are built with NumPy on every forward pass, as the published ``DWT_IDWT1`` layers do;
* the 2-D DWT/IDWT are the **conv-based** ones of the published ``torch_wavelets.py`` (stride-2 depth-wise convs
  with the four 2x2 filters, and the transposed conv for the inverse);
* attention is the explicit ``softmax(q @ k^T * scale) @ v``;
* tokens and maps are converted with the published ``transpose``/``view``/``reshape``/``permute`` chains;
* the head is the published one: the last stage's tokens go un-normed into the class attention (q and kv with
  biases), and the last LayerNorm (the published ``norm4``) follows it.

LayerNorms use the published epsilons (``norm_layer=partial(nn.LayerNorm, eps=1e-6)`` in the blocks, at the end of
the stages and in the head; PyTorch's 1e-5 in the patch embeddings and before the keys and values).

Only the bugs listed in docs/DESIGN.md are fixed, just enough to run: the resume branch uses BN(C) and the wavelet
filters follow the input dtype (instead of being cast to float16). ``frequency_finer`` selects what the Frequency
Finer reads: ``'input'`` is the published code (the layer input split in four channel groups, keys and values on
the H/sr grid), ``'subbands'`` the paper's figure (the WBB's subbands, keys and values on the H/2sr grid). Odd
feature-map sizes are zero-padded before the 2-D DWT (and, for ``'input'``, before the keys' conv), as the library
does, so both accept the same inputs.

The module tree mirrors :class:`wavemsa.WaveFormer`, so ``ReferenceWaveFormer`` loads a WaveFormer state dict
unchanged (``load_state_dict(model.state_dict())``) and must compute the same function.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pywt
import torch
import torch.nn.functional as F
from torch import nn

from wavemsa.waveformer import ARCH_SETTINGS

__all__ = ["ReferenceWaveFormer", "reference_wavemsa"]


# ----------------------------------------------------------------------------------------------------
# 1-D DWT along the channel axis by matrices (built with NumPy per call, as the published code does)
# ----------------------------------------------------------------------------------------------------
def _dwt_matrices(length: int, wave: str) -> tuple[np.ndarray, np.ndarray]:
    """Periodized analysis matrices (length/2, length) of the low and high band."""
    w = pywt.Wavelet(wave)
    half = length // 2
    low, high = np.zeros((half, length)), np.zeros((half, length))
    for i in range(half):
        for k, (lo, hi) in enumerate(zip(w.dec_lo, w.dec_hi)):
            low[i, (2 * i + 1 - k) % length] += lo
            high[i, (2 * i + 1 - k) % length] += hi
    return low, high


class _MatrixDWT1D(nn.Module):
    """(B, C, H, W) -> (low, high), each (B, C/2, H, W): matmul with the analysis matrices."""

    def __init__(self, wave: str = "haar") -> None:
        super().__init__()
        self.wave = wave

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        B, C, H, W = x.shape
        low, high = (torch.from_numpy(m).to(x) for m in _dwt_matrices(C, self.wave))
        flat = x.reshape(B, C, H * W)
        return (torch.matmul(low, flat).reshape(B, C // 2, H, W),
                torch.matmul(high, flat).reshape(B, C // 2, H, W))


class _MatrixIDWT1D(nn.Module):
    """(low, high), each (B, C/2, H, W) -> (B, C, H, W): matmul with the transposed matrices."""

    def __init__(self, wave: str = "haar") -> None:
        super().__init__()
        self.wave = wave

    def forward(self, low: torch.Tensor, high: torch.Tensor) -> torch.Tensor:
        B, half, H, W = low.shape
        m_low, m_high = (torch.from_numpy(m).to(low) for m in _dwt_matrices(2 * half, self.wave))
        out = torch.matmul(m_low.t(), low.reshape(B, half, H * W)) + torch.matmul(m_high.t(),
                                                                                 high.reshape(B, half, H * W))
        return out.reshape(B, 2 * half, H, W)


class _ReferenceWaveConv1x1(nn.Module):
    """The published ConvBNReLU1x1 core: channel DWT, a 1x1 conv per band, channel IDWT.

    ``conv`` holds both bands' weights (group 0: low band, group 1: high band) so the state dict equals
    the library's :class:`wavemsa.WaveConv1x1`.
    """

    def __init__(self, in_channels: int, out_channels: int, wave: str = "haar") -> None:
        super().__init__()
        self.dwt = _MatrixDWT1D(wave)
        self.idwt = _MatrixIDWT1D(wave)
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size=1, groups=2, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        low, high = self.dwt(x)
        w_low, w_high = self.conv.weight.chunk(2, dim=0)
        return self.idwt(F.conv2d(low, w_low), F.conv2d(high, w_high))


# ----------------------------------------------------------------------------------------------------
# 2-D DWT / IDWT by stride-2 depth-wise convolution (the published torch_wavelets.py)
# ----------------------------------------------------------------------------------------------------
def _filters_2d(wave: str) -> torch.Tensor:
    """(4, 1, L, L) filters [ll, lh, hl, hh]; first factor along H, second along W."""
    w = pywt.Wavelet(wave)
    lo, hi = torch.tensor(w.dec_lo[::-1]), torch.tensor(w.dec_hi[::-1])
    pairs = [(lo, lo), (hi, lo), (lo, hi), (hi, hi)]
    return torch.stack([a.unsqueeze(1) * b.unsqueeze(0) for a, b in pairs]).unsqueeze(1).float()


class _ConvDWT2D(nn.Module):
    """(B, C, H, W), H and W even -> (B, 4C, H/2, W/2), groups [ll, lh, hl, hh]."""

    def __init__(self, wave: str = "haar") -> None:
        super().__init__()
        filters = _filters_2d(wave)
        if filters.shape[-1] != 2:
            raise ValueError("the reference's conv-based 2-D DWT is the published one: Haar only")
        self.register_buffer("filters", filters, persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        dim = x.shape[1]
        f = self.filters.to(x)  # fix: follow the input dtype (the published code casts these to float16)
        bands = [F.conv2d(x, f[i:i + 1].expand(dim, -1, -1, -1), stride=2, groups=dim) for i in range(4)]
        return torch.cat(bands, dim=1)


class _ConvIDWT2D(nn.Module):
    """(B, 4C, h, w) -> (B, C, 2h, 2w) by a stride-2 transposed conv."""

    def __init__(self, wave: str = "haar") -> None:
        super().__init__()
        self.register_buffer("filters", _filters_2d(wave), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, _, h, w = x.shape
        x = x.view(B, 4, -1, h, w).transpose(1, 2)
        C = x.shape[1]
        x = x.reshape(B, -1, h, w)
        filters = self.filters.to(x).repeat(C, 1, 1, 1)
        return F.conv_transpose2d(x, filters, stride=2, groups=C)


# ----------------------------------------------------------------------------------------------------
# WaveMSA as published (its WaveAttention), with the module tree of the library
# ----------------------------------------------------------------------------------------------------
class _ReferenceWBB(nn.Module):
    def __init__(self, dim: int, wave: str = "haar") -> None:
        super().__init__()
        self.reduce = nn.Sequential(_ReferenceWaveConv1x1(dim, dim // 4, wave), nn.BatchNorm2d(dim // 4),
                                    nn.ReLU(inplace=True))
        self.dwt = _ConvDWT2D(wave)
        self.filter = nn.Sequential(nn.Conv2d(dim, dim, kernel_size=3, padding=1, stride=1, groups=4),
                                    nn.BatchNorm2d(dim), nn.ReLU(inplace=True))
        self.idwt = _ConvIDWT2D(wave)
        self.resume = nn.Sequential(_ReferenceWaveConv1x1(dim // 4, dim, wave), nn.BatchNorm2d(dim),
                                    nn.ReLU(inplace=True))


class _ReferenceWaveAttention(nn.Module):
    def __init__(self, dim: int, num_heads: int, sr_ratio: int, wave: str = "haar",
                 frequency_finer: str = "subbands") -> None:
        super().__init__()
        self.num_heads = num_heads
        self.scale = (dim // num_heads) ** -0.5
        self.sr_ratio = sr_ratio
        self.frequency_finer = frequency_finer
        self.q = nn.Linear(dim, dim)
        self.wbb = _ReferenceWBB(dim, wave)
        self.kv_embed = nn.Conv2d(dim, dim, kernel_size=sr_ratio, stride=sr_ratio) if sr_ratio > 1 else nn.Identity()
        self.kv = nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, dim * 2))
        self.proj = nn.Linear(dim + dim, dim)

    def forward(self, x: torch.Tensor, H: int, W: int) -> torch.Tensor:
        B, N, C = x.shape
        q = self.q(x).reshape(B, N, self.num_heads, C // self.num_heads).permute(0, 2, 1, 3)
        x = x.view(B, H, W, C).permute(0, 3, 1, 2)
        temp = self.wbb.reduce(x)
        m = 2 if self.frequency_finer == "input" else 2 * self.sr_ratio
        pad_h, pad_w = (-H) % m, (-W) % m
        temp = F.pad(temp, (0, pad_w, 0, pad_h))
        x_dwt = self.wbb.filter(self.wbb.dwt(temp))
        x_idwt = self.wbb.idwt(x_dwt)[..., :H, :W]
        x_idwt = x + self.wbb.resume(x_idwt)
        x_idwt = x_idwt.reshape(B, -1, x_idwt.size(-2) * x_idwt.size(-1)).transpose(1, 2)
        # Frequency Finer: on the layer input x, as published, or on the wavelet subbands x_dwt, as in the figure
        num = x_dwt.shape[1] // 4
        if self.frequency_finer == "input":
            pad_h, pad_w = (-H) % self.sr_ratio, (-W) % self.sr_ratio
            x_ll, x_lh, x_hl, x_hh = torch.split(F.pad(x, (0, pad_w, 0, pad_h)), num, dim=1)
        else:
            x_ll, x_lh, x_hl, x_hh = torch.split(x_dwt, num, dim=1)
        x_dwt = torch.cat([x_ll, torch.abs(x_lh) + x_ll, torch.abs(x_hl) + x_ll, torch.abs(x_hh) + x_ll], dim=1)
        kv = self.kv_embed(x_dwt).reshape(B, C, -1).permute(0, 2, 1)
        kv = self.kv(kv).reshape(B, -1, 2, self.num_heads, C // self.num_heads).permute(2, 0, 3, 1, 4)
        k, v = kv[0], kv[1]
        attn = (q @ k.transpose(-2, -1)) * self.scale
        attn = attn.softmax(dim=-1)
        x = (attn @ v).transpose(1, 2).reshape(B, N, C)
        return self.proj(torch.cat([x, x_idwt], dim=-1))


class _ReferenceAttention(nn.Module):
    def __init__(self, dim: int, num_heads: int) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.scale = (dim // num_heads) ** -0.5
        self.q = nn.Linear(dim, dim)
        self.kv = nn.Linear(dim, dim * 2)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor, H: int, W: int) -> torch.Tensor:
        B, N, C = x.shape
        q = self.q(x).reshape(B, N, self.num_heads, C // self.num_heads).permute(0, 2, 1, 3)
        kv = self.kv(x).reshape(B, -1, 2, self.num_heads, C // self.num_heads).permute(2, 0, 3, 1, 4)
        k, v = kv[0], kv[1]
        attn = ((q @ k.transpose(-2, -1)) * self.scale).softmax(dim=-1)
        return self.proj((attn @ v).transpose(1, 2).reshape(B, N, C))


class _ReferenceMlp(nn.Module):
    """PVTv2 FFN as published: fc1, DWConv (transpose/view round trip), GELU, fc2."""

    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.dwconv = nn.Conv2d(hidden, hidden, 3, 1, 1, bias=True, groups=hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor, H: int, W: int) -> torch.Tensor:
        x = self.fc1(x)
        B, N, C = x.shape
        x = self.dwconv(x.transpose(1, 2).reshape(B, C, H, W)).flatten(2).transpose(1, 2)
        return self.fc2(self.act(x))


class _ReferenceBlock(nn.Module):
    def __init__(self, dim: int, num_heads: int, mlp_ratio: float, sr_ratio: int, use_wave: bool,
                 wave: str, frequency_finer: str) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = _ReferenceWaveAttention(dim, num_heads, sr_ratio, wave, frequency_finer) if use_wave else \
            _ReferenceAttention(dim, num_heads)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = _ReferenceMlp(dim, int(dim * mlp_ratio))

    def forward(self, x: torch.Tensor, H: int, W: int) -> torch.Tensor:
        x = x + self.attn(self.norm1(x), H, W)
        return x + self.mlp(self.norm2(x), H, W)


class _ReferenceStem(nn.Module):
    def __init__(self, in_chans: int, hidden: int, out_dim: int) -> None:
        super().__init__()
        self.conv = nn.Sequential(
            nn.Conv2d(in_chans, hidden, 7, 2, 3, bias=False), nn.BatchNorm2d(hidden), nn.ReLU(inplace=True),
            nn.Conv2d(hidden, hidden, 3, 1, 1, bias=False), nn.BatchNorm2d(hidden), nn.ReLU(inplace=True),
            nn.Conv2d(hidden, hidden, 3, 1, 1, bias=False), nn.BatchNorm2d(hidden), nn.ReLU(inplace=True))
        self.proj = nn.Conv2d(hidden, out_dim, 3, 2, 1)
        self.norm = nn.LayerNorm(out_dim)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, int, int]:
        x = self.proj(self.conv(x))
        _, _, H, W = x.shape
        return self.norm(x.flatten(2).transpose(1, 2)), H, W


class _ReferenceDownsample(nn.Module):
    def __init__(self, in_dim: int, out_dim: int) -> None:
        super().__init__()
        self.proj = nn.Conv2d(in_dim, out_dim, 3, 2, 1)
        self.norm = nn.LayerNorm(out_dim)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, int, int]:
        x = self.proj(x)
        _, _, H, W = x.shape
        return self.norm(x.flatten(2).transpose(1, 2)), H, W


class _ReferenceStage(nn.Module):
    """The published ``patch_embed{i}``, ``block{i}`` and, but for the last stage, ``norm{i}``."""

    def __init__(self, embed: nn.Module, blocks: list[nn.Module], dim: int, last: bool) -> None:
        super().__init__()
        self.embed = embed
        self.blocks = nn.ModuleList(blocks)
        self.norm = None if last else nn.LayerNorm(dim, eps=1e-6)
        self.last = last

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x, H, W = self.embed(x)
        for blk in self.blocks:
            x = blk(x, H, W)
        if self.last:
            return x
        x = self.norm(x)
        return x.reshape(x.shape[0], H, W, -1).permute(0, 3, 1, 2).contiguous()


class _ReferenceClassAttention(_ReferenceAttention):
    """The published ClassAttention: the same projections (q and kv with biases), the first token's query only."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, N, C = x.shape
        kv = self.kv(x).reshape(B, N, 2, self.num_heads, C // self.num_heads).permute(2, 0, 3, 1, 4)
        k, v = kv[0], kv[1]
        q = self.q(x[:, :1, :]).reshape(B, self.num_heads, 1, C // self.num_heads)
        attn = ((q * self.scale) @ k.transpose(-2, -1)).softmax(dim=-1)
        return self.proj((attn @ v).transpose(1, 2).reshape(B, 1, C))


class _ReferenceClassMlp(nn.Module):
    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1, self.act, self.fc2 = nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


class _ReferenceClassBlock(nn.Module):
    def __init__(self, dim: int, num_heads: int, mlp_ratio: float) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = _ReferenceClassAttention(dim, num_heads)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = _ReferenceClassMlp(dim, int(dim * mlp_ratio))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        cls_embed = x[:, :1] + self.attn(self.norm1(x))
        cls_embed = cls_embed + self.mlp(self.norm2(cls_embed))
        return torch.cat([cls_embed, x[:, 1:]], dim=1)


class ReferenceWaveFormer(nn.Module):
    """The published WaveFormer (see module docstring): (B, 3, H, W) -> logits (B, num_classes).

    Takes the same settings as :class:`wavemsa.WaveFormer` (no drop path: it is for eval-mode
    comparison and speed baselines) and loads its state dict unchanged.
    """

    def __init__(self, in_chans: int = 3, num_classes: int = 1000, stem_hidden_dim: int = 32,
                 embed_dims: Sequence[int] = (64, 128, 320, 448), num_heads: Sequence[int] = (2, 4, 10, 14),
                 mlp_ratios: Sequence[float] = (8, 8, 4, 4), depths: Sequence[int] = (3, 4, 6, 3),
                 sr_ratios: Sequence[int] = (4, 2, 1, 1), wave_stages: int = 2, frequency_finer: str = "subbands",
                 token_label: bool = False, wave: str = "haar") -> None:
        super().__init__()
        stages, prev = [], in_chans
        for i, (dim, depth) in enumerate(zip(embed_dims, depths)):
            embed = _ReferenceStem(in_chans, stem_hidden_dim, dim) if i == 0 else _ReferenceDownsample(prev, dim)
            blocks = [_ReferenceBlock(dim, num_heads[i], mlp_ratios[i], sr_ratios[i], i < wave_stages, wave,
                                      frequency_finer) for _ in range(depth)]
            stages.append(_ReferenceStage(embed, blocks, dim, last=i == len(depths) - 1))
            prev = dim
        self.stages = nn.ModuleList(stages)
        dim = embed_dims[-1]
        self.post_blocks = nn.ModuleList([_ReferenceClassBlock(dim, num_heads[-1], mlp_ratios[-1])])
        self.norm = nn.LayerNorm(dim, eps=1e-6)  # the published norm4: after the class attention
        self.head = nn.Linear(dim, num_classes) if num_classes > 0 else nn.Identity()
        self.aux_head = (nn.Linear(dim, num_classes) if num_classes > 0 else nn.Identity()) if token_label else None

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C_in, H, W) -> last-stage tokens (B, N, C4), not normed."""
        for stage in self.stages:
            x = stage(x)
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.forward_features(x)
        x = torch.cat([x.mean(dim=1, keepdim=True), x], dim=1)
        for blk in self.post_blocks:
            x = blk(x)
        x = self.norm(x)
        cls = self.head(x[:, 0])
        if self.aux_head is None:
            return cls
        aux = self.aux_head(x[:, 1:])
        return (cls, aux) if self.training else cls + 0.5 * aux.max(1)[0]


def reference_wavemsa(arch: str = "s", **kwargs) -> ReferenceWaveFormer:
    """The published formulation of WaveFormer-``arch`` ('t' | 's' | 'b' | 'l'); kwargs override settings."""
    if arch not in ARCH_SETTINGS:
        raise ValueError(f"unknown arch {arch!r}: expected one of {sorted(ARCH_SETTINGS)}")
    return ReferenceWaveFormer(**{**ARCH_SETTINGS[arch], **kwargs})
