"""WaveFormer: a four-stage vision transformer whose early stages use WaveMSA.

Stage i runs at stride 4 * 2**i. Stages < ``wave_stages`` (default 2) use :class:`WaveAttention`, the
others plain multi-head self-attention. The classifier is one class-attention block over
[mean token; tokens], a LayerNorm and a Linear; an optional token-labelling head gives dense per-token
logits. Registered timm models: ``wavemsa_t`` (tiny, for demos and tests), ``wavemsa_s``,
``wavemsa_b``, ``wavemsa_l``.
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from timm.data import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD
from timm.layers import DropPath, Mlp, trunc_normal_
from timm.models import build_model_with_cfg, generate_default_cfgs, register_model
from timm.models._features import feature_take_indices
from torch import nn
from torch.utils.checkpoint import checkpoint

from .attention import Attention, ClassAttention, WaveAttention, add_residual, map_to_tokens, tokens_to_map
from .checkpoint import filter_classification_state_dict
from .fuse import fuse_conv_bn
from .token_label import Box, rand_token_box, swap_box
from .wave_conv import WaveConv1x1

__all__ = ["WaveFormer", "ARCH_SETTINGS", "RECOMMENDED_DROP_PATH", "MIN_INPUT_SIZE"]

MIN_INPUT_SIZE = 32  # the total stride: the last stage needs at least one token per side

# stem, dims, heads, mlp ratios, depths, sr ratios (from the original configs; t is ours)
ARCH_SETTINGS: dict[str, dict] = {
    "t": dict(stem_hidden_dim=16, embed_dims=(32, 64, 128, 192), num_heads=(1, 2, 4, 6),
              mlp_ratios=(4, 4, 4, 4), depths=(1, 1, 2, 1), sr_ratios=(4, 2, 1, 1)),
    "s": dict(stem_hidden_dim=32, embed_dims=(64, 128, 320, 448), num_heads=(2, 4, 10, 14),
              mlp_ratios=(8, 8, 4, 4), depths=(3, 4, 6, 3), sr_ratios=(4, 2, 1, 1)),
    "b": dict(stem_hidden_dim=64, embed_dims=(64, 128, 320, 512), num_heads=(2, 4, 10, 16),
              mlp_ratios=(8, 8, 4, 4), depths=(3, 4, 12, 3), sr_ratios=(4, 2, 1, 1)),
    "l": dict(stem_hidden_dim=64, embed_dims=(96, 192, 384, 512), num_heads=(3, 6, 12, 16),
              mlp_ratios=(8, 8, 4, 4), depths=(3, 6, 18, 3), sr_ratios=(4, 2, 1, 1)),
}


# drop path used for ImageNet training by the original configs (timm models default to 0)
RECOMMENDED_DROP_PATH = {"t": 0.0, "s": 0.1, "b": 0.1, "l": 0.3}


# Largest hidden activation (images x tokens x hidden) a CPU ConvFFN builds at once, without and with
# autograd; see ConvFFN. Both stay under glibc's largest mmap threshold (32 MiB).
FFN_TILE_BYTES = (8 * 2**20, 28 * 2**20)


class ConvFFN(nn.Module):
    """PVTv2 feed-forward: fc1 -> depth-wise 3x3 conv -> GELU -> fc2 on (B, N, C) tokens of an H x W grid.

    On the CPU the FFN runs in tiles whose hidden activations take at most ``tile_bytes[0]`` bytes at
    inference and ``tile_bytes[1]`` with autograd (0: no tiling): groups of whole images, or, when one
    image is larger than that, bands of rows of one image (each band's fc1 also computes the row above and
    below it, which the depth-wise conv needs). The result is the same. The gain is in memory: the hidden
    tensor is the largest of the network (8x the width in stages 1-2: 98 MiB for a batch of 16 at 224x224
    in stage 1), and glibc's malloc serves blocks above 32 MiB with fresh pages from the kernel, which must
    be faulted in and zeroed on every step; smaller blocks reuse memory freed a moment before. At inference
    each tile is freed before the next one starts, so small tiles do best; with autograd each tile's
    activations stay alive until the backward pass, and fewer, larger tiles do best. Under an allocator
    that keeps freed memory anyway the tiles neither help nor cost measurably (tools/README_benchmark.md).
    """

    min_band_rows = 8  # a band of fewer rows would spend more than 25% extra on its halo rows in fc1

    def __init__(self, dim: int, hidden_dim: int, tile_bytes: tuple[int, int] = FFN_TILE_BYTES) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden_dim)
        self.dwconv = nn.Conv2d(hidden_dim, hidden_dim, 3, padding=1, groups=hidden_dim)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden_dim, dim)
        self.tile_bytes = tuple(tile_bytes)

    def tiles(self, x: torch.Tensor, H: int, W: int) -> list[tuple[int, int, int, int]]:
        """The tiles of ``x`` (B, H*W, C) as (first image, end image, first row, end row)."""
        B = x.shape[0]
        budget = self.tile_bytes[torch.is_grad_enabled()]
        row_bytes = W * self.fc1.out_features * x.element_size()
        if budget <= 0 or x.device.type != "cpu" or B * H * row_bytes <= budget:
            return [(0, B, 0, H)]
        if H * row_bytes <= budget:
            step = budget // (H * row_bytes)
            return [(i, min(i + step, B), 0, H) for i in range(0, B, step)]
        rows = max(self.min_band_rows, budget // row_bytes - 2)
        return [(i, i + 1, r, min(r + rows, H)) for i in range(B) for r in range(0, H, rows)]

    def forward(self, x: torch.Tensor, H: int, W: int) -> torch.Tensor:
        tiles = self.tiles(x, H, W)
        if len(tiles) == 1:
            return self.forward_rows(x, H, W, 0, H)
        groups: dict[int, list[torch.Tensor]] = {}  # first image of a tile -> its bands of rows, in order
        for i, j, r0, r1 in tiles:
            groups.setdefault(i, []).append(self.forward_rows(x[i:j], H, W, r0, r1))
        return torch.cat([bands[0] if len(bands) == 1 else torch.cat(bands, dim=1) for bands in groups.values()])

    def forward_rows(self, x: torch.Tensor, H: int, W: int, r0: int, r1: int) -> torch.Tensor:
        """The FFN's output for rows [r0, r1) of the H x W grid: (b, H*W, C) -> (b, (r1 - r0) * W, C)."""
        lo, hi = max(r0 - 1, 0), min(r1 + 1, H)  # the depth-wise conv reads one row above and below
        hidden = tokens_to_map(self.fc1(x[:, lo * W:hi * W] if (lo, hi) != (0, H) else x), hi - lo, W)
        hidden = map_to_tokens(self.dwconv(hidden)[:, :, r0 - lo:r1 - lo])
        if torch.is_grad_enabled() or not isinstance(self.act, nn.GELU):
            return self.fc2(self.act(hidden))
        # inference: the GELU overwrites the conv's fresh output instead of allocating the largest tensor
        # of the block again (a fresh allocation costs more than the GELU itself on the CPU)
        return self.fc2(torch.ops.aten.gelu_(hidden, approximate=self.act.approximate))


