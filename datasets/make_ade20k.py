"""Build the built-in semantic-segmentation set in the ADEChallengeData2016 layout.

Scenes of handwritten digits (``digit_scenes.scene``) on textured backgrounds; each scene's per-digit
masks give an 8-bit PNG label map: 1 = background, 2..11 = digits 0..9, and 0 = other, kept unused
(ADE20K's 'other', ignored through ``reduce_zero_label``). The background is a class of its own, as
ADE20K's scenery is (wall, floor, sky, ...): the model learns it, the metrics count it and painted
predictions show it as one colour. Training and validation scenes use disjoint handwritten glyphs.

Layout written under ``--out`` (default ``datasets/builtin/ADEChallengeData2016``)::

    images/training/ADE_train_00000001.jpg     annotations/training/ADE_train_00000001.png
    images/validation/ADE_val_00000001.jpg     annotations/validation/ADE_val_00000001.png
    objectInfo11.txt                           build.json   (the arguments used and the class names)

The folder is built in a temporary sibling and moved into place at the end, so an interrupted run never
leaves a half-written dataset behind.

    python datasets/make_ade20k.py                      # 1000 train / 200 val scenes of 128x128
    python datasets/make_ade20k.py --num-train 50 --num-val 10 --out /tmp/ade_small
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parent))
import digit_scenes  # noqa: E402

from wavemsa.cli import check_replaceable, non_negative_int, output_dir, positive_int  # noqa: E402
from wavemsa.errors import InputError, run_main  # noqa: E402
from wavemsa.files import replace_folder, write_json, write_text  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
DEFAULT_OUT = REPO / "datasets" / "builtin" / "ADEChallengeData2016"
SPLITS = {"training": ("train", "ADE_train"), "validation": ("val", "ADE_val")}
BACKGROUND = 1  # raw label of the background; digit d is d + 2
CLASSES = ("background", *(f"digit {d}" for d in range(digit_scenes.NUM_DIGIT_CLASSES)))  # raw 1, 2, ...


def label_map(instances: list[digit_scenes.Instance], height: int, width: int) -> np.ndarray:
    """ADE20K-style label map (H, W) uint8: ``BACKGROUND`` (1) everywhere, ``digit + 2`` on each digit's
    visible pixels."""
    seg = np.full((height, width), BACKGROUND, np.uint8)
    for inst in instances:
        seg[inst.mask] = inst.label + BACKGROUND + 1
    return seg


def make_split(out: Path, split: str, num: int, size: int, max_objects: int, seed: int,
               glyphs: np.ndarray, labels: np.ndarray) -> None:
    """Write ``num`` scenes of one split (``training`` or ``validation``) under ``out``."""
    glyph_split, prefix = SPLITS[split]
    idx = digit_scenes.split_indices(len(glyphs))[glyph_split]
    g, lab = glyphs[idx], labels[idx]
    img_dir, ann_dir = out / "images" / split, out / "annotations" / split
    img_dir.mkdir(parents=True)
    ann_dir.mkdir(parents=True)
    rng = np.random.default_rng([seed, 0 if split == "training" else 1])
    for i in tqdm(range(num), desc=f"ADE20K-format {split}", unit="img"):
        while True:  # every scene holds at least one digit, so no label map is background only
            img, instances = digit_scenes.scene(rng, g, lab, size, size, max_objects=max_objects,
                                                min_side=max(16, size // 5), max_side=size // 2)
            if instances:
                break
        name = f"{prefix}_{i + 1:08d}"
        Image.fromarray(img).save(img_dir / f"{name}.jpg", quality=95)
        Image.fromarray(label_map(instances, size, size), mode="L").save(ann_dir / f"{name}.png")


def build(out: Path, num_train: int, num_val: int, size: int, max_objects: int, seed: int) -> Path:
    """Build the whole set atomically at ``out`` (replacing any previous one); return ``out``."""
    if size < 32:
        raise InputError(f"--size must be >= 32 (the backbone's smallest input), got {size}")
    out = Path(out).resolve()
    check_replaceable(out, "build.json")
    glyphs, labels = digit_scenes.load_digits()
    with replace_folder(out) as tmp:
        make_split(tmp, "training", num_train, size, max_objects, seed, glyphs, labels)
        make_split(tmp, "validation", num_val, size, max_objects, seed, glyphs, labels)
        write_text(tmp / f"objectInfo{len(CLASSES)}.txt",
                   "Idx\tName\n" + "".join(f"{i + BACKGROUND}\t{name}\n" for i, name in enumerate(CLASSES)))
        write_json(tmp / "build.json", dict(num_train=num_train, num_val=num_val, size=size,
                                             max_objects=max_objects, seed=seed, classes=list(CLASSES)))
    return out


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=output_dir, default=DEFAULT_OUT, help="dataset root (default: %(default)s)")
    p.add_argument("--num-train", type=positive_int, default=1000, help="training scenes (default: %(default)s)")
    p.add_argument("--num-val", type=positive_int, default=200, help="validation scenes (default: %(default)s)")
    p.add_argument("--size", type=positive_int, default=128,
                   help="scene side in pixels, >= 32 (default: %(default)s)")
    p.add_argument("--max-objects", type=positive_int, default=4,
                   help="digits per scene, at most (default: %(default)s)")
    p.add_argument("--seed", type=non_negative_int, default=0)
    a = p.parse_args(argv)
    out = build(a.out, a.num_train, a.num_val, a.size, a.max_objects, a.seed)
    print(f"wrote {a.num_train} training and {a.num_val} validation scenes to {out}")


if __name__ == "__main__":
    sys.exit(run_main(main))
