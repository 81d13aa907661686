"""Detection as the shared entry points of :mod:`wavemsa.mm` see it (:class:`wavemsa.mm.task.Task`)."""
from __future__ import annotations

import os
import os.path as osp

import torch
from torch import nn

from wavemsa.errors import InputError
from wavemsa.mm.task import Task


class DetectionTask(Task):
    name, scope, model_word = "detection", "mmdet", "detector"
    curve_metrics = ("coco/bbox_mAP", "coco/bbox_mAP_50", "coco/segm_mAP", "coco/segm_mAP_50")
    metric_label = "COCO AP"
    flops_shape = (800, 1280)  # (H, W): MMDetection's 1280x800

    def paint_into(self, cfg, show_dir: str) -> None:
        # absolute: DetVisualizationHook joins a relative folder under <work dir>/<timestamp>
        cfg.default_hooks.visualization.test_out_dir = osp.abspath(show_dir)

    def set_out(self, cfg, out: str) -> None:
        if not out.endswith((".pkl", ".pickle")) or os.path.isdir(out):
            raise InputError(f"--out {out}: detection predictions are saved as one .pkl file (mmdet's DumpDetResults)")
        evaluators = cfg.test_evaluator if isinstance(cfg.test_evaluator, list) else [cfg.test_evaluator]
        cfg.test_evaluator = [*evaluators, dict(type="DumpDetResults", out_file_path=out)]

    def flops_model(self, cfg) -> nn.Module:
        from mmdet.registry import MODELS
        from mmengine.model import revert_sync_batchnorm

        model = MODELS.build(cfg.model)
        model.init_weights()  # e.g. Sparse R-CNN's learned proposals start as whole-image boxes
        return revert_sync_batchnorm(model)

    def flops_inputs(self, model: nn.Module, height: int, width: int) -> tuple[torch.Tensor, list]:
        from mmdet.structures import DetDataSample
        from mmengine.structures import InstanceData

        div = getattr(model.data_preprocessor, "pad_size_divisor", 1) or 1
        h, w = -(-height // div) * div, -(-width // div) * div
        sample = DetDataSample(metainfo=dict(img_shape=(h, w), ori_shape=(h, w), pad_shape=(h, w),
                                             batch_input_shape=(h, w), scale_factor=(1.0, 1.0)))
        # query-based heads (Sparse R-CNN) read the (here empty) ground truth even in tensor mode
        sample.gt_instances = InstanceData(bboxes=torch.zeros(0, 4), labels=torch.zeros(0, dtype=torch.long))
        return torch.randn(1, 3, h, w), [sample]


TASK = DetectionTask()
