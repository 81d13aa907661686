"""Segmentation as the shared entry points of :mod:`wavemsa.mm` see it (:class:`wavemsa.mm.task.Task`)."""
from __future__ import annotations

import argparse
import glob
import os
import os.path as osp
import shutil

import torch
from torch import nn

from wavemsa.errors import InputError
from wavemsa.mm.task import Task


class SegmentationTask(Task):
    name, scope, model_word = "segmentation", "mmseg", "segmentor"
    curve_metrics = ("mIoU", "mAcc", "aAcc")
    metric_label = "%"
    flops_shape = (512, 512)

    def paint_into(self, cfg, show_dir: str) -> None:
        """mmseg's ``SegVisualizationHook`` paints ground truth | prediction; its ``LocalVisBackend`` writes the
        PNGs under ``show_dir/vis_data/vis_image``, which ``after_test`` moves up into ``show_dir``."""
        cfg.visualizer.save_dir = show_dir
        # painted images are the point here: keep them out of TensorBoard event files
        cfg.visualizer.vis_backends = [dict(type="LocalVisBackend")]

    def after_test(self, args: argparse.Namespace) -> None:
        if not args.show_dir:
            return
        for src in sorted(glob.glob(osp.join(args.show_dir, "vis_data", "vis_image", "*.png"))):
            os.replace(src, osp.join(args.show_dir, osp.basename(src)))
        shutil.rmtree(osp.join(args.show_dir, "vis_data"), ignore_errors=True)

    def set_out(self, cfg, out: str) -> None:
        if os.path.exists(out) and not os.path.isdir(out):
            raise InputError(f"--out {out}: a file; segmentation predictions are saved into a folder")
        cfg.test_evaluator.update(output_dir=out, keep_results=True)

    def flops_model(self, cfg) -> nn.Module:
        """The segmentor without its auxiliary head (a training-only branch, left out as mmseg's tool does)."""
        from mmengine.model import revert_sync_batchnorm
        from mmseg.registry import MODELS

        cfg.model.pop("auxiliary_head", None)
        return revert_sync_batchnorm(MODELS.build(cfg.model))

    def flops_inputs(self, model: nn.Module, height: int, width: int) -> tuple[torch.Tensor, None]:
        return torch.randn(1, 3, height, width), None


TASK = SegmentationTask()
