"""Build the built-in COCO-format instance set (detection + instance segmentation) from digit scenes.

Layout (the standard COCO one, so mmdet's ``CocoDataset`` reads it unchanged)::

    OUT/annotations/instances_train.json   OUT/annotations/instances_val.json
    OUT/train/000000.jpg ...                OUT/val/000000.jpg ...

Scenes come from ``digit_scenes.scene``: 0..max_objects handwritten digits (10 categories, ids 1..10,
names '0'..'9') of varied sizes on textured backgrounds, images of varied sizes, some with no object.
Each instance has its xywh box and its visible mask as COCO polygons. Train and val scenes use
disjoint handwritten glyphs. The annotation files are written last and atomically: when
``instances_val.json`` exists the set is complete.

    python datasets/make_coco.py [--out datasets/builtin/coco_digits] [--train 800] [--val 200]
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np
from PIL import Image
from pycocotools import mask as mask_utils
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parent))
from digit_scenes import NUM_DIGIT_CLASSES, load_digits, scene, split_indices  # noqa: E402

from wavemsa.cli import non_negative_int, output_dir, positive_int  # noqa: E402
from wavemsa.errors import run_main  # noqa: E402
from wavemsa.files import write_json  # noqa: E402

DEFAULT_OUT = Path(__file__).resolve().parent / "builtin" / "coco_digits"
CATEGORIES = [{"id": k + 1, "name": str(k), "supercategory": "digit"} for k in range(NUM_DIGIT_CLASSES)]


def mask_to_polygons(mask: np.ndarray, min_points: int = 3) -> list[list[float]]:
    """Outer contours of a binary mask (H, W) as COCO polygons [[x0, y0, x1, y1, ...], ...].

    Coordinates are pixel centres (x + 0.5, y + 0.5); holes are filled, as in COCO polygons.
    """
    contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    polygons = []
    for c in contours:
        if len(c) < min_points:
            continue
        polygons.append([round(float(v) + 0.5, 2) for v in c.reshape(-1)])
    return polygons


def polygons_to_box_area(polygons: list[list[float]], height: int, width: int) -> tuple[list[float], float]:
    """The xywh box and pixel area of the mask that the polygons rasterize to."""
    rle = mask_utils.merge(mask_utils.frPyObjects(polygons, height, width))
    return [round(float(v), 2) for v in mask_utils.toBbox(rle)], float(mask_utils.area(rle))


def build_split(out: Path, split: str, num_images: int, seed: int, min_size: int, max_size: int,
                max_objects: int) -> dict:
    """Write ``num_images`` scene JPEGs under ``out/split`` and return the COCO annotation dict."""
    glyphs, labels = load_digits()
    idx = split_indices(len(glyphs))[split]
    rng = np.random.default_rng(seed)
    (out / split).mkdir(parents=True, exist_ok=True)
    images, annotations = [], []
    for image_id in tqdm(range(1, num_images + 1), desc=f"coco_digits/{split}", unit="img"):
        h, w = (int(v) for v in rng.integers(min_size, max_size + 1, size=2))
        img, instances = scene(rng, glyphs[idx], labels[idx], h, w, max_objects=max_objects)
        file_name = f"{image_id:06d}.jpg"
        Image.fromarray(img).save(out / split / file_name, quality=95)
        images.append({"id": image_id, "file_name": file_name, "height": h, "width": w})
        for inst in instances:
            polygons = mask_to_polygons(inst.mask)
            if not polygons:
                continue
            bbox, area = polygons_to_box_area(polygons, h, w)
            if area < 4 or bbox[2] < 1 or bbox[3] < 1:
                continue
            annotations.append({"id": len(annotations) + 1, "image_id": image_id,
                                "category_id": inst.label + 1, "bbox": bbox, "area": area,
                                "segmentation": polygons, "iscrowd": 0})
    return {"info": {"description": f"WaveMSA built-in digit scenes ({split})", "version": "1.0"},
            "licenses": [], "images": images, "annotations": annotations, "categories": CATEGORIES}


def make_coco(out: Path = DEFAULT_OUT, num_train: int = 800, num_val: int = 200, seed: int = 0,
              min_size: int = 128, max_size: int = 256, max_objects: int = 4) -> dict[str, Path]:
    """Build both splits; return {'train': json path, 'val': json path}."""
    paths = {}
    for split, n, s in (("train", num_train, seed), ("val", num_val, seed + 1)):
        coco = build_split(out, split, n, s, min_size, max_size, max_objects)
        paths[split] = out / "annotations" / f"instances_{split}.json"
        write_json(paths[split], coco, indent=None)
        n_empty = len({im["id"] for im in coco["images"]} - {a["image_id"] for a in coco["annotations"]})
        print(f"{paths[split]}: {len(coco['images'])} images ({n_empty} without objects), "
              f"{len(coco['annotations'])} instances")
    return paths


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=output_dir, default=DEFAULT_OUT)
    p.add_argument("--train", type=positive_int, default=800, help="number of training images")
    p.add_argument("--val", type=positive_int, default=200, help="number of validation images")
    p.add_argument("--seed", type=non_negative_int, default=0)
    p.add_argument("--min-size", type=positive_int, default=128, help="smallest image side")
    p.add_argument("--max-size", type=positive_int, default=256, help="largest image side")
    p.add_argument("--max-objects", type=non_negative_int, default=4, help="digits per image: uniform in 0..this")
    a = p.parse_args(argv)
    if a.min_size < 72 or a.max_size < a.min_size:
        p.error("need 72 <= --min-size <= --max-size (digits are up to 72 px)")
    make_coco(a.out, a.train, a.val, a.seed, a.min_size, a.max_size, a.max_objects)


if __name__ == "__main__":
    sys.exit(run_main(main))
