"""The training transform of token labelling: the originals' augmentations in the originals' order, with the
geometry a label map must follow.

Order (TokenLabeling ``tlt/data/label_transforms_factory.py``): horizontal flip, then the auto-augment
policy (RandAugment ``rand-m9-mstd0.5-inc1`` in the recipe) on the full image, then timm's
RandomResizedCrop, then ToTensor, normalisation and random erasing. The augmentation is timm's own (its ops,
parameter draws and fill); each of its spatial ops (rotate, shear-x/y, translate-x/y) also reports its affine
with the parameters drawn for the image, so the sample's :class:`~image_classification.label_maps.Crop`
carries flip, warps and crop box to :func:`~image_classification.label_maps.token_targets`. The other ops
(colour, contrast, posterize, ...) leave the label map as it is. AugMix blends several augmented copies of
the image, which no one label map follows: it is refused.
"""
from __future__ import annotations

import math
import random

import torch
from timm.data.auto_augment import AugmentOp, AugMixAugment, AutoAugment, RandAugment
from torchvision.transforms import functional as TF

from wavemsa.errors import InputError

from .data import build_transform
from .label_maps import Affine, Crop


def rotation(degrees: float, size: tuple[int, int]) -> Affine:
    """PIL's ``Image.rotate(degrees)`` (counter-clockwise about the centre of an image of ``size`` = (W, H))
    as an output -> input affine."""
    cx, cy = size[0] / 2, size[1] / 2
    t = math.radians(degrees)
    c, s = math.cos(t), math.sin(t)
    return c, -s, cx - c * cx + s * cy, s, c, cy - s * cx - c * cy


def shear_x(factor: float, size: tuple[int, int]) -> Affine:
    return 1.0, factor, 0.0, 0.0, 1.0, 0.0


def shear_y(factor: float, size: tuple[int, int]) -> Affine:
    return 1.0, 0.0, 0.0, factor, 1.0, 0.0


def translate_x(pixels: float, size: tuple[int, int]) -> Affine:
    return 1.0, 0.0, pixels, 0.0, 1.0, 0.0


def translate_y(pixels: float, size: tuple[int, int]) -> Affine:
    return 1.0, 0.0, 0.0, 0.0, 1.0, pixels


def translate_x_rel(fraction: float, size: tuple[int, int]) -> Affine:
    return translate_x(fraction * size[0], size)


def translate_y_rel(fraction: float, size: tuple[int, int]) -> Affine:
    return translate_y(fraction * size[1], size)


# timm's spatial ops (timm.data.auto_augment.NAME_TO_OP): name -> the affine of its argument on an image of a size
SPATIAL_OPS = {
    "Rotate": rotation, "ShearX": shear_x, "ShearY": shear_y, "TranslateX": translate_x,
    "TranslateY": translate_y, "TranslateXRel": translate_x_rel, "TranslateYRel": translate_y_rel,
}
PIXEL_OPS = {  # timm's ops that change pixel values only
    "AutoContrast", "Equalize", "Invert", "Posterize", "PosterizeIncreasing", "PosterizeOriginal", "Solarize",
    "SolarizeIncreasing", "SolarizeAdd", "Color", "ColorIncreasing", "Contrast", "ContrastIncreasing", "Brightness",
    "BrightnessIncreasing", "Sharpness", "SharpnessIncreasing", "Desaturate", "GaussianBlur", "GaussianBlurRand",
}


class ReportedWarp:
    """A spatial op's image function (timm's ``AugmentOp.aug_fn``) that also appends the op's affine, for the
    argument timm drew and the image's size, to ``warps``."""

    def __init__(self, name: str, fn, warps: list) -> None:
        self.name, self.fn, self.warps = name, fn, warps

    def __call__(self, image, arg, **kwargs):
        self.warps.append(SPATIAL_OPS[self.name](arg, image.size))
        return self.fn(image, arg, **kwargs)


def augment_ops(transform) -> list[AugmentOp]:
    """The ``AugmentOp``s of a RandAugment or AutoAugment transform (none for other transforms)."""
    if isinstance(transform, RandAugment):
        return list(transform.ops)
    if isinstance(transform, AutoAugment):
        return [op for sub_policy in transform.policy for op in sub_policy]
    return []


class TokenLabelTransform:
    """The token-labelling training transform of ``args`` (timm's parts, the originals' order):
    ``transform(image) -> (tensor (3, S, S), Crop)``, the ``Crop`` holding the flip, the spatial ops and
    the crop box applied to the image."""

    def __init__(self, args) -> None:
        crop_flip, augment, final = build_transform(True, args, separate=True)
        self.crop = crop_flip.transforms[0]  # timm's RandomResizedCropAndInterpolation
        self.hflip = float(args.hflip)
        self.augment, self.final = augment, final
        self.warps: list[Affine] = []
        for t in augment.transforms:
            if isinstance(t, AugMixAugment):
                raise InputError(f"--aa '{args.aa}' with --token-label: AugMix blends several augmented copies "
                                 "of an image, which no label map follows; use a RandAugment ('rand-...') or "
                                 "AutoAugment policy")
            for op in augment_ops(t):
                if op.name in SPATIAL_OPS:
                    if not isinstance(op.aug_fn, ReportedWarp):  # an op listed twice reports once
                        op.aug_fn = ReportedWarp(op.name, op.aug_fn, self.warps)
                elif op.name not in PIXEL_OPS:
                    raise InputError(f"--aa '{args.aa}' with --token-label: the label maps cannot follow timm's "
                                     f"op '{op.name}' (not known to keep the image's geometry)")

    def __call__(self, image):
        size = image.size
        flipped = self.hflip > 0 and bool(torch.rand(1) < self.hflip)
        if flipped:
            image = TF.hflip(image)
        self.warps.clear()
        image = self.augment(image)
        warps = tuple(self.warps)
        top, left, h, w = self.crop.get_params(image, self.crop.scale, self.crop.ratio)
        interp = self.crop.interpolation
        if isinstance(interp, (tuple, list)):  # train_interpolation 'random'
            interp = random.choice(interp)
        image = TF.resized_crop(image, top, left, h, w, self.crop.size, interp)
        return self.final(image), Crop(top, left, h, w, size, flipped, warps)