class Block(nn.Module):
    """Pre-norm transformer block: x + DropPath(attn(LN(x))), then x + DropPath(FFN(LN(x)))."""

    def __init__(self, dim: int, num_heads: int, mlp_ratio: float, sr_ratio: int, use_wave: bool,
                 drop_path: float = 0.0, wave: str = "haar") -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        if use_wave:
            self.attn = WaveAttention(dim, num_heads, sr_ratio, wave)
        else:
            self.attn = Attention(dim, num_heads)
        self.drop_path = DropPath(drop_path) if drop_path > 0 else nn.Identity()
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = ConvFFN(dim, int(dim * mlp_ratio))

    def forward(self, x: torch.Tensor, H: int, W: int) -> torch.Tensor:
        # each branch returns a fresh tensor; without autograd the residual is added into it (add_residual)
        x = add_residual(self.drop_path(self.attn(self.norm1(x), H, W)), x)
        return add_residual(self.drop_path(self.mlp(self.norm2(x), H, W)), x)


class Stem(nn.Module):
    """conv7x7/2 + 2 x conv3x3 (BN, ReLU), then conv3x3/2 and LayerNorm: (B, 3, H, W) -> tokens at stride 4."""

    def __init__(self, in_chans: int, hidden_dim: int, out_dim: int) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        for i, k in enumerate((7, 3, 3)):
            layers += [nn.Conv2d(in_chans if i == 0 else hidden_dim, hidden_dim, k, stride=2 if i == 0 else 1,
                                 padding=k // 2, bias=False), nn.BatchNorm2d(hidden_dim), nn.ReLU(inplace=True)]
        self.conv = nn.Sequential(*layers)
        self.proj = nn.Conv2d(hidden_dim, out_dim, 3, stride=2, padding=1)
        self.norm = nn.LayerNorm(out_dim)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, int, int]:
        # channels_last: the CPU convs run about twice as fast in it, and the tokens are then a free view
        x = self.proj(self.conv(x.contiguous(memory_format=torch.channels_last)))
        H, W = x.shape[-2:]
        return self.norm(map_to_tokens(x)), H, W


class Downsample(nn.Module):
    """conv3x3/2 + LayerNorm: (B, C_in, H, W) map -> (B, ceil(H/2) * ceil(W/2), C_out) tokens."""

    def __init__(self, in_dim: int, out_dim: int) -> None:
        super().__init__()
        self.proj = nn.Conv2d(in_dim, out_dim, 3, stride=2, padding=1)
        self.norm = nn.LayerNorm(out_dim)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, int, int]:
        x = self.proj(x)
        H, W = x.shape[-2:]
        return self.norm(map_to_tokens(x)), H, W


