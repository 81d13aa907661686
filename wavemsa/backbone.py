"""WaveFormer as a dense-prediction backbone (MMDetection / MMSegmentation), with no OpenMMLab import.

The task folders only register :class:`WaveFormerBackbone` with their framework's registry through
:func:`register_mm_backbone`; the model itself stays in :mod:`wavemsa.waveformer`.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import nn

from .checkpoint import load_state_dict, load_weights
from .errors import InputError
from .waveformer import ARCH_SETTINGS, WaveFormer

_HEAD_PREFIXES = ("head.", "aux_head.", "post_blocks.")


class WaveFormerBackbone(WaveFormer):
    """Multi-scale WaveFormer features: (B, 3, H, W) -> tuple of (B, C_i, H / 2**(i+2), W / 2**(i+2)).

    Args:
        arch: 't' | 's' | 'b' | 'l', or a dict of :class:`WaveFormer` settings.
        out_indices: stages whose outputs are returned (0..3; strides 4, 8, 16, 32).
        drop_path_rate: stochastic depth over the blocks.
        frozen_stages: -1 freezes nothing, 0 the stem, k >= 1 the stem and stages 0..k-1
            (parameters stop learning and the frozen part stays in eval mode).
        norm_eval: keep every BatchNorm in eval mode while training (small detection batches).
        bn_requires_grad: False freezes the scale and shift of every BatchNorm (the published detection
            and segmentation backbones build theirs with ``requires_grad=False``); their running
            statistics still update unless ``norm_eval``.
        with_cp: gradient checkpointing of the blocks (saves memory, costs time).
        wave_stages: number of leading stages with WaveMSA.
        frequency_finer: ``'subbands'`` (the paper's figure) or ``'input'`` (the published code), see
            :class:`~wavemsa.WaveFormer`.
        init_cfg: ``dict(type='Pretrained', checkpoint=PATH, use_ema=False)`` loads a classification
            checkpoint (the trainer's, EMA or not, a bare state dict, a ``.safetensors`` file or a timm model
            folder written by ``tools/export.py`` / ``timm.models.save_for_hf``); heads are ignored.
    """

    def __init__(self, arch: str | dict = "s", out_indices: Sequence[int] = (0, 1, 2, 3),
                 drop_path_rate: float = 0.1, frozen_stages: int = -1, norm_eval: bool = False,
                 bn_requires_grad: bool = True, with_cp: bool = False, wave_stages: int = 2,
                 frequency_finer: str = "subbands", in_chans: int = 3,
                 init_cfg: dict | None = None, pretrained: str | None = None) -> None:
        if isinstance(arch, str):
            if arch.lower() not in ARCH_SETTINGS:
                raise ValueError(f"unknown WaveFormer arch {arch!r}; choose one of {sorted(ARCH_SETTINGS)} or a dict")
            settings = dict(ARCH_SETTINGS[arch.lower()])
        else:
            settings = dict(arch)
        super().__init__(in_chans=in_chans, num_classes=0, wave_stages=wave_stages, frequency_finer=frequency_finer,
                         drop_path_rate=drop_path_rate, **settings)
        self.out_indices = tuple(sorted(i % len(self.stages) for i in out_indices))
        self.prune_intermediate_layers(list(self.out_indices), prune_norm=False)
        self.out_channels = [self.embed_dims[i] for i in self.out_indices]
        self.frozen_stages = frozen_stages
        self.norm_eval = norm_eval
        if pretrained is not None:
            if init_cfg is not None:
                raise ValueError("give either pretrained or init_cfg, not both")
            init_cfg = dict(type="Pretrained", checkpoint=pretrained)
        self.init_cfg = init_cfg
        self.set_grad_checkpointing(with_cp)
        for m in self.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.requires_grad_(bn_requires_grad)
        self._freeze_stages()

    def init_weights(self) -> None:
        """Load ``init_cfg``'s pretrained classification weights (the OpenMMLab runner calls this before training).

        A missing, unreadable or mismatched file, or ``use_ema=True`` on a file without EMA weights, is an
        :class:`~wavemsa.errors.InputError` naming ``model.backbone.init_cfg`` and the file."""
        cfg = self.init_cfg
        if not cfg:
            return
        if cfg.get("type") != "Pretrained" or "checkpoint" not in cfg:
            raise InputError(f"model.backbone.init_cfg: WaveFormerBackbone supports dict(type='Pretrained', "
                             f"checkpoint=...), got {cfg}")
        path = cfg["checkpoint"]
        try:
            self.load_pretrained(load_state_dict(path, use_ema=cfg.get("use_ema", False)),
                                 source=f"checkpoint {path}", prefix=cfg.get("prefix", "backbone."))
        except (OSError, KeyError, ValueError) as err:
            raise InputError(f"model.backbone.init_cfg: {err.args[0] if err.args else err}") from err

    def load_pretrained(self, state: Mapping[str, torch.Tensor], source: str = "checkpoint",
                        prefix: str = "backbone.") -> None:
        """Load classification weights (heads ignored), or backbone weights saved under ``prefix``, strictly;
        a ``ValueError`` naming ``source`` says what does not fit."""
        if all(k.startswith(prefix) for k in state):
            state = {k[len(prefix):]: v for k, v in state.items()}
        load_weights(self, state, strict=True, ignore=_HEAD_PREFIXES, source=source)

    def _frozen_modules(self) -> list[nn.Module]:
        if self.frozen_stages < 0:
            return []
        if self.frozen_stages == 0:
            return [self.stages[0].embed]
        return list(self.stages[: self.frozen_stages])

    def _freeze_stages(self) -> None:
        for m in self._frozen_modules():
            m.eval()
            for p in m.parameters():
                p.requires_grad = False

    def train(self, mode: bool = True) -> WaveFormerBackbone:
        super().train(mode)
        self._freeze_stages()
        if mode and self.norm_eval:
            for m in self.modules():
                if isinstance(m, nn.modules.batchnorm._BatchNorm):
                    m.eval()
        return self

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """(B, 3, H, W) -> one contiguous NCHW map per ``out_indices``.

        The stages produce channels_last maps (free views of their tokens); mmcv's compiled CPU ops
        (RoIAlign, deformable convs, ...) index their input as contiguous NCHW and silently read the
        wrong values from anything else, so the maps are made contiguous here, once.
        """
        feats = self.forward_intermediates(x, indices=list(self.out_indices), norm=True, intermediates_only=True)
        return tuple(f.contiguous() for f in feats)


def register_mm_backbone(registry, name: str = "WaveFormer") -> None:
    """Register :class:`WaveFormerBackbone` as ``type=name`` in an OpenMMLab ``MODELS`` registry."""
    if registry.get(name) is None:
        registry.register_module(name=name, module=WaveFormerBackbone)
