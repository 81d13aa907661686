"""Scene composition shared by the built-in datasets (classification, COCO-format, ADE20K-format).

The glyphs are scikit-learn's handwritten digits (1,797 8x8 images shipped inside the package), so
the data can be built on any machine with no download. Glyphs are upscaled, coloured and placed on
procedurally textured backgrounds; scenes with several digits carry an exact instance mask per digit.

Source glyphs are split once (``split_indices``) so that training and validation images never share
a handwritten sample.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

NUM_DIGIT_CLASSES = 10


def load_digits() -> tuple[np.ndarray, np.ndarray]:
    """Return (glyphs, labels): glyphs float32 (N, 8, 8) in [0, 1], labels int64 (N,)."""
    from sklearn.datasets import load_digits as _load

    d = _load()
    return (d.images / 16.0).astype(np.float32), d.target.astype(np.int64)


def split_indices(n: int, val_fraction: float = 0.25, seed: int = 0) -> dict[str, np.ndarray]:
    """Deterministic disjoint split of the source glyphs into 'train' and 'val'."""
    perm = np.random.default_rng(seed).permutation(n)
    n_val = int(round(n * val_fraction))
    return {"train": np.sort(perm[n_val:]), "val": np.sort(perm[:n_val])}


def glyph_alpha(glyph: np.ndarray, height: int, width: int) -> np.ndarray:
    """Upscale an 8x8 glyph to (height, width) with bicubic interpolation; float32 alpha in [0, 1]."""
    img = Image.fromarray((glyph * 255).astype(np.uint8), mode="L")
    img = img.resize((width, height), Image.BICUBIC)
    return np.clip(np.asarray(img, dtype=np.float32) / 255.0, 0.0, 1.0)


def background(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """A textured background (H, W, 3) float32 in [0, 1]: colour gradient, soft blobs and noise."""
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    c0, c1 = rng.uniform(0.0, 1.0, 3), rng.uniform(0.0, 1.0, 3)
    angle = rng.uniform(0, 2 * np.pi)
    t = (np.cos(angle) * xx / max(width, 1) + np.sin(angle) * yy / max(height, 1))
    t = (t - t.min()) / max(float(np.ptp(t)), 1e-6)
    img = c0[None, None] * (1 - t[..., None]) + c1[None, None] * t[..., None]
    for _ in range(int(rng.integers(2, 6))):
        cy, cx = rng.uniform(0, height), rng.uniform(0, width)
        r = rng.uniform(0.1, 0.4) * max(height, width)
        blob = np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * r * r))
        img += (rng.uniform(-0.35, 0.35, 3)[None, None] * blob[..., None])
    img += rng.normal(0.0, rng.uniform(0.01, 0.06), img.shape)
    return np.clip(img, 0.0, 1.0).astype(np.float32)


LUMA = np.array([0.299, 0.587, 0.114], np.float32)


def _contrasting_colour(rng: np.random.Generator, under: np.ndarray) -> np.ndarray:
    """A random colour whose luminance differs from that of the region it is painted on by at least 0.4
    (a dark digit on a light region or a light one on a dark region), so the shape is visible in grey too."""
    under_luma = float(under.reshape(-1, 3).mean(0) @ LUMA)
    dark = under_luma > 0.5
    for _ in range(50):
        col = rng.uniform(0, 1, 3).astype(np.float32)
        luma = float(col @ LUMA)
        if (under_luma - luma if dark else luma - under_luma) >= 0.4:
            return col
    return np.full(3, 0.0 if dark else 1.0, np.float32)


@dataclass
class Instance:
    """One digit placed in a scene: its class, its visible pixel mask (H, W) and xywh box."""

    label: int
    mask: np.ndarray
    bbox: tuple[float, float, float, float]


def paste(rng: np.random.Generator, canvas: np.ndarray, glyph: np.ndarray, top: int, left: int,
          size: int) -> np.ndarray:
    """Paint a coloured glyph of side ``size`` at (top, left) into ``canvas`` in place; return its
    full-canvas alpha (H, W)."""
    h, w = canvas.shape[:2]
    alpha = glyph_alpha(glyph, size, size)
    full = np.zeros((h, w), np.float32)
    full[top:top + size, left:left + size] = alpha[: h - top, : w - left]
    region = canvas[top:top + size, left:left + size]
    col = _contrasting_colour(rng, region)
    canvas[:] = canvas * (1 - full[..., None]) + col[None, None] * full[..., None]
    return full


def classification_image(rng: np.random.Generator, glyph: np.ndarray, size: int) -> np.ndarray:
    """One digit, randomly scaled (60-90% of the side) and placed, on a textured background.
    Returns uint8 (size, size, 3)."""
    canvas = background(rng, size, size)
    side = int(rng.integers(int(0.6 * size), int(0.9 * size) + 1))
    top, left = (int(rng.integers(0, size - side + 1)) for _ in range(2))
    paste(rng, canvas, glyph, top, left, side)
    return (canvas * 255).round().astype(np.uint8)


def scene(rng: np.random.Generator, glyphs: np.ndarray, labels: np.ndarray, height: int, width: int,
          max_objects: int, min_side: int = 24, max_side: int = 72,
          mask_threshold: float = 0.5) -> tuple[np.ndarray, list[Instance]]:
    """A scene of 0..max_objects digits of varied sizes on a textured background.

    Digits are placed with little overlap; a later digit occludes an earlier one and masks are the
    visible pixels only. Instances whose visible mask is empty are dropped. Returns the uint8 image
    (H, W, 3) and the instances.
    """
    canvas = background(rng, height, width)
    n = int(rng.integers(0, max_objects + 1))
    taken = np.zeros((height, width), bool)
    placed: list[tuple[int, np.ndarray]] = []
    for _ in range(n):
        side = int(rng.integers(min_side, min(max_side, height, width) + 1))
        for _try in range(10):
            top, left = int(rng.integers(0, height - side + 1)), int(rng.integers(0, width - side + 1))
            if taken[top:top + side, left:left + side].mean() < 0.15:
                break
        taken[top:top + side, left:left + side] = True
        k = int(rng.integers(0, len(glyphs)))
        alpha = paste(rng, canvas, glyphs[k], top, left, side)
        mask = alpha > mask_threshold
        placed = [(lab, m & ~mask) for lab, m in placed]
        placed.append((int(labels[k]), mask))
    instances = []
    for lab, m in placed:
        if m.sum() < 4:
            continue
        ys, xs = np.nonzero(m)
        x0, y0 = float(xs.min()), float(ys.min())
        instances.append(Instance(lab, m, (x0, y0, float(xs.max()) + 1 - x0, float(ys.max()) + 1 - y0)))
    return (canvas * 255).round().astype(np.uint8), instances
