"""Up-front checks of COCO-format data, so bad input fails at once with an error naming the file/key.

MMDetection itself maps a category id it does not know to a bare ``KeyError: 99`` deep inside dataset
loading, silently drops configured classes that the annotation file lacks, and finds a missing image
only when a worker first loads it. :func:`check_dataset_cfgs` runs before the runner is built.
"""
from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping, Sequence

_WRAPPERS = ("RepeatDataset", "ClassBalancedDataset", "MultiImageMixDataset")


def _fmt(items: Sequence, limit: int = 5) -> str:
    more = f" ... (+{len(items) - limit} more)" if len(items) > limit else ""
    return ", ".join(str(i) for i in items[:limit]) + more


def check_coco_annotations(ann_file: str, img_dir: str | None = None,
                           classes: Sequence[str] | None = None) -> dict:
    """Validate a COCO instances file; return {'images': n, 'annotations': n, 'categories': n}.

    Raises ``FileNotFoundError`` for a missing annotation file or listed images absent from
    ``img_dir``, ``ValueError`` for unreadable JSON, missing top-level keys, annotations whose
    ``category_id`` / ``image_id`` is not defined in the file, malformed boxes, or configured
    ``classes`` that are not category names of the file. Every message starts with ``ann_file``.
    """
    if not os.path.isfile(ann_file):
        raise FileNotFoundError(f"annotation file not found: {ann_file}")
    try:
        with open(ann_file) as f:
            coco = json.load(f)
    except json.JSONDecodeError as err:
        raise ValueError(f"{ann_file}: not valid JSON ({err})") from None
    if not isinstance(coco, Mapping):
        raise ValueError(f"{ann_file}: expected a JSON object with 'images', 'annotations', 'categories'")
    for key in ("images", "annotations", "categories"):
        if not isinstance(coco.get(key), list):
            raise ValueError(f"{ann_file}: missing or non-list top-level key '{key}'")
    cat_ids = {c["id"]: c.get("name") for c in coco["categories"]}
    image_ids = {im["id"] for im in coco["images"]}
    if classes is not None:
        absent = [c for c in classes if c not in set(cat_ids.values())]
        if absent:
            raise ValueError(f"{ann_file}: classes {_fmt(absent)} of the config are not category names of "
                             f"the file ({_fmt(sorted(map(str, cat_ids.values())), 12)}); "
                             "set the dataset's metainfo=dict(classes=...)")
    for ann in coco["annotations"]:
        where = f"{ann_file}: annotation id {ann.get('id')} (image_id {ann.get('image_id')})"
        if ann.get("category_id") not in cat_ids:
            raise ValueError(f"{where} has category_id {ann.get('category_id')!r}, not one of the file's "
                             f"category ids {_fmt(sorted(cat_ids), 12)}")
        if ann.get("image_id") not in image_ids:
            raise ValueError(f"{where} refers to an image_id that 'images' does not list")
        box = ann.get("bbox")
        if not (isinstance(box, list) and len(box) == 4 and all(isinstance(v, (int, float)) for v in box)):
            raise ValueError(f"{where} has bbox {box!r}; expected [x, y, width, height]")
    if img_dir is not None:
        missing = [im["file_name"] for im in coco["images"]
                   if not os.path.isfile(os.path.join(img_dir, im["file_name"]))]
        if missing:
            raise FileNotFoundError(f"{ann_file}: {len(missing)} listed image(s) not found in {img_dir}: "
                                    f"{_fmt(missing)}")
    return {k: len(coco[k]) for k in ("images", "annotations", "categories")}


def _coco_datasets(ds: Mapping) -> Iterator[Mapping]:
    """The CocoDataset-like configs inside a dataset config (through Repeat/Concat wrappers)."""
    if ds.get("type") == "ConcatDataset":
        for sub in ds.get("datasets", []):
            yield from _coco_datasets(sub)
    elif ds.get("type") in _WRAPPERS:
        yield from _coco_datasets(ds["dataset"])
    elif str(ds.get("type", "")).endswith("CocoDataset") and ds.get("ann_file"):
        yield ds


def _join(root: str | None, path: str) -> str:
    return path if (not root or os.path.isabs(path)) else os.path.join(root, path)


def check_dataset_cfgs(cfg: Mapping, splits: Sequence[str] = ("train", "val", "test")) -> None:
    """Run :func:`check_coco_annotations` on every COCO dataset of the given dataloaders of an
    mmengine config, and check that the evaluators' ``ann_file`` exist."""
    from mmdet.datasets import CocoDataset

    seen = set()
    for split in splits:
        loader = cfg.get(f"{split}_dataloader")
        if not loader:
            continue
        for ds in _coco_datasets(loader["dataset"]):
            root = ds.get("data_root")
            ann = _join(root, ds["ann_file"])
            img_dir = _join(root, (ds.get("data_prefix") or {}).get("img", ""))
            classes = (ds.get("metainfo") or {}).get("classes", CocoDataset.METAINFO["classes"])
            if (ann, img_dir) not in seen:
                seen.add((ann, img_dir))
                check_coco_annotations(ann, img_dir, classes)
        evaluators = cfg.get(f"{split}_evaluator") or []
        for ev in evaluators if isinstance(evaluators, list) else [evaluators]:
            if ev.get("ann_file") and not os.path.isfile(ev["ann_file"]):
                raise FileNotFoundError(f"{split}_evaluator.ann_file not found: {ev['ann_file']}")
