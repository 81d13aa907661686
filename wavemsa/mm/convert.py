"""Convert a classification checkpoint into the backbone weights the detection / segmentation configs load.

    python object_detection/tools/convert_checkpoint.py SRC.pth [DST.pth] [--ema] [--arch s]

SRC is a checkpoint of ``image_classification/main.py`` (``model`` and, with EMA, ``model_ema``), a timm
checkpoint or a bare state dict. DST (default ``pretrained/wavemsa_<arch>_in1k.pth``, the name every config
uses) holds ``{'state_dict': {'backbone.<key>': tensor}, 'meta': {...}}`` without the classifier, optimizer or
the other weight set, checked to load strictly into ``WaveFormerBackbone(arch)``; with ``--ema`` the EMA
weights, also stored as ``model_ema`` so that configs with ``init_cfg=dict(..., use_ema=True)`` read the
file as they read the trainer's (the same tensors, saved once). The arch is found from the tensor shapes
when ``--arch`` is not given. Written atomically.
"""
from __future__ import annotations

import argparse
import os
import sys

import torch

from ..backbone import WaveFormerBackbone
from ..checkpoint import load_state_dict
from ..cli import existing_file, output_file
from ..errors import InputError, run_main
from ..files import atomic_write
from ..waveformer import ARCH_SETTINGS

__all__ = ["build_backbone", "convert", "default_destination", "main"]


def default_destination(arch: str) -> str:
    """The agreed name of an arch's ImageNet-1k backbone weights, relative to the repository root."""
    return os.path.join("pretrained", f"wavemsa_{arch}_in1k.pth")


def build_backbone(src: str, use_ema: bool = False, arch: str | None = None) -> tuple[str, WaveFormerBackbone]:
    """The backbone of ``arch`` (or of the first arch that fits) with the weights of ``src`` loaded (the file
    is read once)."""
    try:
        state = load_state_dict(src, use_ema=use_ema)
    except (OSError, KeyError, ValueError) as err:
        raise InputError(str(err.args[0] if err.args else err)) from err
    errors = []
    for name in [arch] if arch else list(ARCH_SETTINGS):
        backbone = WaveFormerBackbone(arch=name)
        try:
            backbone.load_pretrained(state, source=f"checkpoint {src}")
            return name, backbone
        except ValueError as err:
            if arch:
                raise InputError(str(err)) from err
            errors.append(f"{name}: {err}")
    raise InputError(f"{src}: fits no WaveFormer arch ({', '.join(ARCH_SETTINGS)}); " + "; ".join(errors))


def convert(src: str, dst: str | None = None, use_ema: bool = False, arch: str | None = None) -> tuple[str, str]:
    """Write the backbone weights of ``src`` to ``dst`` (default :func:`default_destination`); return
    (arch, dst)."""
    name, backbone = build_backbone(src, use_ema, arch)
    dst = dst or default_destination(name)
    state = {f"backbone.{k}": v.detach().clone() for k, v in backbone.state_dict().items()}
    out = {"state_dict": state, "meta": {"source": os.path.abspath(src), "arch": name, "use_ema": use_ema}}
    if use_ema:
        out["model_ema"] = state
    atomic_write(dst, lambda tmp: torch.save(out, tmp))
    return name, dst


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("src", type=existing_file, help="classification checkpoint")
    p.add_argument("dst", nargs="?", type=output_file, help="output file (default: pretrained/wavemsa_<arch>_in1k.pth)")
    p.add_argument("--ema", action="store_true", help="take the EMA weights ('model_ema') of the checkpoint")
    p.add_argument("--arch", choices=sorted(ARCH_SETTINGS), help="backbone arch (default: found from shapes)")
    a = p.parse_args(argv)
    arch, dst = convert(a.src, a.dst, a.ema, a.arch)
    print(f"{dst}: WaveFormer-{arch.upper()} backbone weights from {a.src}{' (EMA)' if a.ema else ''}")


def run() -> int:
    """``sys.exit(run())`` for the task folders' ``tools/convert_checkpoint.py``."""
    return run_main(main)


if __name__ == "__main__":
    sys.exit(run())
