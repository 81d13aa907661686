"""ImageNet-layout folders: which files of a split are read, its class folders, and the checks that make every
image count exactly once.

Layout: ``DATA/train/<class>/...`` and ``DATA/val/<class>/...`` (folders inside a class folder are allowed), the
same class folders in both splits. :func:`scan_split` walks a split once and decides for every file:

* read: a name with an image extension (torchvision's list, any case: .jpg .jpeg .png .ppm .bmp .pgm .tif .tiff
  .webp);
* skipped and counted, with the reason, in one warning per split: hidden (a name starting with '.', such as
  ``.DS_Store`` or macOS's ``._photo.jpg``; a hidden folder counts as one entry), without an image extension,
  outside the class folders (a file directly in the split folder);
* refused with an :class:`~wavemsa.errors.InputError` naming the paths: a split without class folders, a class
  folder without images, a folder reached a second time through a symbolic link, and one file reached under two
  names (hard links, or symbolic links to one file): its image would be trained on and scored twice.

The order of the samples is torchvision's ``ImageFolder`` order (classes sorted, then the sorted walk).
"""
from __future__ import annotations

import os
import warnings
from array import array
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from wavemsa.errors import InputError, first_few

IMG_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")  # torchvision's


@dataclass
class Split:
    """One split folder as the trainer reads it: class folder names (sorted), ``samples`` (path, class index) and
    the files left out, by reason."""

    root: Path
    classes: list[str]
    samples: list[tuple[str, int]]
    skipped: dict[str, list[str]] = field(default_factory=dict)

    @property
    def class_to_idx(self) -> dict[str, int]:
        return {c: i for i, c in enumerate(self.classes)}

    def skipped_summary(self) -> str:
        """'3 files skipped: 2 without an image extension (.txt), 1 hidden (e.g. ...)', or '' when none was."""
        n = sum(len(v) for v in self.skipped.values())
        if not n:
            return ""
        parts = []
        for reason, paths in self.skipped.items():
            if reason == "without an image extension":
                exts = sorted({os.path.splitext(p)[1].lower() or "no extension" for p in paths})
                reason = f"{reason} ({first_few(exts)})"
            parts.append(f"{len(paths)} {reason}")
        example = next(iter(self.skipped.values()))[0]
        return f"{n} file{'s' if n > 1 else ''} skipped: {', '.join(parts)} (e.g. '{example}')"


def _walk(top: str, seen: set[str], skipped: dict[str, list[str]]) -> list[tuple[str, list[os.DirEntry]]]:
    """(folder, file entries) of every folder under ``top`` (symbolic links followed), sorted by folder path as
    ``sorted(os.walk(top, followlinks=True))``; hidden entries go to ``skipped``; a folder whose real path is in
    ``seen`` (a link loop or a second link to one folder) is an ``InputError``."""
    found = []
    stack = [top]
    while stack:
        folder = stack.pop()
        real = os.path.realpath(folder)
        if real in seen:
            raise InputError(f"'{folder}' is '{real}' again, through a symbolic link: its images would be counted "
                             "more than once; remove the link")
        seen.add(real)
        files = []
        with os.scandir(folder) as entries:
            for entry in entries:
                if entry.name.startswith("."):
                    skipped.setdefault("hidden", []).append(entry.path)
                elif entry.is_dir():
                    stack.append(entry.path)
                else:
                    files.append(entry)
        found.append((folder, sorted(files, key=lambda e: e.name)))
    found.sort(key=lambda item: item[0])
    return found


def _check_each_file_once(paths: list[str], ids: np.ndarray, root: Path) -> None:
    """``InputError`` naming two paths of one file when two rows of ``ids`` ((device, inode) per path) are equal."""
    if len(ids) < 2:
        return
    order = np.lexsort((ids[:, 1], ids[:, 0]))
    same = np.nonzero((ids[order[1:]] == ids[order[:-1]]).all(axis=1))[0]
    if len(same):
        a, b = sorted((int(order[same[0]]), int(order[same[0] + 1])))
        raise InputError(f"'{paths[a]}' and '{paths[b]}' are one file (a hard or symbolic link) in '{root}': its "
                         f"image would be counted twice ({len(same)} such file{'s' if len(same) > 1 else ''}); "
                         "keep one name per image")


