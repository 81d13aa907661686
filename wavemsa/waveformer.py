"""WaveFormer: a four-stage vision transformer whose early stages use WaveMSA.

Stage i runs at stride 4 * 2**i. Stages < ``wave_stages`` (default 2) use :class:`WaveAttention`, the
others plain multi-head self-attention. The classifier is one class-attention block over
[mean token; tokens], a LayerNorm and a Linear; an optional token-labelling head gives dense per-token
logits. Registered timm models: ``wavemsa_t`` (tiny, for demos and tests), ``wavemsa_s``,
``wavemsa_b``, ``wavemsa_l``.

(No ``from __future__ import annotations`` here: torch.fx copies ``WaveFormer.forward``'s annotations into the
code of its graphs, which TorchScript must then read.)
"""
import math
from collections.abc import Sequence

import torch
from timm.data import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD
from timm.layers import (
    DropPath,
    Mlp,
    calculate_drop_path_rates,
    get_device_dtype,
    register_notrace_function,
    trunc_normal_,
)
from timm.models import build_model_with_cfg, generate_default_cfgs, register_model
from timm.models._features import feature_take_indices
from timm.models._manipulate import checkpoint
from torch import nn

from .attention import FREQUENCY_FINER_INPUTS, Attention, ClassAttention, WaveAttention
from .checkpoint import check_weights_fit, filter_classification_state_dict
from .fuse import ConvBnReLU, fuse_for_inference
from .token_label import Box, mix_stem_tokens, unmix_tokens
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


@register_notrace_function  # a leaf for torch.fx: the checks stay in traced graphs and read real shapes
def check_image_batch(x: torch.Tensor, in_chans: int, min_size: int = MIN_INPUT_SIZE) -> torch.Tensor:
    """``x`` itself when it is an image batch (B, in_chans, H, W) with H, W >= ``min_size``, else a ValueError that
    says what was expected."""
    if x.dim() != 4:
        raise ValueError(f"WaveFormer expects a 4-D image batch (B, {in_chans}, H, W), got shape {list(x.shape)}")
    if x.shape[1] != in_chans:
        raise ValueError(f"WaveFormer expects {in_chans} input channels (B, {in_chans}, H, W), "
                         f"got {x.shape[1]} in shape {list(x.shape)}")
    if min(x.shape[2], x.shape[3]) < min_size:
        raise ValueError(f"WaveFormer needs H and W >= {min_size} (its total stride), "
                         f"got {list(x.shape[2:])}")
    if not x.is_floating_point():
        raise ValueError(f"WaveFormer expects a floating-point image batch (normalised, as timm's transforms give), "
                         f"got {x.dtype}")
    return x


class ConvFFN(nn.Module):
    """PVTv2 feed-forward: fc1 -> depth-wise 3x3 conv -> GELU -> fc2 on (B, N, C) tokens of an H x W grid (the
    hidden tokens seen as a channels_last map, no copy)."""

    def __init__(self, in_features: int, hidden_features: int, device=None, dtype=None) -> None:
        super().__init__()
        dd = {"device": device, "dtype": dtype}
        self.fc1 = nn.Linear(in_features, hidden_features, **dd)
        self.dwconv = nn.Conv2d(hidden_features, hidden_features, 3, padding=1, groups=hidden_features, **dd)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden_features, in_features, **dd)

    def forward(self, x: torch.Tensor, feat_size: list[int]) -> torch.Tensor:
        B, N, _ = x.shape
        x = self.fc1(x)
        x = x.transpose(1, 2).reshape(B, -1, feat_size[0], feat_size[1])
        x = self.dwconv(x)
        x = x.flatten(2).transpose(1, 2)
        x = self.act(x)
        x = self.fc2(x)
        return x