class Stage(nn.Module):
    """Patch embedding (stem or downsample), blocks and a closing LayerNorm.

    Input: the image (stage 0) or the previous stage's map; output: a (B, C, H, W) map.
    """

    def __init__(self, embed: nn.Module, blocks: Sequence[Block], dim: int) -> None:
        super().__init__()
        self.embed = embed
        self.blocks = nn.ModuleList(blocks)
        self.norm = nn.LayerNorm(dim)
        self.grad_checkpointing = False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x, H, W = self.embed(x)
        for blk in self.blocks:
            if self.grad_checkpointing and x.requires_grad and not torch.jit.is_scripting():
                x = checkpoint(blk, x, H, W, use_reentrant=False)
            else:
                x = blk(x, H, W)
        return tokens_to_map(self.norm(x), H, W)


class ClassBlock(nn.Module):
    """Class-attention block: updates only the first (class) token of (B, 1 + N, C)."""

    def __init__(self, dim: int, num_heads: int, mlp_ratio: float) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = ClassAttention(dim, num_heads)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        cls = x[:, :1] + self.attn(self.norm1(x))
        cls = cls + self.mlp(self.norm2(cls))
        return torch.cat([cls, x[:, 1:]], dim=1)


class WaveFormer(nn.Module):
    """WaveFormer backbone and classifier.

    Args:
        img_size: nominal input size (only for ``pretrained_cfg``; any size >= 32 works).
        in_chans: input channels.
        num_classes: classifier outputs; 0 gives an identity head.
        stem_hidden_dim, embed_dims, num_heads, mlp_ratios, depths, sr_ratios: per-stage settings.
        wave_stages: how many leading stages use WaveMSA (2, as in Wave-ViT; the seed code used 3).
        drop_path_rate: stochastic depth, linearly increasing over the blocks.
        token_label: add the token-labelling auxiliary head (dense per-token logits, as Wave-ViT); the
            logits of ``forward`` / ``forward_head`` are then ``cls + 0.5 * max over tokens of aux``.
        mix_token: MixToken in ``forward_train`` (default: on with ``token_label``).
        wave: the wavelet of the WBB (``'haar'`` as in the paper).
    """

    def __init__(self, img_size: int = 224, in_chans: int = 3, num_classes: int = 1000,
                 stem_hidden_dim: int = 32, embed_dims: Sequence[int] = (64, 128, 320, 448),
                 num_heads: Sequence[int] = (2, 4, 10, 14), mlp_ratios: Sequence[float] = (8, 8, 4, 4),
                 depths: Sequence[int] = (3, 4, 6, 3), sr_ratios: Sequence[int] = (4, 2, 1, 1),
                 wave_stages: int = 2, drop_path_rate: float = 0.0, token_label: bool = False,
                 wave: str = "haar", drop_rate: float = 0.0, global_pool: str = "token",
                 mix_token: bool | None = None) -> None:
        super().__init__()
        if not 0 <= wave_stages <= len(depths):
            raise ValueError(f"wave_stages must be in [0, {len(depths)}], got {wave_stages}")
        if global_pool not in ("token", ""):
            raise ValueError(f"global_pool must be 'token' (class attention) or '', got {global_pool!r}")
        self.num_classes = num_classes
        self.in_chans = in_chans
        self.global_pool = global_pool
        self.embed_dims = tuple(embed_dims)
        self.num_features = self.head_hidden_size = embed_dims[-1]
        self.wave_stages = wave_stages

        dpr = torch.linspace(0, drop_path_rate, sum(depths)).tolist()
        stages, cursor, prev = [], 0, in_chans
        self.feature_info = []
        for i, (dim, depth) in enumerate(zip(embed_dims, depths)):
            embed = Stem(in_chans, stem_hidden_dim, dim) if i == 0 else Downsample(prev, dim)
            blocks = [Block(dim, num_heads[i], mlp_ratios[i], sr_ratios[i], use_wave=i < wave_stages,
                            drop_path=dpr[cursor + j], wave=wave) for j in range(depth)]
            stages.append(Stage(embed, blocks, dim))
            self.feature_info.append(dict(num_chs=dim, reduction=4 * 2**i, module=f"stages.{i}"))
            cursor, prev = cursor + depth, dim
        self.stages = nn.ModuleList(stages)

        dim = embed_dims[-1]
        self.post_blocks = nn.ModuleList([ClassBlock(dim, num_heads[-1], mlp_ratios[-1])])
        self.norm = nn.LayerNorm(dim)
        self.head_drop = nn.Dropout(drop_rate)
        self.head = nn.Linear(dim, num_classes) if num_classes > 0 else nn.Identity()
        # token labelling (Wave-ViT / VOLO): per-token logits, MixToken boxes on the last-stage grid
        self.token_label = token_label
        self.mix_token = token_label if mix_token is None else mix_token
        self.beta = 1.0  # MixToken's box area fraction ~ 1 - Beta(beta, beta)
        self.pooling_scale = self.feature_info[-1]["reduction"] // self.feature_info[0]["reduction"]
        self.aux_head = nn.Linear(dim, num_classes) if token_label and num_classes > 0 else None
        self.apply(self._init_weights)
        self._weights_in_gradient_layout()

    @torch.no_grad()
    def _weights_in_gradient_layout(self) -> None:
        """Store conv weights in the layout their gradients come back in, so DDP's bucket views match them
        (otherwise it warns "grad strides do not match bucket view strides" and copies those gradients at
        every step): channels_last for the convs on the channels_last activations; NCHW for the
        channel-wavelet convs, whose weight is only used to build a dense weight (WaveConv1x1)."""
        wave_convs = {id(m.conv) for m in self.modules() if isinstance(m, WaveConv1x1)}
        for m in self.modules():
            if isinstance(m, nn.Conv2d) and id(m) not in wave_convs:
                # empty_like + copy_ restrides even when the weight already counts as channels_last
                # (a depth-wise weight with one input channel is both layouts at once)
                m.weight.data = torch.empty_like(m.weight, memory_format=torch.channels_last).copy_(m.weight)

    @staticmethod
    def _init_weights(m: nn.Module) -> None:
        if isinstance(m, nn.Linear):
            trunc_normal_(m.weight, std=0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.LayerNorm):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Conv2d):
            fan_out = m.kernel_size[0] * m.kernel_size[1] * m.out_channels // m.groups
            nn.init.normal_(m.weight, 0.0, math.sqrt(2.0 / fan_out))
            if m.bias is not None:
                nn.init.zeros_(m.bias)

    # ---- timm contract -----------------------------------------------------------------------------
    @torch.jit.ignore
    def no_weight_decay(self) -> set[str]:
        return set()

    @torch.jit.ignore
    def group_matcher(self, coarse: bool = False) -> dict:
        return dict(stem=r"^stages\.0\.embed",
                    blocks=r"^stages\.(\d+)" if coarse else [(r"^stages\.(\d+)\.blocks\.(\d+)", None),
                                                              (r"^stages\.(\d+)\.(embed|norm)", (99999,))])

    @torch.jit.ignore
    def set_grad_checkpointing(self, enable: bool = True) -> None:
        for stage in self.stages:
            stage.grad_checkpointing = enable

    @torch.jit.ignore
    def get_classifier(self) -> nn.Module:
        return self.head

    def reset_classifier(self, num_classes: int, global_pool: str | None = None) -> None:
        self.num_classes = num_classes
        if global_pool is not None:
            self.global_pool = global_pool
        dim = self.num_features
        self.head = nn.Linear(dim, num_classes) if num_classes > 0 else nn.Identity()
        self.aux_head = nn.Linear(dim, num_classes) if self.token_label and num_classes > 0 else None

    def check_input(self, x: torch.Tensor) -> None:
        """Raise a ValueError that says what was expected when ``x`` cannot go through the model."""
        if not isinstance(x, torch.Tensor) or x.dim() != 4:
            shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise ValueError(f"WaveFormer expects a 4-D image batch (B, {self.in_chans}, H, W), got {shape}")
        if x.shape[1] != self.in_chans:
            raise ValueError(f"WaveFormer expects {self.in_chans} input channels (B, {self.in_chans}, H, W), "
                             f"got {x.shape[1]} in shape {tuple(x.shape)}")
        if min(x.shape[-2:]) < MIN_INPUT_SIZE:
            raise ValueError(f"WaveFormer needs H and W >= {MIN_INPUT_SIZE} (its total stride), "
                             f"got {tuple(x.shape[-2:])}")

    def forward_intermediates(self, x: torch.Tensor, indices: int | list[int] | None = None, norm: bool = False,
                              stop_early: bool = False, output_fmt: str = "NCHW",
                              intermediates_only: bool = False):
        """Stage outputs as NCHW maps (strides 4, 8, 16, 32); timm's features_only uses this.

        Returns the selected intermediates, or ``(final tokens (B, N, C), intermediates)``.
        """
        if output_fmt != "NCHW":
            raise ValueError(f"only output_fmt='NCHW' is supported, got {output_fmt!r}")
        self.check_input(x)
        take, max_index = feature_take_indices(len(self.stages), indices)
        stages = self.stages[: max_index + 1] if stop_early or intermediates_only else self.stages
        intermediates = []
        for i, stage in enumerate(stages):
            x = stage(x)
            if i in take:
                intermediates.append(x)
        if intermediates_only:
            return intermediates
        return map_to_tokens(x), intermediates

    def prune_intermediate_layers(self, indices: int | list[int] = 1, prune_norm: bool = False,
                                  prune_head: bool = True) -> list[int]:
        """Drop stages and heads not needed for the requested intermediates."""
        take, max_index = feature_take_indices(len(self.stages), indices)
        self.stages = self.stages[: max_index + 1]
        if prune_head or max_index < 3:
            self.post_blocks = nn.ModuleList()
            self.norm = nn.Identity()
            self.aux_head = None
            self.reset_classifier(0, "")
        return take

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C_in, H, W) -> last-stage tokens (B, N, C4) with N = ceil(H/32) * ceil(W/32)."""
        self.check_input(x)
        for stage in self.stages:
            x = stage(x)
        return map_to_tokens(x)

    def forward_tokens_head(self, x: torch.Tensor) -> torch.Tensor:
        """Class attention over [mean token; tokens] then LayerNorm: (B, N, C) -> (B, 1 + N, C)."""
        x = torch.cat([x.mean(dim=1, keepdim=True), x], dim=1)
        for blk in self.post_blocks:
            x = blk(x)
        return self.norm(x)

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        """Last-stage tokens (B, N, C) -> logits (B, num_classes), or pooled features with pre_logits.

        With the token-labelling head the logits are ``cls + 0.5 * aux.max(1)`` (aux: (B, N, num_classes)
        per-token logits), the prediction Wave-ViT and VOLO evaluate.
        """
        if self.global_pool != "token":
            x = self.head_drop(x.mean(dim=1))
            return x if pre_logits else self.head(x)
        x = self.head_drop(self.forward_tokens_head(x))
        if pre_logits:
            return x[:, 0]
        out = self.head(x[:, 0])
        if self.aux_head is not None:
            out = out + 0.5 * self.aux_head(x[:, 1:]).max(dim=1).values
        return out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits (B, num_classes): ``forward_head(forward_features(x))`` in training and evaluation."""
        return self.forward_head(self.forward_features(x))

    def forward_train(self, x: torch.Tensor, box: Box | None = None):
        """The training pass of token labelling, separate from ``forward`` as in timm's VOLO.

        With the auxiliary head, returns ``(cls_logits (B, K), aux_logits (B, N, K), box)``. In training mode
        with ``mix_token``, MixToken replaces the stem tokens inside ``box`` (last-stage grid, scaled by
        ``pooling_scale``; drawn by :func:`~wavemsa.token_label.rand_token_box` when None) with those of
        the image ``x.flip(0)``, and the auxiliary logits come back un-mixed by the same box, so token n of
        sample b is always predicted for image b's own content (the class logits see the mixed image: their
        target mixes by the box's area). ``box`` is (y1, x1, y2, x2), end exclusive, (0, 0, 0, 0) when
        nothing was mixed. Without the auxiliary head (or with ``global_pool=''``) returns ``forward(x)``.
        """
        if self.aux_head is None or self.global_pool != "token":
            return self.forward(x)
        used: list[tuple[Box, tuple[int, int]]] = []

        def mix(module: nn.Module, args: tuple, out: tuple) -> tuple:
            tokens, H, W = out
            grid = (math.ceil(H / self.pooling_scale), math.ceil(W / self.pooling_scale))
            drawn = box if box is not None else rand_token_box(grid, self.beta)
            used.append((drawn, grid))
            return swap_box(tokens, (H, W), drawn, self.pooling_scale), H, W

        hook = self.stages[0].embed.register_forward_hook(mix) if self.mix_token and self.training else None
        try:
            x = self.forward_features(x)
        finally:
            if hook is not None:
                hook.remove()
        x = self.head_drop(self.forward_tokens_head(x))
        cls, aux = self.head(x[:, 0]), self.aux_head(x[:, 1:])
        if not used:
            return cls, aux, (0, 0, 0, 0)
        drawn, grid = used[0]
        return cls, swap_box(aux, grid, drawn), drawn

    @torch.no_grad()
    def fuse(self) -> WaveFormer:
        """Inference-only: fold each channel-wavelet conv into a dense 1x1 conv and every BatchNorm into
        the conv before it. Outputs are unchanged up to float rounding; the model can no longer train."""
        if self.training:
            raise RuntimeError("fuse() is for inference: call model.eval() first")
        fuse_conv_bn(self)
        return self


