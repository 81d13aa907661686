"""COCO-format data that fails at once with an error naming the file and key: ``CheckedCocoDataset``.

MMDetection itself maps a category id it does not know to a bare ``KeyError: 99`` deep inside dataset
loading, silently drops configured classes that the annotation file lacks, finds a missing image only when a
worker first loads it, stops with ``KeyError: 'mask'`` in a transform when an instance-segmentation config
meets boxes without masks, drops degenerate boxes without a word, and meets an image it cannot decode with an
assertion. ``CheckedCocoDataset``, the dataset of every detection config, validates its annotation file when
it reads it (:func:`check_coco_annotations`; the file is parsed once), before training; problems are
:class:`~wavemsa.errors.InputError`, and the annotations mmdet will drop are counted in one warning per
file (ids and why). Being a registered dataset, it checks for MMDetection's own ``tools/train.py`` and
``test.py`` too.
"""
from __future__ import annotations

import json
import math
import os
import warnings
from collections.abc import Mapping, Sequence

from mmdet.datasets import CocoDataset
from mmdet.datasets.api_wrappers import COCO
from mmdet.registry import DATASETS

from wavemsa.errors import InputError, first_few
from wavemsa.mm.data import NamedUndecodableFiles


def dropped_reason(ann: Mapping, image: Mapping) -> str | None:
    """Why ``CocoDataset.parse_data_info`` (mmdet 3.3) drops this annotation, or None when it keeps it."""
    x, y, w, h = ann["bbox"]
    if w < 1 or h < 1:
        return "width or height below 1 px"
    if min(x + w, image["width"]) - max(x, 0) <= 0 or min(y + h, image["height"]) - max(y, 0) <= 0:
        return "box outside the image"
    if ann["area"] <= 0:
        return "area <= 0"
    return None


def read_coco(ann_file: str) -> dict:
    """The JSON object of a COCO annotation file with its three top-level lists; an ``InputError`` naming the file
    otherwise."""
    if not os.path.isfile(ann_file):
        raise InputError(f"annotation file not found: {ann_file}")
    try:
        with open(ann_file) as f:
            coco = json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise InputError(f"{ann_file}: not valid JSON ({err})") from None
    if not isinstance(coco, Mapping):
        raise InputError(f"{ann_file}: expected a JSON object with 'images', 'annotations', 'categories'")
    for key in ("images", "annotations", "categories"):
        if not isinstance(coco.get(key), list):
            raise InputError(f"{ann_file}: missing or non-list top-level key '{key}'")
    return coco


def _number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _index_by_id(ann_file: str, entries: list, key: str, required: Sequence[str] = ()) -> dict:
    """``{id: entry}`` of the ``key`` list ('images', 'categories'); an ``InputError`` for an entry that is not an
    object, lacks ``id`` or a ``required`` field, or repeats an id."""
    out: dict = {}
    for i, entry in enumerate(entries):
        if not isinstance(entry, Mapping):
            raise InputError(f"{ann_file}: {key}[{i}] is {entry!r}, not an object")
        for field in ("id", *required):
            if field not in entry:
                raise InputError(f"{ann_file}: {key}[{i}] has no '{field}'")
        if entry["id"] in out:
            raise InputError(f"{ann_file}: {key[:-1]} id {entry['id']!r} is listed twice in '{key}'")
        out[entry["id"]] = entry
    return out


def _check_polygons(where: str, segm) -> None:
    """COCO polygons: lists of x, y numbers, at least 3 points each (what pycocotools can rasterise); an RLE
    (an object) is left to pycocotools."""
    if isinstance(segm, Mapping) or segm is None:
        return
    if not isinstance(segm, list):
        raise InputError(f"{where} has segmentation {segm!r}; expected polygons [[x1, y1, x2, y2, ...], ...] or RLE")
    for poly in segm:
        if not (isinstance(poly, list) and len(poly) >= 6 and len(poly) % 2 == 0 and all(map(_number, poly))):
            raise InputError(f"{where} has a polygon {str(poly)[:60]}; expected [x1, y1, x2, y2, x3, y3, ...] with "
                             "at least 3 points")


