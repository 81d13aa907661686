"""ADE20K-layout datasets that reject bad input with an error naming the file.

- ``CheckedADE20KDataset``: mmseg's ``ADE20KDataset`` that fails at construction (before training) when the
  image folder is empty, an image has no label map, a label map is not stored losslessly (JPEG data,
  whatever its name: class ids change along every edge) or is not single-channel (an RGB PNG would otherwise stop at the
  first loss with a tensor-stacking error), names an image or label map it cannot decode when a loader
  reaches it, and tells ``CheckSegMap`` the class count.
- ``DigitScenesDataset``: the built-in digit scenes (``datasets/make_ade20k.py``): 'background' and ten
  digit classes; refuses a set built by an older script with another labelling.
- ``CheckSegMap`` (pipeline transform, right after ``LoadAnnotations``): the label map must have its image's
  size and hold only class ids or the ignore index.

Every problem is a :class:`BadSegmentationData`, an :class:`~wavemsa.errors.InputError`.
"""
from __future__ import annotations

import json
import os.path as osp

import numpy as np
from mmcv.transforms import BaseTransform
from mmseg.datasets import ADE20KDataset
from mmseg.registry import DATASETS, TRANSFORMS
from PIL import Image

from wavemsa.errors import InputError, first_few
from wavemsa.mm.data import NamedUndecodableFiles

# The built-in scenes' labelling (datasets/make_ade20k.py writes the same list into build.json): raw label
# 0 = other (ignored, as ADE20K's 0), raw 1 = background, raw d + 2 = digit d.
DIGIT_SCENE_CLASSES = ("background", *(f"digit {d}" for d in range(10)))


# formats that store every pixel exactly (the format read from the file's content, not its name)
LOSSLESS_FORMATS = ("PNG", "BMP", "TIFF")


class BadSegmentationData(InputError):
    """An image or label map that cannot be used; the message names the file."""


@DATASETS.register_module()
class CheckedADE20KDataset(NamedUndecodableFiles, ADE20KDataset):
    """``ADE20KDataset`` (``reduce_zero_label=True``: raw label 0 = other, ignored) with input checks, and a
    sample whose image or label map cannot be decoded named (:class:`~wavemsa.mm.data.NamedUndecodableFiles`).

    Each sample also carries ``num_classes`` so that ``CheckSegMap`` needs no copy of the class count.
    """

    def load_data_list(self) -> list[dict]:
        data_list = super().load_data_list()
        img_dir = self.data_prefix.get("img_path", "")
        if not data_list:
            raise BadSegmentationData(
                f"no '*{self.img_suffix}' images under {img_dir!r} "
                f"(data_root={self.data_root!r}); see semantic_segmentation/README.md for the layout")
        maps = [d["seg_map_path"] for d in data_list if "seg_map_path" in d]
        missing = [p for p in maps if not osp.isfile(p)]
        if missing:
            raise BadSegmentationData(f"{len(missing)} of {len(data_list)} images under {img_dir!r} have no "
                                      f"label map; expected: {first_few(missing)}")
        other_format, multi = [], []
        for path in maps:
            try:
                with Image.open(path) as im:  # reads the header only
                    if im.format not in LOSSLESS_FORMATS:
                        other_format.append(f"{path} ({im.format})")
                    elif len(im.getbands()) != 1:
                        multi.append(f"{path} ({im.mode})")
                    elif im.mode not in ("L", "P", "1") and (top := int(np.asarray(im).max(initial=0))) > 255:
                        # mmseg's LoadAnnotations casts to uint8: 257 would silently become class id 1
                        raise BadSegmentationData(
                            f"label map {path} ({im.mode}) holds ids up to {top}; mmseg reads label maps as 8-bit "
                            "(ids 0-255): save it as an 8-bit grey 'L' or palette 'P' PNG")
            except BadSegmentationData:
                raise
            except (OSError, SyntaxError, ValueError) as err:  # PIL's errors for a file that is not an image
                raise BadSegmentationData(f"label map {path} is not a readable image ({type(err).__name__}: "
                                          f"{err})") from None
        if other_format:
            raise BadSegmentationData(
                f"{len(other_format)} label map(s) are not {'/'.join(LOSSLESS_FORMATS)} data: "
                f"{first_few(other_format, 3)} (the format of the content, whatever the name); a lossy format such "
                "as JPEG changes class ids along every edge: save label maps as PNG")
        if multi:
            raise BadSegmentationData(
                f"{len(multi)} label map(s) are not single-channel: {first_few(multi, 3)}; a label map holds one "
                "class id per pixel (8-bit grey 'L' or palette 'P' PNG), not colours")
        num_classes = len(self.metainfo["classes"])
        for d in data_list:
            d["num_classes"] = num_classes
        return data_list


