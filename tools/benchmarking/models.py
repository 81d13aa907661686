"""What the benchmark measures: model specs, built with shared weights, prepared for a mode.

Model specs:

* any timm model name (``pvt_v2_b2``, ``swin_tiny_patch4_window7_224``, ``wavemsa_s`` ...);
* ``NAME:reference``: the published formulation (``reference_wavemsa``) loaded with the weights of the library
  model ``NAME`` built in the same run, so their outputs can be compared;
* ``NAME:nofuse``: a WaveFormer measured at inference *without* ``model.fuse()`` (inference only: its training
  step is NAME's). Plain WaveFormer specs are fused for inference (BatchNorm and the channel-wavelet convs folded
  into dense convs; the same function) and trained unfused.
"""
from __future__ import annotations

import argparse
import copy
from collections.abc import Sequence
from dataclasses import dataclass

import timm
from reference import reference_wavemsa  # tools/reference.py (tools/ is on sys.path): the published formulation
from torch import nn

import wavemsa  # noqa: F401  (registers the wavemsa_* timm models)
from wavemsa.fuse import fuse_for_inference

__all__ = ["Spec", "FeatureMaps", "build_models", "prepare", "model_spec", "parse_size"]

KINDS = ("", "reference", "nofuse")


@dataclass(frozen=True)
class Spec:
    """A model to measure: ``name`` (timm), ``kind`` ('' | 'reference' | 'nofuse') and the label shown."""

    name: str
    kind: str = ""

    @classmethod
    def parse(cls, text: str) -> Spec:
        name, _, kind = text.partition(":")
        if kind not in KINDS:
            raise ValueError(f"unknown model spec suffix in {text!r}: use NAME, NAME:reference or NAME:nofuse")
        if kind and not name.startswith("wavemsa_"):
            raise ValueError(f"{text!r}: ':{kind}' applies to wavemsa_* models only")
        return cls(name, kind)

    @property
    def label(self) -> str:
        return f"{self.name}:{self.kind}" if self.kind else self.name

    @property
    def fused(self) -> bool:
        """Measured with ``model.fuse()`` at inference."""
        return self.name.startswith("wavemsa_") and not self.kind

    def trains(self) -> bool:
        """Has a training step of its own (``:nofuse`` differs from NAME at inference only)."""
        return self.kind != "nofuse"


def model_spec(text: str) -> str:
    """argparse type of ``--models``: a valid spec (kept as text)."""
    try:
        Spec.parse(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None
    if not timm.is_model(text.partition(":")[0]):
        raise argparse.ArgumentTypeError(f"{text!r}: no timm model of that name")
    return text


def parse_size(text: str | int) -> tuple[int, int]:
    """'224' -> (224, 224); '800x1333' -> (800, 1333)."""
    parts = str(text).lower().split("x")
    if len(parts) not in (1, 2) or not all(p.isdigit() and int(p) > 0 for p in parts):
        raise argparse.ArgumentTypeError(f"image size must be N or HxW, got {text!r}")
    return int(parts[0]), int(parts[-1])


def _img_size_kwargs(name: str, size: tuple[int, int]) -> dict:
    """Extra timm kwargs so a model accepts ``size`` (Swin: non-strict size, masks built per input)."""
    if name.startswith("swin"):
        return dict(img_size=size, strict_img_size=False)
    return {}


class FeatureMaps(nn.Module):
    """Wraps a ``features_only`` backbone so forward returns its list of maps."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x):
        return list(self.model(x))


def create(name: str, size: tuple[int, int], backbone_only: bool = False, num_classes: int = 1000,
           seed: int = 0) -> nn.Module:
    """A timm model (train mode) seeded with ``seed``; ``FeatureMaps`` of it with ``backbone_only``."""
    import torch

    torch.manual_seed(seed)
    kwargs = dict(num_classes=num_classes, **_img_size_kwargs(name, size))
    if backbone_only:
        return FeatureMaps(timm.create_model(name, features_only=True, **kwargs))
    return timm.create_model(name, **kwargs)


def build_models(specs: Sequence[Spec], size: tuple[int, int], backbone_only: bool = False,
                 num_classes: int = 1000, seed: int = 0) -> dict[str, nn.Module]:
    """Build every spec (train mode). ``NAME:reference`` copies the weights of a library ``NAME`` model, which
    ``NAME`` and ``NAME:nofuse`` share."""
    built: dict[str, nn.Module] = {}
    library: dict[str, nn.Module] = {}
    for spec in specs:
        if spec.name not in library:
            library[spec.name] = create(spec.name, size, backbone_only, num_classes, seed)
        if spec.kind == "reference":
            if backbone_only:
                raise ValueError("the reference implementation is a classifier: drop --backbone-only or the spec")
            ref = reference_wavemsa(spec.name.removeprefix("wavemsa_"), num_classes=num_classes)
            ref.load_state_dict(library[spec.name].state_dict())
            built[spec.label] = ref
        else:
            built[spec.label] = library[spec.name]
    return built


def prepare(spec: Spec, model: nn.Module, mode: str) -> nn.Module:
    """A copy of ``model`` to run in ``mode``: for inference an eval copy, fused for plain WaveFormer specs;
    for training a train-mode copy (each training runner steps its own weights)."""
    model = copy.deepcopy(model)
    if mode == "train":
        return model.train()
    model.eval()
    if spec.fused:
        target = model.model if isinstance(model, FeatureMaps) else model
        fuse_for_inference(target)  # WaveFormer.fuse(), and the same on a features_only wrapper
    return model