class Block(nn.Module):
    """Pre-norm transformer block: x + DropPath(attn(LN(x))), then x + DropPath(FFN(LN(x)))."""

    def __init__(self, dim: int, num_heads: int, mlp_ratio: float, sr_ratio: int, use_wave: bool,
                 drop_path: float = 0.0, wave: str = "haar", norm_eps: float = 1e-6,
                 frequency_finer: str = "subbands", device=None, dtype=None) -> None:
        super().__init__()
        dd = {"device": device, "dtype": dtype}
        self.norm1 = nn.LayerNorm(dim, eps=norm_eps, **dd)
        if use_wave:
            self.attn = WaveAttention(dim, num_heads, sr_ratio, wave, frequency_finer, **dd)
        else:
            self.attn = Attention(dim, num_heads, **dd)
        self.drop_path1 = DropPath(drop_path) if drop_path > 0 else nn.Identity()
        self.norm2 = nn.LayerNorm(dim, eps=norm_eps, **dd)
        self.mlp = ConvFFN(dim, int(dim * mlp_ratio), **dd)
        self.drop_path2 = DropPath(drop_path) if drop_path > 0 else nn.Identity()

    def forward(self, x: torch.Tensor, feat_size: list[int]) -> torch.Tensor:
        x = x + self.drop_path1(self.attn(self.norm1(x), feat_size))
        x = x + self.drop_path2(self.mlp(self.norm2(x), feat_size))
        return x


