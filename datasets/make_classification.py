#!/usr/bin/env python
"""Write the built-in digit classification set in the ImageNet folder layout.

    python datasets/make_classification.py --out datasets/builtin/digits

produces ``OUT/train/<class>/*.png`` and ``OUT/val/<class>/*.png`` (classes ``0`` .. ``9``), the layout
``image_classification/main.py --data-path OUT`` reads for ImageNet-1k. Each image is one of
scikit-learn's handwritten digits, upscaled, coloured and placed at a random scale and position on a
textured background (``digit_scenes.classification_image``). Training and validation images are drawn
from disjoint handwritten samples (``digit_scenes.split_indices``), so validation accuracy measures
generalisation to unseen handwriting. Every image is a pure function of (seed, split, glyph, copy), so
the set is identical on every machine.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parents[1]))
import digit_scenes  # noqa: E402

from wavemsa.cli import check_replaceable, non_negative_int, output_dir, positive_int  # noqa: E402
from wavemsa.errors import InputError, run_main  # noqa: E402
from wavemsa.files import replace_folder, write_json  # noqa: E402

SPLIT_IDS = {"train": 0, "val": 1}


def write_split(out: Path, split: str, glyphs: np.ndarray, labels: np.ndarray, indices: np.ndarray,
                copies: int, size: int, seed: int) -> int:
    """Render ``copies`` images of each glyph in ``indices`` into ``out/split/<label>/``; return the count."""
    for c in range(digit_scenes.NUM_DIGIT_CLASSES):
        (out / split / str(c)).mkdir(parents=True, exist_ok=True)
    n = 0
    for k in indices:
        for copy in range(copies):
            rng = np.random.default_rng([seed, SPLIT_IDS[split], int(k), copy])
            img = digit_scenes.classification_image(rng, glyphs[k], size)
            Image.fromarray(img).save(out / split / str(labels[k]) / f"{split}_{k:04d}_{copy}.png")
            n += 1
    return n


def build(out: Path, size: int = 32, train_copies: int = 4, val_copies: int = 1, max_per_class: int = 0,
          seed: int = 0) -> dict:
    """Build the set under ``out`` (replacing an earlier one) and return its summary.

    The set is written to a temporary sibling folder and renamed into place at the end, so an
    interrupted build never leaves a half-written set behind. ``max_per_class`` > 0 keeps only that many
    source glyphs per class and split (small sets for tests).
    """
    if size < 32:
        raise InputError(f"--size must be >= 32 (the models need 32x32 inputs), got {size}")
    glyphs, labels = digit_scenes.load_digits()
    splits = digit_scenes.split_indices(len(labels), seed=seed)
    check_replaceable(Path(out).resolve(), "dataset.json")
    summary = {"size": size, "seed": seed, "classes": [str(c) for c in range(digit_scenes.NUM_DIGIT_CLASSES)]}
    with replace_folder(out) as tmp:
        for split, copies in (("train", train_copies), ("val", val_copies)):
            idx = splits[split]
            if max_per_class > 0:
                idx = np.concatenate([idx[labels[idx] == c][:max_per_class]
                                      for c in range(digit_scenes.NUM_DIGIT_CLASSES)])
            summary[f"num_{split}"] = write_split(tmp, split, glyphs, labels, idx, copies, size, seed)
            summary[f"{split}_glyphs"] = int(len(idx))
        write_json(tmp / "dataset.json", summary, indent=1)
    return summary


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--out", type=output_dir, default=Path("datasets/builtin/digits"), help="output folder")
    p.add_argument("--size", type=positive_int, default=32, help="image side in pixels (>= 32)")
    p.add_argument("--train-copies", type=positive_int, default=4, help="renderings per training glyph")
    p.add_argument("--val-copies", type=positive_int, default=1, help="renderings per validation glyph")
    p.add_argument("--max-per-class", type=non_negative_int, default=0, help="limit source glyphs per class (0: all)")
    p.add_argument("--seed", type=non_negative_int, default=0)
    a = p.parse_args(argv)
    s = build(a.out, a.size, a.train_copies, a.val_copies, a.max_per_class, a.seed)
    print(f"wrote {s['num_train']} train / {s['num_val']} val images of {a.size}x{a.size} to {a.out}")


if __name__ == "__main__":
    sys.exit(run_main(main, prog="make_classification.py"))
