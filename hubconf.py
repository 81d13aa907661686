"""torch.hub entry points for the WaveFormer models.

    model = torch.hub.load("path/to/this/repo", "wavemsa_s", source="local")       # a local clone
    model = torch.hub.load("OWNER/WaveMSA", "wavemsa_s")                            # once published on GitHub
    model = torch.hub.load(REPO, "wavemsa_s", source="local", num_classes=10, drop_path_rate=0.1)

Keyword arguments go to ``timm.create_model``. No weights are published: ``pretrained=True`` needs weights of your
own, e.g. ``pretrained_cfg_overlay=dict(file="output/export/wavemsa_s/model.safetensors")`` (a timm model
folder's weights, ``tools/export.py``) or ``checkpoint_path="best.pth"``.
"""
dependencies = ["torch", "timm", "pywt"]

import timm  # noqa: E402

import wavemsa  # noqa: E402,F401  (registers the wavemsa_* models with timm)


def _create(name: str, pretrained: bool, kwargs: dict):
    return timm.create_model(name, pretrained=pretrained, **kwargs)


def wavemsa_t(pretrained: bool = False, **kwargs):
    """WaveFormer-T: a small variant for demos and tests (not in the paper)."""
    return _create("wavemsa_t", pretrained, kwargs)


def wavemsa_s(pretrained: bool = False, **kwargs):
    """WaveFormer-S (21.8 M parameters, 4.5 GFLOPs at 224x224)."""
    return _create("wavemsa_s", pretrained, kwargs)


def wavemsa_b(pretrained: bool = False, **kwargs):
    """WaveFormer-B (32.5 M parameters, 7.1 GFLOPs at 224x224)."""
    return _create("wavemsa_b", pretrained, kwargs)


def wavemsa_l(pretrained: bool = False, **kwargs):
    """WaveFormer-L (55.5 M parameters, 14.5 GFLOPs at 224x224)."""
    return _create("wavemsa_l", pretrained, kwargs)
