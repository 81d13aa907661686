"""ImageNet-layout datasets, timm transforms, samplers and loaders.

Layout: ``DATA/train/<class>/*.{JPEG,png,...}`` and ``DATA/val/<class>/*``, the same class folders in
both splits, each holding at least one image. Unreadable images are reported with a warning naming the file
and skipped: in training the next readable image takes its place (every rank keeps the same number of
steps), in evaluation it is left out of the metrics, in every pass alike.
"""
from __future__ import annotations

import math
import os
import random
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from timm.data import create_transform
from timm.data.auto_augment import RandAugment, posterize
from timm.data.distributed_sampler import RepeatAugSampler
from torch.utils.data import DataLoader, Sampler, default_collate
from torchvision.datasets import ImageFolder
from torchvision.datasets.folder import IMG_EXTENSIONS

from wavemsa.errors import InputError

READ_ERRORS = (OSError, UnidentifiedImageError, SyntaxError, ValueError, Image.DecompressionBombError)


class SafeImageFolder(ImageFolder):
    """``ImageFolder`` that survives corrupt files.

    ``on_error='substitute'`` returns the next readable sample instead (training); ``'drop'`` returns
    ``None`` for an unreadable sample, removed by ``collate_skip_none`` (evaluation), so every pass scores
    exactly the readable images. Either way a warning names the file (once per process: files found
    unreadable are remembered in ``bad`` and not opened again).
    """

    def __init__(self, root: str, transform=None, on_error: str = "substitute"):
        super().__init__(root, transform=transform)
        assert on_error in ("substitute", "drop")
        self.on_error = on_error
        self.bad: set[int] = set()

    def read(self, index: int):
        """The image of sample ``index`` (PIL), or None when it cannot be decoded."""
        if index in self.bad:
            return None
        path = self.samples[index][0]
        try:
            return self.loader(path)  # opens and decodes: truncated or non-image files fail here
        except READ_ERRORS as e:
            self.bad.add(index)
            warnings.warn(f"skipping unreadable image '{path}': {type(e).__name__}: {e}", stacklevel=3)
            return None

    def make_sample(self, index: int, image):
        """(transformed image, target) of sample ``index`` whose decoded image is ``image``."""
        return (self.transform(image) if self.transform is not None else image), self.samples[index][1]

    def __getitem__(self, index: int):
        if self.on_error == "drop":
            image = self.read(index)
            return None if image is None else self.make_sample(index, image)
        for k in range(min(len(self), 32)):
            i = (index + k) % len(self)
            image = self.read(i)
            if image is not None:
                return self.make_sample(i, image)
        raise InputError(f"no readable image among 32 consecutive samples from '{self.samples[index][0]}' "
                         f"in '{self.root}'")


def collate_skip_none(batch: list):
    """Default collation after removing samples dropped as unreadable; ``None`` if none is left."""
    batch = [b for b in batch if b is not None]
    return default_collate(batch) if batch else None


def check_same_classes(theirs: Sequence[str], classes: Sequence[str], what: str, folder: str | Path) -> None:
    """``InputError`` when ``theirs`` (the classes a checkpoint or a label set was made for) differ from the class
    folders ``classes`` of ``folder`` in names or order: class index i would mean another class.
    ``what`` starts the message, e.g. "checkpoint 'X' was trained on"."""
    if list(theirs) != list(classes):
        differ = sorted(set(theirs) ^ set(classes))[:5] or "their order"
        raise InputError(f"{what} {len(theirs)} classes that differ from the {len(classes)} class folders of "
                         f"'{folder}' (e.g. {differ})")


def check_no_link_loops(d: Path) -> None:
    """``InputError`` naming the link when a symbolic link under ``d`` leads to a folder already seen (a link
    to an ancestor loops: torchvision follows it until the OS refuses, counting the images again each time)."""
    seen: set[str] = set()
    for dirpath, _, _ in os.walk(d, followlinks=True):
        real = os.path.realpath(dirpath)
        if real in seen:
            raise InputError(f"'{dirpath}' is '{real}' again, through a symbolic link: its images would be "
                             "counted more than once; remove the link")
        seen.add(real)


def check_split_folder(d: Path, split: str = "train") -> list[str]:
    """The class folders of split folder ``d``; ``InputError`` naming the folder when it has none, one of
    them holds no image, or a symbolic link makes images appear twice."""
    d = Path(d)
    check_no_link_loops(d)
    cls = sorted(p.name for p in d.iterdir() if p.is_dir())
    if not cls:
        raise InputError(f"'{d}' is empty: expected one folder per class holding images "
                         f"({', '.join(IMG_EXTENSIONS)})")
    for c in cls:
        if not any(f.suffix.lower() in IMG_EXTENSIONS for f in (d / c).rglob("*")):
            raise InputError(f"class folder '{d / c}' of the {split} split holds no images "
                             f"({', '.join(IMG_EXTENSIONS)}); remove it or add its images")
    return cls


def check_image_folder(data_path: str | Path) -> None:
    """Raise ``InputError`` naming the folder when ``data_path`` is not an ImageNet-style layout: a split
    missing, no class folders, a class folder without images, different classes in the two splits."""
    root = Path(data_path)
    if not root.is_dir():
        raise InputError(f"data path '{root}' does not exist (expected {root}/train/<class>/*.JPEG and "
                         f"{root}/val/<class>/*.JPEG; see datasets/README.md)")
    classes = {}
    for split in ("train", "val"):
        d = root / split
        if not d.is_dir():
            raise InputError(f"data path '{root}' has no '{split}' folder (expected {d}/<class>/<images>; "
                             "see datasets/README.md)")
        classes[split] = check_split_folder(d, split)
    if classes["train"] != classes["val"]:
        only = sorted(set(classes["train"]) ^ set(classes["val"]))[:5]
        raise InputError(f"'{root}/train' and '{root}/val' have different class folders (e.g. {only})")