def scan_split(d: str | Path, split: str = "train") -> Split:
    """Walk split folder ``d`` once (see the module docstring); a warning counts the skipped files."""
    d = Path(d)
    if not d.is_dir():
        raise InputError(f"split folder '{d}' does not exist")
    skipped: dict[str, list[str]] = {}
    classes = []
    with os.scandir(d) as entries:
        for entry in sorted(entries, key=lambda e: e.name):
            if entry.name.startswith("."):
                skipped.setdefault("hidden", []).append(entry.path)
            elif entry.is_dir():
                classes.append(entry.name)
            else:
                skipped.setdefault("outside the class folders", []).append(entry.path)
    if not classes:
        raise InputError(f"'{d}' is empty: expected one folder per class holding images ({', '.join(IMG_EXTENSIONS)})")
    seen = {os.path.realpath(d)}
    samples: list[tuple[str, int]] = []
    devices, inodes = array("q"), array("Q")
    for index, name in enumerate(classes):
        count = len(samples)
        for folder, files in _walk(os.path.join(d, name), seen, skipped):
            device = os.stat(folder).st_dev
            for entry in files:
                if not entry.name.lower().endswith(IMG_EXTENSIONS):
                    skipped.setdefault("without an image extension", []).append(entry.path)
                    continue
                if entry.is_symlink():
                    try:
                        st = os.stat(entry.path)
                    except OSError:  # a broken link: reported as unreadable when read
                        st = os.lstat(entry.path)
                    devices.append(st.st_dev)
                    inodes.append(st.st_ino)
                else:
                    devices.append(device)
                    inodes.append(entry.inode())
                samples.append((entry.path, index))
        if len(samples) == count:
            raise InputError(f"class folder '{d / name}' of the {split} split holds no images "
                             f"({', '.join(IMG_EXTENSIONS)}); remove it or add its images")
    ids = np.stack([np.frombuffer(devices, dtype=np.int64), np.frombuffer(inodes, dtype=np.uint64).view(np.int64)],
                   axis=1) if samples else np.zeros((0, 2), np.int64)
    _check_each_file_once([p for p, _ in samples], ids, d)
    scan = Split(d, classes, samples, skipped)
    if scan.skipped:
        warnings.warn(f"'{d}': {scan.skipped_summary()}", stacklevel=2)
    return scan


def scan_image_folder(data_path: str | Path) -> dict[str, Split]:
    """The train and val splits of an ImageNet-layout folder; ``InputError`` naming the folder when a split is
    missing, a split is not a valid layout (:func:`scan_split`) or the splits have different class folders."""
    root = Path(data_path)
    if not root.is_dir():
        raise InputError(f"data path '{root}' does not exist (expected {root}/train/<class>/*.JPEG and "
                         f"{root}/val/<class>/*.JPEG; see datasets/README.md)")
    splits = {}
    for split in ("train", "val"):
        d = root / split
        if not d.is_dir():
            raise InputError(f"data path '{root}' has no '{split}' folder (expected {d}/<class>/<images>; "
                             "see datasets/README.md)")
        splits[split] = scan_split(d, split)
    if splits["train"].classes != splits["val"].classes:
        only = sorted(set(splits["train"].classes) ^ set(splits["val"].classes))[:5]
        raise InputError(f"'{root}/train' and '{root}/val' have different class folders (e.g. {only})")
    return splits


def check_same_classes(theirs: Sequence[str], classes: Sequence[str], what: str, folder: str | Path) -> None:
    """``InputError`` when ``theirs`` (the classes a checkpoint or a label set was made for) differ from the class
    folders ``classes`` of ``folder`` in names or order: class index i would mean another class.
    ``what`` starts the message, e.g. "checkpoint 'X' was trained on"."""
    if list(theirs) != list(classes):
        differ = sorted(set(theirs) ^ set(classes))[:5] or "their order"
        raise InputError(f"{what} {len(theirs)} classes that differ from the {len(classes)} class folders of "
                         f"'{folder}' (e.g. {differ})")
