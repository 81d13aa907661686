"""Inference-time folding: channel-wavelet convs into dense 1x1 convs, BatchNorm into the conv before it."""
from __future__ import annotations

from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

from .wave_conv import WaveConv1x1


def fuse_conv_bn(model: nn.Module) -> nn.Module:
    """In every ``nn.Sequential`` of ``model`` (in eval mode), replace ``WaveConv1x1`` by its dense
    ``nn.Conv2d`` and merge each ``Conv2d -> BatchNorm2d`` pair into one conv. Returns ``model``."""
    for seq in [m for m in model.modules() if isinstance(m, nn.Sequential)]:
        layers = [m.fold() if isinstance(m, WaveConv1x1) else m for m in seq]
        fused: list[nn.Module] = []
        for layer in layers:
            if isinstance(layer, nn.BatchNorm2d) and fused and isinstance(fused[-1], nn.Conv2d):
                fused[-1] = fuse_conv_bn_eval(fused[-1], layer)
            else:
                fused.append(layer)
        for name in list(seq._modules):
            del seq._modules[name]
        for i, layer in enumerate(fused):
            seq.add_module(str(i), layer)
    return model