class Stem(nn.Module):
    """conv7x7/2 + 2 x conv3x3 (BN, ReLU), then conv3x3/2 and LayerNorm: (B, 3, H, W) -> (B, H/4, W/4, C)."""

    def __init__(self, in_chans: int, hidden_dim: int, out_dim: int, device=None, dtype=None) -> None:
        super().__init__()
        dd = {"device": device, "dtype": dtype}
        layers: list[nn.Module] = []
        for i, k in enumerate((7, 3, 3)):
            layers += [nn.Conv2d(in_chans if i == 0 else hidden_dim, hidden_dim, k, stride=2 if i == 0 else 1,
                                 padding=k // 2, bias=False, **dd), nn.BatchNorm2d(hidden_dim, **dd),
                       nn.ReLU(inplace=True)]
        self.conv = ConvBnReLU(*layers)
        self.proj = nn.Conv2d(hidden_dim, out_dim, 3, stride=2, padding=1, **dd)
        self.norm = nn.LayerNorm(out_dim, **dd)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # channels_last: the CPU convs run about twice as fast in it, and the NHWC map is then a free view
        x = self.proj(self.conv(x.contiguous(memory_format=torch.channels_last)))
        return self.norm(x.permute(0, 2, 3, 1))


class Downsample(nn.Module):
    """conv3x3/2 + LayerNorm: (B, C_in, H, W) -> (B, ceil(H/2), ceil(W/2), C_out)."""

    def __init__(self, in_dim: int, out_dim: int, device=None, dtype=None) -> None:
        super().__init__()
        self.proj = nn.Conv2d(in_dim, out_dim, 3, stride=2, padding=1, device=device, dtype=dtype)
        self.norm = nn.LayerNorm(out_dim, device=device, dtype=dtype)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(self.proj(x).permute(0, 2, 3, 1))


class Stage(nn.Module):
    """Patch embedding (stem or downsample), blocks and a closing LayerNorm (``norm=False``: none, for the last
    stage, whose tokens go un-normed into the class attention).

    Input: the image (stage 0) or the previous stage's map; output: a (B, C, H, W) map (channels_last memory).
    """

    def __init__(self, embed: nn.Module, blocks: Sequence[Block], dim: int, norm: bool = True,
                 norm_eps: float = 1e-6, device=None, dtype=None) -> None:
        super().__init__()
        self.embed = embed
        self.blocks = nn.ModuleList(blocks)
        self.norm = nn.LayerNorm(dim, eps=norm_eps, device=device, dtype=dtype) if norm else nn.Identity()
        self.grad_checkpointing = False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_blocks(self.embed(x))

    def forward_blocks(self, x: torch.Tensor) -> torch.Tensor:
        """The embedded (B, H, W, C) map through the blocks and the closing norm -> (B, C, H, W)."""
        B, H, W, C = x.shape
        feat_size = [H, W]
        x = x.reshape(B, -1, C)
        for blk in self.blocks:
            if self.grad_checkpointing and not torch.jit.is_scripting():
                x = checkpoint(blk, x, feat_size)
            else:
                x = blk(x, feat_size)
        x = self.norm(x)
        return x.reshape(B, H, W, C).permute(0, 3, 1, 2)


class ClassBlock(nn.Module):
    """Class-attention block: class token (B, 1, C) and tokens (B, N, C) -> the updated class token (B, 1, C); the
    class token attends to [class token; tokens]."""

    def __init__(self, dim: int, num_heads: int, mlp_ratio: float, norm_eps: float = 1e-6, device=None,
                 dtype=None) -> None:
        super().__init__()
        dd = {"device": device, "dtype": dtype}
        self.norm1 = nn.LayerNorm(dim, eps=norm_eps, **dd)
        self.attn = ClassAttention(dim, num_heads, **dd)
        self.norm2 = nn.LayerNorm(dim, eps=norm_eps, **dd)
        self.mlp = Mlp(dim, int(dim * mlp_ratio), **dd)

    def forward(self, cls: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        cls = cls + self.attn(self.norm1(torch.cat([cls, tokens], dim=1)))
        return cls + self.mlp(self.norm2(cls))


class WaveFormer(nn.Module):
    """WaveFormer backbone and classifier.

    Args:
        img_size: nominal input size (only for ``pretrained_cfg``; any size >= 32 works).
        in_chans: input channels.
        num_classes: classifier outputs; 0 gives an identity head.
        stem_hidden_dim, embed_dims, num_heads, mlp_ratios, depths, sr_ratios: per-stage settings.
        wave_stages: how many leading stages use WaveMSA (2, as in Wave-ViT; the seed code used 3).
        frequency_finer: what WaveMSA's Frequency Finer reads, and so where its keys and values come from:
            ``'subbands'`` (the paper's figure: the WBB's subbands, keys on an H/2sr x W/2sr grid) or ``'input'``
            (the published code: the layer input split in four channel groups, keys on an H/sr x W/sr grid).
        drop_path_rate: stochastic depth, linearly increasing over the blocks.
        token_label: add the token-labelling auxiliary head (dense per-token logits, as Wave-ViT); the
            logits of ``forward`` / ``forward_head`` are then ``cls + 0.5 * max over tokens of aux``.
        mix_token: MixToken in ``forward_train`` (default: on with ``token_label``).
        wave: the wavelet of the WBB (``'haar'`` as in the paper).
        drop_rate: dropout before the classifier.
        global_pool: ``'token'`` (class attention over [mean token; tokens], the paper's head), ``'avg'`` (mean
            of the last-stage tokens) or ``''`` (no pooling: ``forward`` returns the last-stage map).
        norm_eps: epsilon of the LayerNorms in the blocks, at the end of each stage and in the head: 1e-6, the
            originals' ``norm_layer=partial(nn.LayerNorm, eps=1e-6)``; the patch embeddings' and the keys' and
            values' LayerNorms keep PyTorch's 1e-5, as in the originals.
        device, dtype: where and in which dtype the parameters are created (timm's factory arguments).
    """

    def __init__(self, img_size: int = 224, in_chans: int = 3, num_classes: int = 1000,
                 stem_hidden_dim: int = 32, embed_dims: Sequence[int] = (64, 128, 320, 448),
                 num_heads: Sequence[int] = (2, 4, 10, 14), mlp_ratios: Sequence[float] = (8, 8, 4, 4),
                 depths: Sequence[int] = (3, 4, 6, 3), sr_ratios: Sequence[int] = (4, 2, 1, 1),
                 wave_stages: int = 2, frequency_finer: str = "subbands", drop_path_rate: float = 0.0,
                 token_label: bool = False,
                 wave: str = "haar", drop_rate: float = 0.0, global_pool: str = "token", norm_eps: float = 1e-6,
                 mix_token: bool | None = None, device=None, dtype=None) -> None:
        super().__init__()
        dd = {"device": device, "dtype": dtype}
        if not 0 <= wave_stages <= len(depths):
            raise ValueError(f"wave_stages must be in [0, {len(depths)}], got {wave_stages}")
        if frequency_finer not in FREQUENCY_FINER_INPUTS:
            raise ValueError(f"frequency_finer must be one of {FREQUENCY_FINER_INPUTS}, got {frequency_finer!r}")
        if global_pool not in ("token", "avg", ""):
            raise ValueError(f"global_pool must be 'token' (class attention), 'avg' or '', got {global_pool!r}")
        if num_classes < 0:
            raise ValueError(f"num_classes must be >= 0 (0: no classifier), got {num_classes}")
        for name, rate in (("drop_path_rate", drop_path_rate), ("drop_rate", drop_rate)):
            if not 0 <= rate < 1:
                raise ValueError(f"{name} must be in [0, 1), got {rate}")
        self.num_classes = num_classes
        self.in_chans = in_chans
        self.global_pool = global_pool
        self.embed_dims = tuple(embed_dims)
        self.num_features = self.head_hidden_size = embed_dims[-1]
        self.wave_stages = wave_stages
        self.frequency_finer = frequency_finer

        dpr = calculate_drop_path_rates(drop_path_rate, sum(depths))
        stages, cursor, prev = [], 0, in_chans
        self.feature_info = []
        for i, (dim, depth) in enumerate(zip(embed_dims, depths)):
            embed = Stem(in_chans, stem_hidden_dim, dim, **dd) if i == 0 else Downsample(prev, dim, **dd)
            blocks = [Block(dim, num_heads[i], mlp_ratios[i], sr_ratios[i], use_wave=i < wave_stages,
                            drop_path=dpr[cursor + j], wave=wave, norm_eps=norm_eps, frequency_finer=frequency_finer,
                            **dd) for j in range(depth)]
            stages.append(Stage(embed, blocks, dim, norm=i < len(depths) - 1, norm_eps=norm_eps, **dd))
            self.feature_info.append(dict(num_chs=dim, reduction=4 * 2**i, module=f"stages.{i}"))
            cursor, prev = cursor + depth, dim
        self.stages = nn.ModuleList(stages)

        dim = embed_dims[-1]
        self.post_blocks = nn.ModuleList([ClassBlock(dim, num_heads[-1], mlp_ratios[-1], norm_eps=norm_eps, **dd)])
        self.norm = nn.LayerNorm(dim, eps=norm_eps, **dd)  # closes the network: after the class attention
        self.head_drop = nn.Dropout(drop_rate)
        self.head = nn.Linear(dim, num_classes, **dd) if num_classes > 0 else nn.Identity()
        # token labelling (Wave-ViT / VOLO): per-token logits, MixToken boxes on the last-stage grid
        self.token_label = token_label
        self.mix_token = token_label if mix_token is None else mix_token
        self.beta = 1.0  # MixToken's box area fraction ~ 1 - Beta(beta, beta)
        self.pooling_scale = self.feature_info[-1]["reduction"] // self.feature_info[0]["reduction"]
        self.aux_head = nn.Linear(dim, num_classes, **dd) if token_label and num_classes > 0 else None
        self.apply(self._init_weights)
        self._weights_in_gradient_layout()

    @torch.no_grad()
    def _weights_in_gradient_layout(self) -> None:
        """Store each depth-wise conv weight (C, 1, k, k) with channels_last strides, the layout its gradient
        comes back in from the channels_last activations. Both layouts count as contiguous for such a weight, so
        autograd keeps the gradient's strides and DDP would otherwise find them differing from its bucket views
        (it warns "grad strides do not match bucket view strides" and copies them at every step). Dense convs
        keep the standard layout: autograd brings their gradients to it, and state dicts stay contiguous for
        safetensors (``timm.models.save_for_hf``). The channel-wavelet convs' weights only build a dense weight
        (WaveConv1x1) and are left alone."""
        wave_convs = {id(m.conv) for m in self.modules() if isinstance(m, WaveConv1x1)}
        for m in self.modules():
            if isinstance(m, nn.Conv2d) and id(m) not in wave_convs and m.weight.shape[1] == 1:
                # empty_like + copy_ restrides even when the weight already counts as channels_last
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
                    blocks=r"^stages\.(\d+)" if coarse else [(r"^stages\.(\d+)\.embed", (0,)),
                                                              (r"^stages\.(\d+)\.blocks\.(\d+)", None),
                                                              (r"^stages\.(\d+)\.norm", (99999,))])

    @torch.jit.ignore
    def set_grad_checkpointing(self, enable: bool = True) -> None:
        for stage in self.stages:
            stage.grad_checkpointing = enable

    @torch.jit.ignore
    def get_classifier(self) -> nn.Module:
        return self.head

    def reset_classifier(self, num_classes: int, global_pool: str | None = None) -> None:
        dd = get_device_dtype(self)
        self.num_classes = num_classes
        if global_pool is not None:
            self.global_pool = global_pool
        dim = self.num_features
        self.head = (nn.Linear(dim, num_classes, **dd) if num_classes > 0 else nn.Identity()).train(self.training)
        self.aux_head = (nn.Linear(dim, num_classes, **dd).train(self.training)
                         if self.token_label and num_classes > 0 else None)

    def forward_intermediates(self, x: torch.Tensor, indices: int | list[int] | None = None, norm: bool = False,
                              stop_early: bool = False, output_fmt: str = "NCHW",
                              intermediates_only: bool = False):
        """Stage outputs as NCHW maps (strides 4, 8, 16, 32); timm's features_only and the dense-prediction
        backbone use this.

        Returns the selected intermediates, or ``(forward_features(x), intermediates)``. Stages 1-3 end in their
        LayerNorm; the last stage's map is the one the class attention reads, un-normed, unless ``norm``: then the
        network's closing LayerNorm normalises it (what the originals' dense-prediction backbone returns, and what
        ``features_only`` and :class:`~wavemsa.WaveFormerBackbone` return).
        """
        if output_fmt != "NCHW":
            raise ValueError(f"only output_fmt='NCHW' is supported, got {output_fmt!r}")
        x = check_image_batch(x, self.in_chans)
        take, max_index = feature_take_indices(len(self.stages), indices)
        stages = self.stages[: max_index + 1] if stop_early or intermediates_only else self.stages
        intermediates = []
        for i, stage in enumerate(stages):
            x = stage(x)
            if i in take:
                intermediates.append(self.normed_map(x) if norm and i == len(self.stages) - 1 else x)
        if intermediates_only:
            return intermediates
        return x, intermediates

    def prune_intermediate_layers(self, indices: int | list[int] = 1, prune_norm: bool = False,
                                  prune_head: bool = True) -> list[int]:
        """Drop stages and heads not needed for the requested intermediates (the closing norm too with
        ``prune_norm`` or without the last stage)."""
        take, max_index = feature_take_indices(len(self.stages), indices)
        if prune_norm or max_index < len(self.stages) - 1:
            self.norm = nn.Identity()
        self.stages = self.stages[: max_index + 1]
        if prune_head or max_index < 3:
            self.post_blocks = nn.ModuleList()
            self.aux_head = None
            self.reset_classifier(0, "")
        return take

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C_in, H, W) -> the last stage's map (B, C4, ceil(H/32), ceil(W/32)), before the closing norm (the
        class attention reads it so, as in the originals)."""
        x = check_image_batch(x, self.in_chans)
        for stage in self.stages:
            x = stage(x)
        return x

    def forward_class_token(self, x: torch.Tensor) -> torch.Tensor:
        """Class attention over [mean token; tokens]: last-stage tokens (B, N, C) -> class token (B, 1, C), not
        yet normed."""
        cls = x.mean(dim=1, keepdim=True)
        for blk in self.post_blocks:
            cls = blk(cls, x)
        return cls

    def forward_tokens_head(self, x: torch.Tensor) -> torch.Tensor:
        """Class attention, then the closing LayerNorm over [class token; tokens]: (B, N, C) -> (B, 1 + N, C)."""
        return self.norm(torch.cat([self.forward_class_token(x), x], dim=1))

    def normed_map(self, x: torch.Tensor) -> torch.Tensor:
        """The closing LayerNorm applied to a last-stage map (B, C, H, W)."""
        return self.norm(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        """Last-stage map (B, C, H, W) from :meth:`forward_features` -> logits (B, num_classes), or pooled features
        with pre_logits; with ``global_pool=''`` the map after the closing norm.

        ``'token'``: class attention over [mean token; tokens], the closing LayerNorm, the classifier (as the
        originals). With the token-labelling head the logits are ``cls + 0.5 * aux.max(1)`` (aux: (B, N,
        num_classes) per-token logits of the normed tokens), the prediction Wave-ViT and VOLO evaluate.
        ``'avg'``: the mean of the normed tokens.
        """
        if self.global_pool == "":
            return self.normed_map(x)
        x = x.flatten(2).transpose(1, 2)  # tokens (B, N, C)
        if self.global_pool == "avg":
            x = self.head_drop(self.norm(x).mean(dim=1))
            return x if pre_logits else self.head(x)
        if self.aux_head is None:
            x = self.head_drop(self.norm(self.forward_class_token(x)).squeeze(1))
            return x if pre_logits else self.head(x)
        x = self.head_drop(self.forward_tokens_head(x))
        if pre_logits:
            return x[:, 0]
        return self.head(x[:, 0]) + 0.5 * self.aux_head(x[:, 1:]).max(dim=1).values

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits (B, num_classes): ``forward_head(forward_features(x))`` in training and evaluation."""
        return self.forward_head(self.forward_features(x))

    @torch.jit.ignore
    def forward_train(self, x: torch.Tensor, box: Box | None = None):
        """The training pass of token labelling, separate from ``forward`` as in timm's VOLO.

        With the auxiliary head, returns ``(cls_logits (B, K), aux_logits (B, N, K), box)``. In training mode
        with ``mix_token``, MixToken replaces the stem's tokens inside ``box`` (last-stage grid, scaled by
        ``pooling_scale``; drawn by :func:`~wavemsa.token_label.rand_token_box` when None) with those of
        the image ``x.flip(0)``, and the auxiliary logits come back un-mixed by the same box, so token n of
        sample b is always predicted for image b's own content (the class logits see the mixed image: their
        target mixes by the box's area). ``box`` is (y1, x1, y2, x2), end exclusive, (0, 0, 0, 0) when
        nothing was mixed. Without the auxiliary head (or with ``global_pool`` other than 'token') returns
        ``forward(x)``.
        """
        if self.aux_head is None or self.global_pool != "token":
            return self.forward(x)
        # MixToken between the stem and the first blocks, at this level rather than in a hook inside a stage: the
        # eager helpers then split the compiled pass into a few whole graphs (a break inside the stage's loop
        # over its blocks would leave each block a graph of its own)
        x = self.stages[0].embed(check_image_batch(x, self.in_chans))
        used: list[tuple[Box, tuple[int, int]]] = []  # the box drawn in this pass and its grid
        if self.mix_token and self.training:
            x = mix_stem_tokens(x, box, self.beta, self.pooling_scale, used)
        x = self.stages[0].forward_blocks(x)
        for stage in self.stages[1:]:
            x = stage(x)
        x = self.head_drop(self.forward_tokens_head(x.flatten(2).transpose(1, 2)))
        cls, aux = self.head(x[:, 0]), self.aux_head(x[:, 1:])
        aux, drawn = unmix_tokens(aux, used)
        return cls, aux, drawn

    @torch.jit.ignore
    def fuse(self) -> "WaveFormer":
        """Inference-only: fold each channel-wavelet conv into a dense 1x1 conv, every BatchNorm into the conv
        before it and the Frequency Finer into the keys' conv: ``timm.utils.reparameterize_model(model,
        inplace=True)``, then store the conv weights channels_last. Outputs are unchanged up to float rounding;
        the model can no longer train."""
        if self.training:
            raise RuntimeError("fuse() is for inference: call model.eval() first")
        return fuse_for_inference(self)


