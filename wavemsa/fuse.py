"""Inference-time folding (timm's ``fuse()`` convention, applied by ``timm.utils.reparameterize_model``).

Each foldable module has a ``fuse()`` that returns its replacement:

* :class:`ConvBnReLU` (conv -> BatchNorm -> ReLU, repeated) -> the same sequence with each BatchNorm merged
  into the conv before it and each channel-wavelet conv made dense;
* :class:`wavemsa.wave_conv.WaveConv1x1` -> the dense ``nn.Conv2d`` it equals;
* :class:`wavemsa.attention.FrequencyFinerConv` -> a plain ``nn.Conv2d`` with the Frequency Finer folded in.

Only the numbers change (float rounding); the fused model is for inference (BatchNorm statistics are gone).
"""
from __future__ import annotations

import torch
from timm.models import reparameterize_model
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

__all__ = ["ConvBnReLU", "fuse_for_inference"]


class ConvBnReLU(nn.Sequential):
    """``nn.Sequential`` of (conv, ``BatchNorm2d``, ``ReLU``) triples; the conv is an ``nn.Conv2d`` or any module
    whose ``fuse()`` returns one (:class:`~wavemsa.wave_conv.WaveConv1x1`). State-dict keys are those of a
    plain ``nn.Sequential`` (``0.weight``, ``1.running_mean``, ...)."""

    @torch.no_grad()
    def fuse(self) -> nn.Sequential:
        """The same function as one ``nn.Sequential`` of (conv with the BatchNorm folded in, ``ReLU``) pairs."""
        fused: list[nn.Module] = []
        for layer in self:
            if hasattr(layer, "fuse"):
                layer = layer.fuse()
            if isinstance(layer, nn.BatchNorm2d) and fused and isinstance(fused[-1], nn.Conv2d):
                fused[-1] = fuse_conv_bn_eval(fused[-1].eval(), layer.eval()).train(self.training)
            else:
                fused.append(layer)
        return nn.Sequential(*fused)


@torch.no_grad()
def fuse_for_inference(model: nn.Module) -> nn.Module:
    """Fold every foldable module of ``model`` in place (``timm.utils.reparameterize_model(model, inplace=True)``),
    then store every conv weight channels_last, the layout of the activations (no weight copy per convolution).
    ``WaveFormer.fuse()`` is this; use it directly on a wrapper such as a ``features_only`` model."""
    reparameterize_model(model, inplace=True)
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            m.weight.data = torch.empty_like(m.weight, memory_format=torch.channels_last).copy_(m.weight)
    return model

