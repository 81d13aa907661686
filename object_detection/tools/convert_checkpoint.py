"""Convert a classification checkpoint (the trainer's, EMA or not, or a bare state dict) into backbone
weights for the detectors.

    python object_detection/tools/convert_checkpoint.py SRC.pth DST.pth [--ema] [--arch s]

DST holds ``{'state_dict': {'backbone.<key>': tensor}, 'meta': {...}}`` without the classifier,
optimizer or EMA copies, checked to load strictly into ``WaveFormerBackbone(arch)``. Use it as
``model.backbone.init_cfg=dict(type='Pretrained', checkpoint=DST)`` or as a detector's ``load_from``.
The arch is found from the tensor shapes when ``--arch`` is not given. Written atomically.
"""
from __future__ import annotations

import argparse
import os
import sys

import torch

from wavemsa.backbone import WaveFormerBackbone
from wavemsa.waveformer import ARCH_SETTINGS


def build_backbone(src: str, use_ema: bool = False, arch: str | None = None) -> tuple[str, WaveFormerBackbone]:
    """The backbone of ``arch`` (or of the first arch that fits) with the weights of ``src`` loaded."""
    errors = []
    for name in [arch] if arch else list(ARCH_SETTINGS):
        backbone = WaveFormerBackbone(arch=name, init_cfg=dict(type="Pretrained", checkpoint=src, use_ema=use_ema))
        try:
            backbone.init_weights()
            return name, backbone
        except ValueError as err:
            if arch or "does not fit" not in str(err):
                raise
            errors.append(f"  {name}: {err}")
    raise ValueError(f"{src}: fits no WaveFormer arch ({', '.join(ARCH_SETTINGS)}):\n" + "\n".join(errors))


def convert(src: str, dst: str, use_ema: bool = False, arch: str | None = None) -> str:
    """Write the detector-ready backbone weights of ``src`` to ``dst``; return the arch."""
    name, backbone = build_backbone(src, use_ema, arch)
    state = {f"backbone.{k}": v.detach().clone() for k, v in backbone.state_dict().items()}
    meta = {"source": os.path.abspath(src), "arch": name, "use_ema": use_ema}
    os.makedirs(os.path.dirname(os.path.abspath(dst)), exist_ok=True)
    tmp = f"{dst}.tmp"
    torch.save({"state_dict": state, "meta": meta}, tmp)
    os.replace(tmp, dst)
    return name


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("src", help="classification checkpoint")
    p.add_argument("dst", help="output file")
    p.add_argument("--ema", action="store_true", help="take the EMA weights ('model_ema') of the checkpoint")
    p.add_argument("--arch", choices=sorted(ARCH_SETTINGS), help="backbone arch (default: found from shapes)")
    a = p.parse_args(argv)
    try:
        arch = convert(a.src, a.dst, a.ema, a.arch)
    except (FileNotFoundError, KeyError, ValueError) as err:
        sys.exit(f"convert_checkpoint: {err}")
    print(f"{a.dst}: WaveFormer-{arch.upper()} backbone weights from {a.src}{' (EMA)' if a.ema else ''}")


if __name__ == "__main__":
    main()