def check_coco_annotations(coco: Mapping, ann_file: str, img_dir: str | None = None,
                           classes: Sequence[str] | None = None, with_mask: bool = False,
                           evaluated: bool = False) -> None:
    """Validate ``coco``, the content of the COCO instances file ``ann_file`` (:func:`read_coco`), and warn once
    about the annotations mmdet will drop (their ids, by reason).

    Raises :class:`InputError` (the message starts with ``ann_file``) for entries that are not objects or lack
    their id, ids listed twice, images without a file name
    or a positive size, annotations whose ``category_id`` / ``image_id`` the file does not define, malformed or
    non-finite boxes and areas, polygons of fewer than 3 points, kept annotations without ``area``, configured
    ``classes`` that are not category names of the file, listed images absent from ``img_dir``, with
    ``with_mask`` (the pipeline loads masks) kept annotations of the configured classes without a
    ``segmentation``, and with ``evaluated`` (a val/test set) a file with no annotation to score against (every
    COCO metric would be -1).
    """
    cat_ids = {i: c.get("name") for i, c in _index_by_id(ann_file, coco["categories"], "categories").items()}
    images = _index_by_id(ann_file, coco["images"], "images", required=("file_name", "width", "height"))
    if not images:
        raise InputError(f"{ann_file}: 'images' is empty")
    for im in images.values():
        if not (_number(im["width"]) and _number(im["height"]) and im["width"] >= 1 and im["height"] >= 1):
            raise InputError(f"{ann_file}: image id {im['id']!r} has width {im['width']!r}, height {im['height']!r}; "
                             "expected its size in pixels")
    if classes is not None:
        absent = [c for c in classes if c not in set(cat_ids.values())]
        if absent:
            raise InputError(f"{ann_file}: classes {first_few(absent)} of the config are not category names of the "
                             f"file ({first_few(sorted(map(str, cat_ids.values())), 12)}); "
                             "set the dataset's metainfo=dict(classes=...)")
    wanted = {i for i, name in cat_ids.items() if classes is None or name in classes}
    dropped: dict[str, list] = {}
    maskless = []
    ann_ids: set = set()
    scored = 0
    for i, ann in enumerate(coco["annotations"]):
        if not isinstance(ann, Mapping):
            raise InputError(f"{ann_file}: annotations[{i}] is {ann!r}, not an object")
        where = f"{ann_file}: annotation id {ann.get('id')} (image_id {ann.get('image_id')})"
        if "id" in ann:
            if ann["id"] in ann_ids:
                raise InputError(f"{ann_file}: annotation id {ann['id']!r} is listed twice in 'annotations'")
            ann_ids.add(ann["id"])
        if ann.get("category_id") not in cat_ids:
            raise InputError(f"{where} has category_id {ann.get('category_id')!r}, not one of the file's "
                             f"category ids {first_few(sorted(cat_ids), 12)}")
        image = images.get(ann.get("image_id"))
        if image is None:
            raise InputError(f"{where} refers to an image_id that 'images' does not list")
        box = ann.get("bbox")
        if not (isinstance(box, list) and len(box) == 4 and all(map(_number, box))):
            raise InputError(f"{where} has bbox {box!r}; expected [x, y, width, height] (finite numbers)")
        if "area" in ann and not _number(ann["area"]):
            raise InputError(f"{where} has area {ann['area']!r}; expected a number")
        _check_polygons(where, ann.get("segmentation"))
        if ann.get("ignore", False):
            continue
        if "area" not in ann:
            raise InputError(f"{where} has no 'area' (mmdet reads it)")
        reason = dropped_reason(ann, image)
        if reason:
            dropped.setdefault(reason, []).append(ann.get("id"))
        elif with_mask and ann["category_id"] in wanted and not ann.get("segmentation"):
            maskless.append(ann.get("id"))
        scored += not reason and not ann.get("iscrowd", 0) and ann["category_id"] in wanted
    if maskless:
        raise InputError(f"{ann_file}: {len(maskless)} annotation(s) have no 'segmentation' "
                         f"(ids {first_few(maskless)}), "
                         "but the config trains or evaluates masks (LoadAnnotations with_mask=True): add masks "
                         "or use a box-only config")
    if evaluated and not scored:
        raise InputError(f"{ann_file}: no annotation to evaluate against (of {len(coco['annotations'])}, none is a "
                         "kept, non-crowd box of the configured classes): every COCO metric would be -1")
    if img_dir is not None:
        missing = [im["file_name"] for im in coco["images"]
                   if not os.path.isfile(os.path.join(img_dir, str(im["file_name"])))]
        if missing:
            raise InputError(f"{ann_file}: {len(missing)} listed image(s) not found in {img_dir}: {first_few(missing)}")
    if dropped:
        reasons = "; ".join(f"{why}: ids {first_few(ids)}" for why, ids in sorted(dropped.items()))
        warnings.warn(f"{ann_file}: mmdet will drop {sum(map(len, dropped.values()))} of {len(coco['annotations'])} "
                      f"annotations: {reasons}", stacklevel=3)


@DATASETS.register_module()
class CheckedCocoDataset(NamedUndecodableFiles, CocoDataset):
    """mmdet's ``CocoDataset`` that validates its annotation file as it reads it (:func:`check_coco_annotations`
    with the dataset's classes, image folder and pipeline; a ``test_mode`` set must have something to score)
    and names an image that cannot be decoded (:class:`~wavemsa.mm.data.NamedUndecodableFiles`)."""

    def COCOAPI(self, ann_file: str) -> COCO:  # noqa: N802  (CocoDataset.load_data_list calls self.COCOAPI(path))
        """mmdet's COCO index of ``ann_file``, built from the JSON read (once) and validated here."""
        coco = read_coco(ann_file)
        with_mask = any(getattr(t, "with_mask", False) for t in self.pipeline.transforms)
        check_coco_annotations(coco, ann_file, self.data_prefix.get("img"), self.metainfo["classes"], with_mask,
                               self.test_mode)
        index = COCO()
        index.dataset = coco
        index.createIndex()
        index.img_ann_map, index.cat_img_map = index.imgToAnns, index.catToImgs  # mmdet's names of the index
        return index