def _posterize_at_least_one_bit(img, bits: int, **kwargs):
    return posterize(img, max(1, int(bits)), **kwargs)


def fix_posterize(transform):
    """timm's 'inc1' RandAugment asks for posterize(bits=0) at magnitude 10, which Pillow 13 rejects
    (older Pillow returned a black image); keep one bit instead. Returns ``transform`` (patched in place)."""
    for t in getattr(transform, "transforms", []):
        if isinstance(t, RandAugment):
            for op in t.ops:
                if op.name.startswith("Posterize"):
                    op.aug_fn = _posterize_at_least_one_bit
    return transform


def build_transform(is_train: bool, args, separate: bool = False):
    """timm's ImageNet transform: RandomResizedCrop, flip, colour jitter, RandAugment and random erasing
    in training; resize to ``input_size / crop_pct`` and centre crop in evaluation. ``separate``: the
    training transform as timm's three parts (crop + flip, augmentation, tensor + erasing)."""
    if is_train:
        parts = create_transform(
            input_size=args.input_size, is_training=True, scale=tuple(args.scale), hflip=args.hflip,
            color_jitter=args.color_jitter, auto_augment=args.aa or None, interpolation=args.train_interpolation,
            re_prob=args.reprob, re_mode=args.remode, re_count=args.recount, separate=separate)
        return tuple(fix_posterize(t) for t in parts) if separate else fix_posterize(parts)
    return create_transform(input_size=args.input_size, is_training=False, interpolation="bicubic",
                            crop_pct=args.crop_pct)


def build_datasets(args, token_labels: bool = False) -> tuple[SafeImageFolder, SafeImageFolder]:
    """Train and val datasets from ``args.data_path``; the layout is checked first. With ``token_labels``
    the training set also yields each crop's token-labelling target (label maps of ``--token-label-data``)."""
    check_image_folder(args.data_path)
    root = Path(args.data_path)
    if token_labels:
        from .token_label import TokenLabelFolder  # reads the label maps of --token-label-data

        train = TokenLabelFolder(str(root / "train"), args)
    else:
        train = SafeImageFolder(str(root / "train"), build_transform(True, args), on_error="substitute")
    val = SafeImageFolder(str(root / "val"), build_transform(False, args), on_error="drop")
    return train, val


class ShardSampler(Sampler):
    """Evaluation sampler: rank r takes samples r, r + W, r + 2W, ... with no padding, so metrics summed
    over ranks count every sample exactly once."""

    def __init__(self, n: int, rank: int, world_size: int):
        self.indices = list(range(rank, n, world_size))

    def __iter__(self):
        return iter(self.indices)

    def __len__(self) -> int:
        return len(self.indices)


class SeededShuffleSampler(Sampler):
    """Training sampler: this rank's share of a permutation drawn from (seed, epoch), so the order of an
    epoch does not depend on what ran before it (resumed runs replay it exactly). Pads by wrapping so
    every rank takes the same number of steps."""

    def __init__(self, n: int, rank: int, world_size: int, seed: int):
        self.n, self.rank, self.world_size, self.seed = n, rank, world_size, seed
        self.num_samples = math.ceil(n / world_size)
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self):
        g = torch.Generator().manual_seed(self.seed * 100003 + self.epoch)
        perm = torch.randperm(self.n, generator=g).tolist()
        perm += perm[: self.num_samples * self.world_size - self.n]
        return iter(perm[self.rank::self.world_size])

    def __len__(self) -> int:
        return self.num_samples


def epoch_seed(seed: int, epoch: int, rank: int) -> int:
    """The seed of all random streams of one rank in one epoch."""
    return (seed * 1_000_003 + epoch * 1009 + rank) % (2**31)


def seed_all(seed: int) -> None:
    """Seed python, numpy and torch (CPU and CUDA) generators."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def build_loaders(args, train_set, val_set, rank: int, world_size: int,
                  pin_memory: bool = False) -> tuple[DataLoader, DataLoader]:
    """Training loader (repeated augmentation or seeded shuffle, drop_last) and evaluation loader
    (sharded over the ranks without padding)."""
    if args.repeated_aug:
        train_sampler = RepeatAugSampler(train_set, num_replicas=world_size, rank=rank, shuffle=True)
    else:
        train_sampler = SeededShuffleSampler(len(train_set), rank, world_size, args.seed)
    if len(train_sampler) < args.batch_size:
        raise InputError(f"'{args.data_path}/train' gives {len(train_sampler)} images per process, fewer than "
                         f"--batch-size {args.batch_size}")
    # The loader's generator only seeds the workers; it is re-seeded from (seed, epoch, rank) each epoch.
    train_loader = DataLoader(train_set, batch_size=args.batch_size, sampler=train_sampler,
                              num_workers=args.num_workers, pin_memory=pin_memory, drop_last=True,
                              generator=torch.Generator(), persistent_workers=False)
    val_sampler = ShardSampler(len(val_set), rank, world_size)
    val_loader = DataLoader(val_set, batch_size=int(1.5 * args.batch_size), sampler=val_sampler,
                            num_workers=args.num_workers, pin_memory=pin_memory, drop_last=False,
                            collate_fn=collate_skip_none)
    return train_loader, val_loader