def _cfg(url: str = "", **kwargs) -> dict:
    return {
        "url": url, "num_classes": 1000, "input_size": (3, 224, 224), "pool_size": None,
        "crop_pct": 0.9, "interpolation": "bicubic", "fixed_input_size": False,
        "mean": IMAGENET_DEFAULT_MEAN, "std": IMAGENET_DEFAULT_STD,
        "first_conv": "stages.0.embed.conv.0", "classifier": "head", "license": "apache-2.0", **kwargs,
    }


default_cfgs = generate_default_cfgs({
    "wavemsa_t.untrained": _cfg(input_size=(3, 64, 64), crop_pct=1.0),
    "wavemsa_s.untrained": _cfg(),
    "wavemsa_b.untrained": _cfg(),
    "wavemsa_l.untrained": _cfg(),
})


def _checkpoint_filter(state_dict: dict, model: WaveFormer) -> dict:
    return filter_classification_state_dict(state_dict)


def _create(variant: str, arch: str, pretrained: bool = False, **kwargs) -> WaveFormer:
    settings = dict(ARCH_SETTINGS[arch])
    settings.update(kwargs)
    out_indices = settings.pop("out_indices", (0, 1, 2, 3))
    return build_model_with_cfg(
        WaveFormer, variant, pretrained, pretrained_filter_fn=_checkpoint_filter,
        feature_cfg=dict(out_indices=out_indices, feature_cls="getter"), **settings)


@register_model
def wavemsa_t(pretrained: bool = False, **kwargs) -> WaveFormer:
    """WaveFormer-T: a tiny variant (1.7 M params) for demos and tests; not from the paper."""
    return _create("wavemsa_t", "t", pretrained, **kwargs)


@register_model
def wavemsa_s(pretrained: bool = False, **kwargs) -> WaveFormer:
    """WaveFormer-S (paper: 23.2 M params, 4.9 GFLOPs at 224)."""
    return _create("wavemsa_s", "s", pretrained, **kwargs)


@register_model
def wavemsa_b(pretrained: bool = False, **kwargs) -> WaveFormer:
    """WaveFormer-B (paper: 32.9 M params, 6.7 GFLOPs at 224)."""
    return _create("wavemsa_b", "b", pretrained, **kwargs)


@register_model
def wavemsa_l(pretrained: bool = False, **kwargs) -> WaveFormer:
    """WaveFormer-L (paper: 55.7 M params, 13.8 GFLOPs at 224)."""
    return _create("wavemsa_l", "l", pretrained, **kwargs)

