"""ImageNet-layout datasets, timm transforms, samplers and loaders.

Which files are read and the layout checks are in :mod:`image_classification.folders`. Images are decoded by
:func:`load_image`: EXIF orientation applied, 16-bit greyscale scaled to 8 bits. Unreadable images are reported
with a warning naming the file and skipped: in training the next readable image takes its place (every rank keeps
the same number of steps), in evaluation it is left out of the metrics, in every pass alike. Training samples are
drawn as (index, seed) pairs (:class:`SeededPositions`): the augmentation of every sample is seeded by its position
in the epoch (:mod:`image_classification.seeding`).
"""
from __future__ import annotations

import math
import warnings
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError
from timm.data import create_transform
from timm.data.auto_augment import RandAugment, posterize
from timm.data.distributed_sampler import RepeatAugSampler
from torch.utils.data import DataLoader, Sampler, default_collate
from torchvision.datasets import ImageFolder

from wavemsa.errors import InputError
from wavemsa.runs import ignore_interruptions

from .folders import Split, scan_split
from .seeding import sample_seed, seeded


class ImageModeError(ValueError):
    """An image whose pixels cannot be mapped to 8-bit RGB without guessing their range."""


SIXTEEN_BIT_MODES = ("I;16", "I;16L", "I;16B", "I;16N")
EXIF_ORIENTATION = 0x0112
READ_ERRORS = (OSError, UnidentifiedImageError, SyntaxError, ValueError, Image.DecompressionBombError)


def load_image(path: str) -> Image.Image:
    """An image file as 8-bit RGB, as it is shown: rotated / mirrored as its EXIF orientation says (torchvision and
    timm read the stored pixels as they are), 16-bit greyscale (PNG, TIFF) scaled to 8 bits (``round(v / 257)``;
    Pillow would clip every value above 255), 16-bit colour as Pillow reads it (the high byte). 32-bit integer and
    floating-point images are refused (:class:`ImageModeError`): their range is unknown."""
    with open(path, "rb") as f:
        image = Image.open(f)
        image.load()
    if image.getexif().get(EXIF_ORIENTATION, 1) != 1:
        image = ImageOps.exif_transpose(image)
    if image.mode in SIXTEEN_BIT_MODES:
        values = np.asarray(image).astype(np.uint32)
        image = Image.fromarray(((values * 255 + 32767) // 65535).astype(np.uint8), mode="L")
    elif image.mode in ("I", "F"):
        kind = "32-bit integer" if image.mode == "I" else "floating-point"
        raise ImageModeError(f"{kind} pixels (PIL mode {image.mode}) have no known range; save the image with 8 or "
                             "16 bits per channel")
    return image.convert("RGB")


class SafeImageFolder(ImageFolder):
    """``ImageFolder`` over a :class:`~image_classification.folders.Split` (a split folder's path, or its scan), read
    with :func:`load_image`, that survives corrupt files.

    ``on_error='substitute'`` returns the next readable sample instead (training); ``'drop'`` returns
    ``None`` for an unreadable sample, removed by ``collate_skip_none`` (evaluation), so every pass scores
    exactly the readable images. Either way a warning names the file (once per process: files found
    unreadable are remembered in ``bad`` and not opened again). A sample is fetched by index, or by
    (index, seed): the seed then drives the augmentation's random draws.
    """

    def __init__(self, root: str | Path | Split, transform=None, on_error: str = "substitute"):
        self.scan = root if isinstance(root, Split) else scan_split(root, Path(root).name)
        super().__init__(str(self.scan.root), transform=transform, loader=load_image)
        assert on_error in ("substitute", "drop")
        self.on_error = on_error
        self.bad: set[int] = set()

    def find_classes(self, directory: str) -> tuple[list[str], dict[str, int]]:
        return list(self.scan.classes), self.scan.class_to_idx

    def make_dataset(self, directory, class_to_idx, extensions=None, is_valid_file=None, allow_empty=False):
        return list(self.scan.samples)

    def read(self, index: int):
        """The image of sample ``index`` (PIL), or None when it cannot be decoded."""
        if index in self.bad:
            return None
        path = self.samples[index][0]
        try:
            return self.loader(path)  # opens and decodes: truncated or non-image files fail here
        except READ_ERRORS as e:
            self.bad.add(index)
            reason = str(e) if isinstance(e, ImageModeError) else f"{type(e).__name__}: {e}"
            warnings.warn(f"skipping unreadable image '{path}': {reason}", stacklevel=3)
            return None

    def make_sample(self, index: int, image):
        """(transformed image, target) of sample ``index`` whose decoded image is ``image``."""
        return (self.transform(image) if self.transform is not None else image), self.samples[index][1]

    def __getitem__(self, key: int | tuple[int, int]):
        if isinstance(key, tuple):
            index, seed = key
            with seeded(seed):
                return self.sample(index)
        return self.sample(key)

    def sample(self, index: int):
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


class SeededPositions(Sampler):
    """A training sampler's epoch as (index, seed) pairs, from position ``start`` on: the seed of each sample is
    :func:`~image_classification.seeding.sample_seed` of (``seed``, epoch, ``rank``, its position), so its
    augmentation is the same whichever worker decodes it, and an epoch resumed at step k continues exactly where
    it stopped (``set_epoch(epoch, start=k * batch_size)``)."""

    def __init__(self, sampler: Sampler, seed: int, rank: int) -> None:
        self.sampler, self.seed, self.rank = sampler, seed, rank
        self.epoch, self.start = 0, 0

    def set_epoch(self, epoch: int, start: int = 0) -> None:
        self.sampler.set_epoch(epoch)
        self.epoch, self.start = epoch, start

    def __iter__(self):
        for position, index in enumerate(self.sampler):
            if position >= self.start:
                yield index, sample_seed(self.seed, self.epoch, self.rank, position)

    def __len__(self) -> int:
        return max(len(self.sampler) - self.start, 0)


def build_loaders(args, train_set, val_set, rank: int, world_size: int,
                  pin_memory: bool = False) -> tuple[DataLoader, DataLoader]:
    """Training loader (repeated augmentation or seeded shuffle, drop_last, samples drawn with their seeds) and
    evaluation loader (sharded over the ranks without padding). The loader workers ignore interruptions (their
    parent stops them); each loader has its own generator, so creating an iterator draws nothing from the main
    process's generators."""
    if args.repeated_aug:
        sampler = RepeatAugSampler(train_set, num_replicas=world_size, rank=rank, shuffle=True)
    else:
        sampler = SeededShuffleSampler(len(train_set), rank, world_size, args.seed)
    if len(sampler) < args.batch_size:
        raise InputError(f"'{args.data_path}/train' gives {len(sampler)} images per process, fewer than "
                         f"--batch-size {args.batch_size}")
    train_loader = DataLoader(train_set, batch_size=args.batch_size, sampler=SeededPositions(sampler, args.seed, rank),
                              num_workers=args.num_workers, pin_memory=pin_memory, drop_last=True,
                              generator=torch.Generator(), worker_init_fn=ignore_interruptions)
    val_sampler = ShardSampler(len(val_set), rank, world_size)
    val_loader = DataLoader(val_set, batch_size=int(1.5 * args.batch_size), sampler=val_sampler,
                            num_workers=args.num_workers, pin_memory=pin_memory, drop_last=False,
                            collate_fn=collate_skip_none, generator=torch.Generator(),
                            worker_init_fn=ignore_interruptions)
    return train_loader, val_loader
