"""``ClassWeightedCrossEntropyLoss``: mmseg's cross-entropy whose ``class_weight`` meets ignored pixels.

mmseg 1.2.2 divides a class-weighted loss by ``sum(class_weight[label])`` over every pixel, indexing
``class_weight`` with the ignore index (255) too: ``IndexError`` at the first ignored pixel (ADE20K's raw 0
'other', a raw 255, a crop's padding). This loss divides by the class weights of the pixels that are not
ignored, as ``F.cross_entropy(weight=...)`` averages; where no pixel is ignored it equals mmseg's.
"""
from __future__ import annotations

import torch
from mmseg.models.losses import CrossEntropyLoss
from mmseg.models.losses.cross_entropy_loss import cross_entropy
from mmseg.registry import MODELS

__all__ = ["ClassWeightedCrossEntropyLoss"]


def _weighted_mean_cross_entropy(pred: torch.Tensor, label: torch.Tensor, weight=None, class_weight=None,
                                 reduction: str = "mean", avg_factor=None, ignore_index: int = -100,
                                 avg_non_ignore: bool = False, **kwargs) -> torch.Tensor:
    """mmseg's ``cross_entropy``; a class-weighted mean divides by the class weights of the pixels not ignored.
    ``pred``: (N, C, H, W) logits, ``label``: (N, H, W) class ids."""
    if class_weight is not None and reduction == "mean" and avg_factor is None:
        avg_factor = class_weight[label[label != ignore_index]].sum()
    return cross_entropy(pred, label, weight, class_weight=class_weight, reduction=reduction, avg_factor=avg_factor,
                         ignore_index=ignore_index, avg_non_ignore=avg_non_ignore, **kwargs)


@MODELS.register_module()
class ClassWeightedCrossEntropyLoss(CrossEntropyLoss):
    """``CrossEntropyLoss`` (same arguments) whose softmax loss with ``class_weight`` takes ignored pixels; the
    sigmoid and mask variants are mmseg's."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        if self.cls_criterion is cross_entropy:
            self.cls_criterion = _weighted_mean_cross_entropy
