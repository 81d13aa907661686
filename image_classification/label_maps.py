"""Dense label maps of token labelling in the published TokenLabeling / LV-ViT format, and the targets
the trainer makes from them.

Format (what ``generate_label.py`` of zihangJiang/TokenLabeling wrote for the NFNet-F6 maps, and what
``make_token_labels.py`` writes): one file per training image, at the image's path relative to the split
folder with the name cut at its first dot and ``.pt`` appended (``LABELS/n01440764/n01440764_10026.pt``
for ``train/n01440764/n01440764_10026.JPEG``). Each file is ``torch.save`` of one float16 tensor of shape
(2, k, H, W): ``[0]`` the teacher's k largest class scores (logits) at every cell of an H x W grid, in
decreasing order, ``[1]`` their class indices (float16 holds integers exactly up to 2048). The grid covers
the centre square of the image of side ``crop_pct`` x min(width, height), what a timm evaluation transform
showed the teacher (``crop_pct`` 1.0 for the NFNet-F6 maps, made with ``--img-size 576 --crop-pct 1.0``).
A ``meta.json`` next to the class folders (written by ``make_token_labels.py``, absent from the published
maps) records the teacher, the classes and ``crop_pct``.

Targets: the teacher's scores are placed in a (K, H, W) map (0 outside the top k, as the originals); the
training sample's geometry (:class:`Crop`: flip, RandAugment's spatial ops, crop box) maps the centres of
n x n sub-cells of every target cell back to the image, and from there into the grid; the map is sampled
there (bilinear; positions outside the grid take its border value, positions an op filled take 0 scores, as
the originals' constant fill) and averaged over each cell (like ``roi_align``), at 1 x 1 (the class target)
and S x S (the token targets); a softmax over the classes gives the target distributions, label-smoothed:
``(1 - s) * p + s / K``.
"""
from __future__ import annotations

import json
import math
import pickle
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from wavemsa.errors import InputError
from wavemsa.files import atomic_write

MAX_CLASSES = 2048  # float16 stores the class indices exactly up to here
META_FILE = "meta.json"


def label_path(label_root: str | Path, image_path: str | Path, split_root: str | Path) -> Path:
    """The label file of ``image_path`` (an image under ``split_root``) inside ``label_root``."""
    rel = Path(image_path).relative_to(split_root)
    return Path(label_root) / rel.parent / (rel.name.split(".")[0] + ".pt")


def write_label_map(path: str | Path, scores: torch.Tensor, indices: torch.Tensor) -> None:
    """Save top-k ``scores`` and class ``indices`` (each (k, H, W)) as one (2, k, H, W) float16 tensor,
    atomically (a temporary file renamed over ``path``; a full disk is an ``InputError`` naming it)."""
    if indices.numel() and int(indices.max()) >= MAX_CLASSES:
        raise InputError(f"label map '{path}': class index {int(indices.max())} does not fit the float16 "
                         f"format (at most {MAX_CLASSES} classes)")
    data = torch.stack([scores.detach().cpu().half(), indices.detach().cpu().half()])
    atomic_write(path, lambda tmp: torch.save(data, tmp), sync=False)  # one of many; a re-run rebuilds it