@DATASETS.register_module()
class DigitScenesDataset(CheckedADE20KDataset):
    """Built-in digit scenes in the ADEChallengeData2016 layout: raw label 1 is the background, ``d + 2`` digit
    ``d``, 0 unused (ignored)."""

    METAINFO = dict(
        classes=DIGIT_SCENE_CLASSES,
        palette=[[64, 64, 64], [230, 25, 75], [60, 180, 75], [255, 225, 25], [0, 130, 200], [245, 130, 48],
                 [145, 30, 180], [70, 240, 240], [240, 50, 230], [210, 245, 60], [250, 190, 212]])

    def load_data_list(self) -> list[dict]:
        build = osp.join(self.data_root or "", "build.json")
        classes = None
        if osp.isfile(build):
            with open(build) as f:
                classes = json.load(f).get("classes")
        if classes is None:
            raise BadSegmentationData(f"{build} is missing or names no classes: the set was built by an older "
                                      "datasets/make_ade20k.py (no background class); rebuild it")
        if tuple(classes) != DIGIT_SCENE_CLASSES:
            raise BadSegmentationData(f"{build}: classes {classes} are not DigitScenesDataset's "
                                      f"{list(DIGIT_SCENE_CLASSES)}; rebuild with python datasets/make_ade20k.py")
        return super().load_data_list()


@TRANSFORMS.register_module()
class CheckSegMap(BaseTransform):
    """Reject a label map whose size differs from its image's or that holds ids beyond the classes.

    Place right after ``LoadAnnotations`` (before any resize of the map). Reads ``gt_seg_map`` (H, W)
    and ``ori_shape``; samples without a label map (inference pipelines) pass unchanged. Valid values are
    ``0..num_classes-1`` and ``ignore_index`` (after mmseg's ``reduce_zero_label``, which maps raw ``v`` to
    ``v - 1`` and raw 0 to 255). ``num_classes`` defaults to the sample's ``num_classes`` (set by
    ``CheckedADE20KDataset``).
    """

    def __init__(self, num_classes: int | None = None, ignore_index: int = 255) -> None:
        self.num_classes = num_classes
        self.ignore_index = ignore_index

    def transform(self, results: dict) -> dict:
        if "gt_seg_map" not in results:  # inference (MMSegInferencer drops LoadAnnotations): nothing to check
            return results
        path = results.get("seg_map_path", "<label map>")
        seg = results["gt_seg_map"]
        if seg.ndim != 2:
            raise BadSegmentationData(f"label map {path} has shape {seg.shape}: expected one class id per pixel "
                                      "(a single-channel map)")
        img_shape = tuple(results["ori_shape"][:2])
        if tuple(seg.shape[:2]) != img_shape:
            raise BadSegmentationData(
                f"label map {path} is {seg.shape[1]}x{seg.shape[0]} (WxH) but its image "
                f"{results.get('img_path')} is {img_shape[1]}x{img_shape[0]}")
        num_classes = self.num_classes if self.num_classes is not None else results.get("num_classes")
        if num_classes is None:
            raise BadSegmentationData("CheckSegMap needs num_classes: pass it or use CheckedADE20KDataset")
        values = np.unique(seg)
        bad = values[(values >= num_classes) & (values != self.ignore_index)]
        if bad.size:
            shift = 1 if results.get("reduce_zero_label") else 0
            raw = [int(v) + shift for v in bad[:10]]
            raise BadSegmentationData(
                f"label map {path} holds ids {raw} beyond the {num_classes} classes (valid raw ids: "
                f"{shift}..{num_classes - 1 + shift}{', 0 = other' if shift else ''}, "
                f"{self.ignore_index} = ignore)")
        return results

    def __repr__(self) -> str:
        return f"{type(self).__name__}(num_classes={self.num_classes}, ignore_index={self.ignore_index})"