def _cfg(url: str = "", **kwargs) -> dict:
    """timm's pretrained-config fields. Evaluation as in the originals' trainer (YehLi/ImageNetModel
    ``classification/main.py`` and ``datasets.py``): resize to 224 / 0.96 with bicubic interpolation, centre
    crop 224 (``crop_pct=0.96``)."""
    return {
        "url": url, "num_classes": 1000, "input_size": (3, 224, 224), "pool_size": (7, 7),
        "crop_pct": 0.96, "crop_mode": "center", "interpolation": "bicubic", "fixed_input_size": False,
        "mean": IMAGENET_DEFAULT_MEAN, "std": IMAGENET_DEFAULT_STD,
        "first_conv": "stages.0.embed.conv.0", "classifier": "head", "license": "apache-2.0",
        "paper_name": "Enhancing Vision Transformers with Wavelet Bottleneck Boosters for Efficient Multi-head "
                      "Self-Attention",
        "origin_url": "https://github.com/jack-li123/WaveMSA", **kwargs,
    }


default_cfgs = generate_default_cfgs({
    "wavemsa_t.untrained": _cfg(input_size=(3, 64, 64), pool_size=(2, 2), crop_pct=1.0,
                                notes=("a small variant of this project for demos and tests, not in the paper",)),
    "wavemsa_s.untrained": _cfg(),
    "wavemsa_b.untrained": _cfg(),
    "wavemsa_l.untrained": _cfg(),
})