def read_label_map(path: str | Path, num_classes: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Top-k scores (k, H, W) float32 and class indices (k, H, W) int64 of one label file; a missing,
    unreadable or malformed file (wrong shape, indices outside ``num_classes``) is an ``InputError``
    naming it."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"label map '{path}' does not exist (one file per training image is needed; see "
                         "datasets/README.md)")
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except (RuntimeError, pickle.UnpicklingError, EOFError, ValueError, OSError) as err:
        raise InputError(f"label map '{path}' is not a readable torch file ({type(err).__name__})") from None
    if not isinstance(data, torch.Tensor) or data.dim() != 4 or data.shape[0] != 2 or 0 in data.shape:
        shape = tuple(data.shape) if isinstance(data, torch.Tensor) else type(data).__name__
        raise InputError(f"label map '{path}' holds {shape}; expected a (2, k, H, W) tensor of top-k scores "
                         "and class indices")
    scores, idx = data[0].float(), data[1].float()
    if not torch.isfinite(scores).all():
        raise InputError(f"label map '{path}' holds non-finite scores")
    if not torch.equal(idx, idx.round()) or int(idx.min()) < 0 or int(idx.max()) >= num_classes:
        raise InputError(f"label map '{path}' holds class indices in [{int(idx.min())}, {int(idx.max())}], "
                         f"not integers below the dataset's {num_classes} classes")
    return scores, idx.long()


def read_meta(label_root: str | Path) -> dict | None:
    """``meta.json`` of a label folder, or None (the published maps have none)."""
    path = Path(label_root) / META_FILE
    if not path.is_file():
        return None
    try:
        meta = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise InputError(f"'{path}' is not readable JSON ({err})") from None
    if not isinstance(meta, dict):
        raise InputError(f"'{path}' holds {type(meta).__name__}, not a JSON object")
    return meta


Affine = tuple[float, float, float, float, float, float]
MIN_WARPED_SAMPLES = 4  # sub-cells per side of a warped crop's target cells, so that an op's fill counts by area


@dataclass(frozen=True)
class Crop:
    """How a training crop was made from an image of ``image_size`` (width, height), in the order of the
    token-labelling recipe: the image mirrored horizontally when ``flipped``, then warped by each of ``warps``
    in turn (RandAugment's spatial ops), then cut to the box (top, left, height, width) in pixels of the result.

    A warp is PIL's ``Image.transform(AFFINE)`` matrix (a, b, c, d, e, f): the output position (x, y) shows
    the input at (a x + b y + c, d x + e y + f), positions in pixels (pixel (i, j) spans [j, j + 1) x
    [i, i + 1)); where that falls outside the image the output is the op's fill.
    """

    top: float
    left: float
    height: float
    width: float
    image_size: tuple[int, int]
    flipped: bool = False
    warps: tuple[Affine, ...] = ()


def source_positions(crop: Crop, size: tuple[int, int], n: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """For an h x w grid of cells over the crop (``size`` = (h, w)), the centres of the n x n sub-cells of
    every cell traced back through the crop, the warps and the flip to the original image: x and y in its
    pixels, (h * n, w * n) float64 each, and whether the augmented image shows the image there (False
    where an op filled it)."""
    h, w = size
    W, H = crop.image_size
    xs = crop.left + (torch.arange(w * n, dtype=torch.float64) + 0.5) * (crop.width / (w * n))
    ys = crop.top + (torch.arange(h * n, dtype=torch.float64) + 0.5) * (crop.height / (h * n))
    y, x = torch.meshgrid(ys, xs, indexing="ij")
    shown = torch.ones_like(x, dtype=torch.bool)
    for a, b, c, d, e, f in reversed(crop.warps):
        x, y = a * x + b * y + c, d * x + e * y + f
        shown &= (x >= 0) & (x < W) & (y >= 0) & (y < H)
    if crop.flipped:
        x = W - x
    return x, y, shown


def resample(maps: torch.Tensor, crop: Crop, size: tuple[int, int], crop_pct: float = 1.0) -> torch.Tensor:
    """``maps`` (C, H, W), a grid laid over the centre square of side ``crop_pct`` x min(width, height) of the
    crop's image, resampled to ``size`` = (h, w) cells over the crop: each output cell averages n x n
    bilinear samples at its sub-cell centres (n = the cell's extent in grid cells, rounded up, at most 16;
    at least ``MIN_WARPED_SAMPLES`` when the crop is warped); samples outside the grid take its border value,
    samples where an op filled the image take 0."""
    C, H, W = maps.shape
    h, w = size
    img_w, img_h = crop.image_size
    side = crop_pct * min(img_w, img_h)
    n = min(16, max(1, math.ceil(max(crop.width * W / (side * w), crop.height * H / (side * h)))))
    if crop.warps:
        n = max(n, MIN_WARPED_SAMPLES)
    x, y, shown = source_positions(crop, size, n)
    gx = (x - (img_w - side) / 2) / side * 2 - 1  # grid_sample's align_corners=False coordinates
    gy = (y - (img_h - side) / 2) / side * 2 - 1
    grid = torch.stack([gx, gy], dim=-1)[None].float()
    samples = F.grid_sample(maps[None].float(), grid, mode="bilinear", padding_mode="border", align_corners=False)[0]
    samples = samples * shown
    return F.avg_pool2d(samples, n) if n > 1 else samples


def token_targets(scores: torch.Tensor, indices: torch.Tensor, num_classes: int, crop: Crop, size: int,
                  smoothing: float = 0.1, crop_pct: float = 1.0) -> torch.Tensor:
    """The token-labelling target of one training crop: (K, 1 + size * size), column 0 the class target
    (the whole crop), then the size x size token targets in row-major order (as the model's tokens), each a
    label-smoothed distribution over the K classes. ``scores`` / ``indices``: (k, H, W) from a label file."""
    H, W = scores.shape[-2:]
    dense = torch.zeros(num_classes, H, W).scatter_(0, indices, scores)
    whole = resample(dense, crop, (1, 1), crop_pct).reshape(num_classes, 1)
    tokens = resample(dense, crop, (size, size), crop_pct).reshape(num_classes, -1)
    logits = torch.cat([whole, tokens], dim=1)
    return logits.softmax(dim=0) * (1.0 - smoothing) + smoothing / num_classes
