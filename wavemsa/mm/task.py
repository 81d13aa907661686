"""What differs between the detection and the segmentation entry points, as one small interface.

Each plug-in defines its task (``wavemsa_det.task.TASK``, ``wavemsa_seg.task.TASK``); the shared entry points
(:mod:`wavemsa.mm.train`, :mod:`wavemsa.mm.evaluate`, :mod:`wavemsa.mm.flops`) take the task by name.
"""
from __future__ import annotations

import argparse
import importlib

import torch
from torch import nn

from ..errors import InputError

__all__ = ["PLUGINS", "Task", "get_task"]

PLUGINS = {"detection": "wavemsa_det", "segmentation": "wavemsa_seg"}


class Task:
    """A framework (MMDetection or MMSegmentation) as the shared entry points see it.

    Attributes:
        name: 'detection' | 'segmentation'.
        scope: the registry scope, 'mmdet' | 'mmseg'.
        model_word: what the framework builds ('detector', 'segmentor'), for messages.
        curve_metrics: validation metrics drawn in ``training_curves.png``.
        metric_label: their unit, for the plot.
        flops_shape: default (H, W) of ``get_flops``.
    """

    name = scope = model_word = metric_label = ""
    curve_metrics: tuple[str, ...] = ()
    flops_shape: tuple[int, int] = (512, 512)

    def enable_visualization(self, cfg, args: argparse.Namespace) -> None:
        """``test.py --show / --show-dir DIR / --show-interval N``: the config's visualization hook paints the
        predictions (every N-th image), shows them or saves them into DIR (:meth:`paint_into`)."""
        if "visualization" not in cfg.get("default_hooks", {}):
            raise InputError("--show / --show-dir need a visualization hook in the config's default_hooks")
        hook = cfg.default_hooks.visualization
        hook.draw = True
        if args.show_interval:
            hook.interval = args.show_interval
        if args.show:
            hook.update(show=True, wait_time=args.wait_time)
        if args.show_dir:
            self.paint_into(cfg, args.show_dir)

    def paint_into(self, cfg, show_dir: str) -> None:
        """Make the visualization hook save the painted predictions into ``show_dir``."""
        raise NotImplementedError

    def after_test(self, args: argparse.Namespace) -> None:
        """Anything left to do on rank 0 after ``runner.test()`` (e.g. collect painted images)."""

    def set_out(self, cfg, out: str) -> None:
        """``test.py --out OUT``: also save the raw predictions."""
        raise NotImplementedError

    def flops_model(self, cfg) -> nn.Module:
        """The model of ``cfg`` as it runs at inference, for counting (no pretrained weights loaded)."""
        raise NotImplementedError

    def flops_inputs(self, model: nn.Module, height: int, width: int) -> tuple[torch.Tensor, list | None]:
        """A (1, 3, H', W') input (padded as the data preprocessor would) and its data samples."""
        raise NotImplementedError


def get_task(name: str) -> Task:
    """The task of a plug-in by name ('detection' or 'segmentation'); imports the plug-in."""
    return importlib.import_module(f"{PLUGINS[name]}.task").TASK