def _checkpoint_filter(state_dict: dict, model: "WaveFormer") -> dict:
    """timm's ``pretrained_filter_fn``: the model weights inside a trainer checkpoint, and a clear error naming the
    file when they are another model's (timm itself then adapts the first conv and drops the classifier when
    ``in_chans`` or ``num_classes`` differ)."""
    state = filter_classification_state_dict(state_dict)
    cfg = getattr(model, "pretrained_cfg", None) or {}
    source = f"pretrained weights '{cfg.get('file') or cfg.get('url') or cfg.get('hf_hub_id') or '?'}'"
    check_weights_fit(model, state, ignore=("head.", "aux_head."), source=source,
                      ignore_shapes=(f"{cfg.get('first_conv', 'stages.0.embed.conv.0')}.weight",))
    return state


def _create(variant: str, arch: str, pretrained: bool = False, **kwargs) -> WaveFormer:
    settings = dict(ARCH_SETTINGS[arch])
    settings.update(kwargs)
    feature_cfg = dict(out_indices=settings.pop("out_indices", (0, 1, 2, 3)), feature_cls="getter")
    if settings.get("feature_cls", "getter") == "getter":
        feature_cfg["norm"] = True  # features_only: the last map closed by the network's LayerNorm
    return build_model_with_cfg(WaveFormer, variant, pretrained, pretrained_filter_fn=_checkpoint_filter,
                                feature_cfg=feature_cfg, **settings)


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

