"""Token labelling in the trainer (Jiang et al., "All Tokens Matter"; the recipe of Wave-ViT / WaveFormer).

* :class:`TokenLabelFolder`: the training set with a dense label map per image (``--token-label-data``,
  format in :mod:`image_classification.label_maps`); each sample is (image, target (K, 1 + S*S)): the
  flip, RandAugment's spatial ops and the crop applied to the image (:mod:`.token_label_transforms`) are
  applied to its label map.
* :class:`TrainForward`: calls the model's ``forward_train`` (MixToken) through ``forward``, so that
  DistributedDataParallel, which syncs gradients only for ``forward``, sees it.
* :class:`TokenLabelCrossEntropy`: cls_weight x CE(class logits, class target mixed by the MixToken box's
  area) + dense_weight x mean over tokens of CE(aux logits, token targets).
"""
from __future__ import annotations

import os

import torch
import torch.nn.functional as F
from torch import nn

from wavemsa.errors import InputError
from wavemsa.token_label import box_fraction

from .data import SafeImageFolder
from .folders import check_same_classes
from .label_maps import label_path, read_label_map, read_meta, token_targets
from .token_label_transforms import TokenLabelTransform

PRELOAD_BYTES = 256 * 2**20  # label maps of a dataset whose files take at most this are read once, up front


class TokenLabelFolder(SafeImageFolder):
    """Training images with their label maps: sample = (image (3, S_img, S_img), target (K, 1 + S * S)),
    S = ``size`` (``args.token_label_size``, settable until the first sample); the label maps live under
    ``args.token_label_data`` at the images' relative paths. Label smoothing ``args.smoothing``.
    :meth:`check_labels` checks them up front (and keeps them in memory when they are small: the built-in
    digits' take 0.4 MB, ImageNet's NFNet-F6 maps 8 GB)."""

    def __init__(self, root: str, args) -> None:
        super().__init__(root, transform=None, on_error="substitute")
        self.augment = TokenLabelTransform(args)
        self.label_root = str(args.token_label_data)
        self.size = args.token_label_size
        self.smoothing = float(args.smoothing)
        self.cache: list | None = None
        meta = read_meta(self.label_root) or {}
        self.crop_pct = float(meta.get("crop_pct", 1.0))  # the published NFNet-F6 maps: 1.0
        if "classes" in meta:
            check_same_classes(meta["classes"], self.classes, f"label maps '{self.label_root}' were made for",
                               self.root)
        # (top-k, H, W) of every map, when meta.json says (the published maps have no meta.json)
        self.map_shape = ((int(meta["topk"]), *map(int, meta["grid"])) if isinstance(meta.get("topk"), int)
                          and isinstance(meta.get("grid"), list) and len(meta["grid"]) == 2 else None)

    def label_file(self, index: int):
        return label_path(self.label_root, self.samples[index][0], self.root)

    def read_labels(self, path) -> tuple[torch.Tensor, torch.Tensor]:
        """One label file (``read_label_map``) whose grid is the one ``meta.json`` gives for every map."""
        scores, idx = read_label_map(path, len(self.classes))
        if self.map_shape is not None and tuple(scores.shape) != self.map_shape:
            k, h, w = self.map_shape
            raise InputError(f"label map '{path}' holds top-{scores.shape[0]} scores on a {scores.shape[1]}x"
                             f"{scores.shape[2]} grid, but '{self.label_root}/meta.json' says every map holds "
                             f"top-{k} on {h}x{w}: the folder mixes maps of different settings; rebuild it with "
                             "make_token_labels.py --overwrite")
        return scores, idx

    def make_sample(self, index: int, image):
        tensor, crop = self.augment(image)
        scores, idx = self.cache[index] if self.cache is not None else self.read_labels(self.label_file(index))
        return tensor, token_targets(scores, idx, len(self.classes), crop, self.size, self.smoothing, self.crop_pct)

    def check_labels(self) -> None:
        """Every training image has a label file and the first one reads (all of them when they are read
        into memory): otherwise an ``InputError`` naming the missing files (a few) and their count."""
        present = {os.path.join(d, f) for d, _, files in os.walk(self.label_root) for f in files if f.endswith(".pt")}
        files = [str(self.label_file(i)) for i in range(len(self.samples))]
        missing = [f for f in files if f not in present]
        if missing:
            raise InputError(f"{len(missing)} of {len(self.samples)} training images of '{self.root}' have no label "
                             f"map in '{self.label_root}', e.g. '{missing[0]}' (make them with "
                             "image_classification/make_token_labels.py; see datasets/README.md)")
        self.read_labels(files[0])
        if len(files) * os.path.getsize(files[0]) <= PRELOAD_BYTES:
            self.cache = [self.read_labels(f) for f in files]


class TrainForward(nn.Module):
    """``forward(x) = model.forward_train(x)``: the token-labelling training pass as the module's forward,
    for DistributedDataParallel (which syncs gradients of ``forward`` calls only) and ``torch.compile``.
    Save ``model``'s state dict, not this wrapper's."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor):
        return self.model.forward_train(x)


def mix_class_target(target: torch.Tensor, box: tuple[int, int, int, int], num_tokens: int) -> torch.Tensor:
    """The class target (B, K) of MixToken's mixed images: sample b shows the image ``B - 1 - b`` in ``box``
    (last-stage grid of ``num_tokens`` tokens), so it takes that image's target with weight area / N."""
    frac = box_fraction(box, (1, num_tokens))
    return target if frac == 0 else (1.0 - frac) * target + frac * target.flip(0)


def soft_cross_entropy(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean over rows of -sum(target * log_softmax(logits)), in float32."""
    return torch.sum(-target * F.log_softmax(logits.float(), dim=-1), dim=-1).mean()


class TokenLabelCrossEntropy(nn.Module):
    """The token-labelling loss of the originals (TokenLabeling ``TokenLabelCrossEntropy``, used by
    Wave-ViT with dense_weight 0.5 and cls_weight 1).

    ``outputs`` = (cls (B, K), aux (B, N, K) un-mixed, box) from ``forward_train``; ``target`` (B, K, 1 + N)
    from :class:`TokenLabelFolder`. The aux logits, un-mixed by the box, meet the token targets of their
    own image, which is the same as mixing the token targets by the box for the mixed image's logits.
    """

    def __init__(self, dense_weight: float = 0.5, cls_weight: float = 1.0) -> None:
        super().__init__()
        self.dense_weight, self.cls_weight = dense_weight, cls_weight

    def forward(self, outputs, target: torch.Tensor) -> torch.Tensor:
        cls, aux, box = outputs
        B, N, K = aux.shape
        if target.shape != (B, K, 1 + N):
            raise ValueError(f"token-label target {tuple(target.shape)} does not fit {N} tokens of {K} classes")
        cls_target = mix_class_target(target[:, :, 0], box, N)
        dense_target = target[:, :, 1:].transpose(1, 2).reshape(B * N, K)
        return (self.cls_weight * soft_cross_entropy(cls, cls_target)
                + self.dense_weight * soft_cross_entropy(aux.reshape(B * N, K), dense_target))
