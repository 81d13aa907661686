"""The detection and segmentation configs hold the originals' recipes, value by value.

``RECIPES`` holds, for every config of ``object_detection/configs/wavemsa`` and
``semantic_segmentation/configs/wavemsa``, the key values of the original it reproduces (jack-li123/WaveMSA;
YehLi/ImageNetModel where WaveMSA's repository lacks a piece; PVT's Semantic FPN recipe where neither has
a config), written in mmdet 3.x / mmseg 1.x terms and resolved through the originals' own ``_base_`` files
(MMDetection 2.x's schedule_1x: 500-iteration warm-up from 0.001x; mmseg 0.x's schedule_160k). Each config
is parsed with mmengine and compared with its row, so a drift fails. Where we differ on purpose the row
says so with :class:`Differs` (original, ours, why), and the folder README's table gives the reason.

Config parsing only, plus a few models built once (no training: tests/test_detection.py and
tests/test_segmentation.py train one iteration per config).
"""
from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any, NamedTuple

import pytest
import torch

pytest.importorskip("mmdet", reason="the OpenMMLab stack is not installed (make install)")
pytest.importorskip("mmseg", reason="the OpenMMLab stack is not installed (make install)")

from mmengine.config import Config  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DET = ROOT / "object_detection"
SEG = ROOT / "semantic_segmentation"
for p in (DET, SEG):
    sys.path.insert(0, str(p))
CONFIGS = {p.stem: p for folder in (DET, SEG) for p in sorted((folder / "configs" / "wavemsa").glob("*.py"))}


class Differs(NamedTuple):
    """A value we set differently from the original on purpose (the folder README says why)."""
    original: Any
    ours: Any
    why: str


# ------------------------------------------------------------------ what the originals set, by config

def detr_crop(long_edge: int) -> tuple:
    """The originals' 3x augmentation (AutoAugment of two policies), as flip -> choice of branches."""
    multi_scale = tuple((long_edge, s) for s in (480, 512, 544, 576, 608, 640, 672, 704, 736, 768, 800))
    return (("RandomFlip", 0.5),
            ("RandomChoice", ((("RandomChoiceResize", multi_scale),),
                              (("RandomChoiceResize", ((long_edge, 400), (long_edge, 500), (long_edge, 600))),
                               ("RandomCrop", "absolute_range", (384, 600), True),
                               ("RandomChoiceResize", multi_scale)))))


ABSENT = "<absent>"  # not set: the library's default applies
WAVE_STAGES = Differs(3, 2, "DESIGN.md: with WaveMSA in stages 1-2 the parameter counts match the paper")
DET_BACKBONE = {  # wavevit.py (detection): BN(requires_grad=False), train mode, drop path 0.1 (S and B)
    "model.backbone.type": "WaveFormer",
    "model.backbone.drop_path_rate": 0.1,
    "model.backbone.norm_eval": False,
    "model.backbone.bn_requires_grad": False,
    "model.backbone.frozen_stages": -1,
    "model.backbone.wave_stages": WAVE_STAGES,
    "model.backbone.init_cfg.use_ema": False,  # Pretrained/convert.py saves checkpoint['state_dict']
    "model.neck.out_channels": 256,
}
DET_COMMON = {
    **DET_BACKBONE,
    "optim_wrapper.optimizer.type": "AdamW",
    "optim_wrapper.optimizer.betas": (0.9, 0.999),
    "clip_grad": None,
    "fp16": 512.0,  # fp16 = dict(loss_scale=512.)
    "train_dataloader.batch_size": 2,  # samples_per_gpu=2 (coco_*.py)
    "auto_scale_lr.base_batch_size": 16,  # 8 GPUs x 2
    "find_unused_parameters": True,
    "test_aug": (("Resize", (1333, 800)),),  # MultiScaleFlipAug((1333, 800), flip=False) + CResize
    "model.data_preprocessor.pad_size_divisor": 32,
    "model.data_preprocessor.mean": [123.675, 116.28, 103.53],
}
DET_1X = {  # schedule_1x.py: warm-up 500 iterations from 0.001x, steps at 8 and 11, 12 epochs
    **DET_COMMON,
    "train_cfg.max_epochs": 12,
    "schedule": (("warmup", 500, 0.001), ("steps", (8, 11), 0.1)),
    "no_decay": (),
    "optim_wrapper.optimizer.weight_decay": 0.0001,
    "train_aug": (("Resize", (1333, 800)), ("RandomFlip", 0.5)),  # CResize((1333, 800)), RandomFlip(0.5)
}
DET_3X = {  # schedule_1x.py + lr_config step=[27, 33] + 36 epochs
    **DET_COMMON,
    "train_cfg.max_epochs": 36,
    "schedule": (("warmup", 500, 0.001), ("steps", (27, 33), 0.1)),
}
ADAMW_3X = {  # atss / gfl / cascade: optimizer dict with paramwise_cfg custom_keys
    "optim_wrapper.optimizer.lr": 0.0001,
    "optim_wrapper.optimizer.weight_decay": 0.05,
    "no_decay": ("absolute_pos_embed", "norm", "relative_position_bias_table"),
}
MASK_RCNN = {  # mmdet 2.x _base_/models/mask_rcnn_r50_fpn.py
    **DET_1X,
    "optim_wrapper.optimizer.lr": 0.0002,
    "model.type": "MaskRCNN",
    "model.neck.num_outs": 5,
    "model.rpn_head.loss_bbox.type": "L1Loss",
    "model.roi_head.bbox_head.type": "Shared2FCBBoxHead",
    "model.roi_head.bbox_head.loss_bbox.type": "L1Loss",
    "model.roi_head.mask_head.type": "FCNMaskHead",
    "model.train_cfg.rpn_proposal.max_per_img": 1000,
    "model.test_cfg.rcnn.max_per_img": 100,
}
RETINANET = {  # mmdet 2.x _base_/models/retinanet_r50_fpn.py
    **DET_1X,
    "optim_wrapper.optimizer.lr": 0.0001,
    "model.type": "RetinaNet",
    "model.neck.start_level": 1,
    "model.neck.add_extra_convs": "on_input",
    "model.bbox_head.type": "RetinaHead",
    "model.bbox_head.loss_cls.type": "FocalLoss",
    "model.bbox_head.loss_bbox.type": "L1Loss",
    "model.bbox_head.anchor_generator.octave_base_scale": 4,
}
ONE_STAGE_3X = {  # atss / gfl configs
    **DET_3X,
    **ADAMW_3X,
    "model.neck.start_level": 1,
    "model.neck.add_extra_convs": "on_output",
    "model.bbox_head.anchor_generator.octave_base_scale": 8,
    "model.bbox_head.loss_bbox.type": "GIoULoss",
    "model.bbox_head.loss_bbox.loss_weight": 2.0,
    "model.train_cfg.assigner.type": "ATSSAssigner",
    "model.train_cfg.assigner.topk": 9,
    "model.test_cfg.nms.iou_threshold": 0.6,
}

RECIPES: dict[str, dict[str, Any]] = {
    # jack-li123/WaveMSA object_detection/configs/wavemsa/mask_rcnn_wavemsa_s_fpn_1x_coco.py
    "mask_rcnn_wavemsa_s_fpn_1x_coco": {
        **MASK_RCNN, "model.backbone.arch": "s", "model.neck.in_channels": [64, 128, 320, 448]},
    # jack-li123/WaveMSA object_detection/configs/wavemsa/mask_rcnn_wavemsa_b_fpn_1x_coco.py
    "mask_rcnn_wavemsa_b_fpn_1x_coco": {
        **MASK_RCNN, "model.backbone.arch": "b", "model.neck.in_channels": [64, 128, 320, 512]},
    # jack-li123/WaveMSA object_detection/configs/wavemsa/retinanet_wavemsa_s_fpn_1x_coco.py
    "retinanet_wavemsa_s_fpn_1x_coco": {
        **RETINANET, "model.backbone.arch": "s", "model.neck.in_channels": [64, 128, 320, 448]},
    # jack-li123/WaveMSA object_detection/configs/wavemsa/retinanet_wavemsa_b_fpn_1x_coco.py
    "retinanet_wavemsa_b_fpn_1x_coco": {
        **RETINANET, "model.backbone.arch": "b", "model.neck.in_channels": [64, 128, 320, 512]},
    # jack-li123/WaveMSA object_detection/configs/wavemsa/atss_wavemsa_s_fpn_3x_mstrain_fp16.py
    "atss_wavemsa_s_fpn_3x_mstrain_fp16": {
        **ONE_STAGE_3X,
        "model.backbone.arch": "s",
        "model.neck.in_channels": [64, 128, 320, 448],
        "model.type": "ATSS",
        "model.bbox_head.type": "ATSSHead",
        "model.bbox_head.loss_cls.type": "FocalLoss",
        "model.bbox_head.loss_centerness.type": "CrossEntropyLoss",
        "train_aug": detr_crop(1333),
    },
    # jack-li123/WaveMSA object_detection/configs/wavemsa/gfl_wavemsa_s_fpn_3x_mstrain_fp16.py
    "gfl_wavemsa_s_fpn_3x_mstrain_fp16": {
        **ONE_STAGE_3X,
        "model.backbone.arch": "s",
        "model.neck.in_channels": [64, 128, 320, 448],
        "model.type": "GFL",
        "model.bbox_head.type": "GFLHead",
        "model.bbox_head.loss_cls.type": "QualityFocalLoss",
        "model.bbox_head.loss_dfl.type": "DistributionFocalLoss",
        "model.bbox_head.loss_dfl.loss_weight": 0.25,
        "model.bbox_head.reg_max": 16,
        "train_aug": detr_crop(1200),  # GFL's longer side is 1200
    },
    # jack-li123/WaveMSA object_detection/configs/wavemsa/cascade_mask_rcnn_wavemsa_s_fpn_3x_mstrain_fp16.py
    # on its _base_/models/cascade_mask_rcnn_vit_fpn.py
    "cascade_mask_rcnn_wavemsa_s_fpn_3x_mstrain_fp16": {
        **DET_3X,
        **ADAMW_3X,
        "model.backbone.arch": "s",
        "model.neck.in_channels": [64, 128, 320, 448],
        "model.type": "CascadeRCNN",
        "model.rpn_head.loss_bbox.type": "SmoothL1Loss",
        "model.roi_head.stage_loss_weights": [1, 0.5, 0.25],
        "model.roi_head.bbox_head[*].type": ("ConvFCBBoxHead",) * 3,
        "model.roi_head.bbox_head[*].num_shared_convs": (4,) * 3,
        "model.roi_head.bbox_head[*].num_shared_fcs": (1,) * 3,
        "model.roi_head.bbox_head[*].norm_cfg.type": ("SyncBN",) * 3,
        "model.roi_head.bbox_head[*].reg_class_agnostic": (False,) * 3,
        "model.roi_head.bbox_head[*].reg_decoded_bbox": (True,) * 3,
        "model.roi_head.bbox_head[*].loss_bbox.type": ("GIoULoss",) * 3,
        "model.roi_head.bbox_head[*].loss_bbox.loss_weight": (10.0,) * 3,
        "model.roi_head.bbox_head[*].bbox_coder.target_stds": (
            [0.1, 0.1, 0.2, 0.2], [0.05, 0.05, 0.1, 0.1], [0.033, 0.033, 0.067, 0.067]),
        "model.roi_head.mask_head.type": "FCNMaskHead",
        "model.train_cfg.rcnn[*].assigner.pos_iou_thr": (0.5, 0.6, 0.7),
        "model.train_cfg.rpn_proposal.max_per_img": 2000,
        "model.train_cfg.rcnn[*].assigner.gpu_assign_thr": Differs(
            (1, 1, 1), ABSENT, "mmdet's default -1; where the IoUs are computed only (1: on the CPU)"),
        "train_aug": detr_crop(1333),
    },
    # jack-li123/WaveMSA object_detection/configs/wavemsa/
    #   sparse_rcnn_wavemsa_s_fpn_300_proposals_crop_mstrain_480-800_3x_coco.py
    "sparse_rcnn_wavemsa_s_fpn_300_proposals_crop_mstrain_480-800_3x_coco": {
        **DET_3X,
        "model.backbone.arch": "s",
        "model.neck.in_channels": [64, 128, 320, 448],
        "model.neck.start_level": 0,
        "model.neck.num_outs": 4,
        "model.type": "SparseRCNN",
        "model.rpn_head.num_proposals": 300,
        "model.roi_head.num_stages": 6,
        "model.roi_head.bbox_head[*].type": ("DIIHead",) * 6,
        "model.roi_head.bbox_head[*].loss_cls.type": ("FocalLoss",) * 6,
        "model.roi_head.bbox_head[*].loss_bbox.loss_weight": (5.0,) * 6,
        "model.roi_head.bbox_head[*].loss_iou.type": ("GIoULoss",) * 6,
        "model.test_cfg.rcnn.max_per_img": 300,
        "optim_wrapper.optimizer.lr": 0.000025 / 1.25,
        "optim_wrapper.optimizer.weight_decay": 0.0001,
        "clip_grad": {"max_norm": 1, "norm_type": 2},
        "no_decay": (),
        "train_dataloader.batch_size": 1,  # samples_per_gpu=1
        "train_dataloader.num_workers": 1,
        "auto_scale_lr.base_batch_size": 8,  # 8 GPUs x 1
        "find_unused_parameters": False,  # commented out in the original
        "train_aug": detr_crop(1333),
    },
}

SEG_COMMON = {  # mmseg 0.x configs: cade20k.py (ADE20K), WaveViT backbone (BN(requires_grad=False))
    "model.backbone.type": "WaveFormer",
    "model.backbone.norm_eval": False,
    "model.backbone.bn_requires_grad": False,
    "model.backbone.wave_stages": WAVE_STAGES,
    "model.backbone.init_cfg.use_ema": False,  # the originals' convert.py: checkpoint['state_dict']
    "model.data_preprocessor.size": (512, 512),
    "model.data_preprocessor.seg_pad_val": 255,
    "model.test_cfg.mode": "whole",
    "train_dataloader.dataset.type": "CheckedADE20KDataset",  # mmseg's ADE20KDataset (reduce_zero_label)
    "train_aug": (("RandomResize", (2048, 512), (0.5, 2.0)), ("RandomCrop", (512, 512), 0.75),
                  ("RandomFlip", 0.5), ("PhotoMetricDistortion",)),
    "test_aug": (("Resize", (2048, 512)),),  # MultiScaleFlipAug((2048, 512), flip=False) + CResize
    "optim_wrapper.optimizer.type": "AdamW",
    "optim_wrapper.optimizer.betas": (0.9, 0.999),
}
UPERNET = {  # upernet_wavevit.py + wavemsa_s_512x512_160k_ade20k.py on mmseg 0.x's schedule_160k.py
    **SEG_COMMON,
    "model.decode_head.type": "UPerHead",
    "model.decode_head.channels": 512,
    "model.decode_head.pool_scales": (1, 2, 3, 6),
    "model.decode_head.norm_cfg.type": "SyncBN",
    "model.auxiliary_head.type": "FCNHead",
    "model.auxiliary_head.in_index": 2,
    "model.auxiliary_head.loss_decode.loss_weight": 0.4,
    "optim_wrapper.optimizer.lr": 6e-5,
    "optim_wrapper.optimizer.weight_decay": 0.01,
    "no_decay": ("absolute_pos_embed", "norm", "relative_position_bias_table"),
    "fp16": 512.0,  # Fp16OptimizerHook(loss_scale=512.)
    "schedule": (("warmup", 1500, 1e-6), ("poly", 1.0, 0.0, 0, 160000)),
    "train_cfg.max_iters": 160000,
    "train_cfg.val_interval": 16000,
    "default_hooks.checkpoint.interval": 16000,
    "train_dataloader.batch_size": 2,  # samples_per_gpu=2
    "auto_scale_lr.base_batch_size": 16,  # 8 GPUs x 2
}
SEMANTIC_FPN = {  # no original config: whai362/PVT segmentation/configs/sem_fpn/PVT/fpn_pvt_s_ade20k_40k.py
    **SEG_COMMON,
    "model.backbone.drop_path_rate": 0.1,
    "model.neck.type": "FPN",
    "model.neck.out_channels": 256,
    "model.neck.num_outs": 4,
    "model.decode_head.type": "FPNHead",
    "model.decode_head.channels": 128,
    "optim_wrapper.optimizer.lr": 2e-4,  # 0.0001 * gpu_multiples (2)
    "optim_wrapper.optimizer.weight_decay": 1e-4,
    "no_decay": (),
    "fp16": None,
    "schedule": (("poly", 0.9, 0.0, 0, 40000),),
    "train_cfg.max_iters": 40000,
    "train_cfg.val_interval": 4000,
    "default_hooks.checkpoint.interval": 4000,
    "train_dataloader.batch_size": 4,  # samples_per_gpu=4
    "auto_scale_lr.base_batch_size": 32,  # 8 GPUs x 4
    "test_aug": Differs((("AlignResize", (2048, 512), 32),), (("Resize", (2048, 512)),),
                        "PVT's AlignResize rounds sides to multiples of 32, which our backbone does not need"),
}
RECIPES.update({
    # jack-li123/WaveMSA semantic_sgemention/configs/wavemsa/wavemsa_s_512x512_160k_ade20k.py
    "wavemsa_s_512x512_160k_ade20k": {
        **UPERNET, "model.backbone.arch": "s", "model.backbone.drop_path_rate": 0.1,
        "model.decode_head.in_channels": [64, 128, 320, 448]},
    # YehLi/ImageNetModel semantic_segmentation/configs/wavevit/upernet_wavevit_b_512x512_160k_ade20k.py
    "wavemsa_b_512x512_160k_ade20k": {
        **UPERNET, "model.backbone.arch": "b", "model.backbone.drop_path_rate": 0.3,
        "model.decode_head.in_channels": [64, 128, 320, 512]},
    "fpn_wavemsa_s_512x512_40k_ade20k": {
        **SEMANTIC_FPN, "model.backbone.arch": "s", "model.neck.in_channels": [64, 128, 320, 448]},
    "fpn_wavemsa_b_512x512_40k_ade20k": {
        **SEMANTIC_FPN, "model.backbone.arch": "b", "model.neck.in_channels": [64, 128, 320, 512]},
})


# ------------------------------------------------------------------ reading a resolved config

def _get(node: Any, path: str) -> Any:
    """``a.b[2].c`` of a config; ``[*]`` maps the rest of the path over a list (a tuple comes back)."""
    head, _, rest = path.partition(".")
    m = re.fullmatch(r"(\w+)(?:\[(\d+|\*)\])?", head)
    assert m, f"bad path {path!r}"
    node = node[m.group(1)]  # KeyError: the config lacks it
    if m.group(2) == "*":
        return tuple(_get(item, rest) if rest else item for item in node)
    if m.group(2) is not None:
        node = node[int(m.group(2))]
    return _get(node, rest) if rest else node


def _plain(value: Any) -> Any:
    """ConfigDict / list / tuple -> dict / list / tuple of plain values, for comparisons."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, tuple):
        return tuple(_plain(v) for v in value)
    return value


def _long_short(scale) -> tuple[int, int]:
    """A keep-ratio scale as (longer, shorter): mmcv reads (w, h) and (h, w) alike when keeping ratio."""
    return max(scale), min(scale)


def _aug(pipeline: list) -> tuple:
    """The augmenting steps of a pipeline (loading, checks and packing left out), compactly."""
    out = []
    for t in pipeline:
        kind = t["type"]
        if kind in ("Resize", "RandomChoiceResize", "RandomResize"):
            assert t.get("keep_ratio", False), f"{kind} without keep_ratio"
        if kind == "Resize":
            out.append((kind, tuple(t["scale"])))
        elif kind == "RandomChoiceResize":
            out.append((kind, tuple(_long_short(s) for s in t["scales"])))
        elif kind == "RandomResize":
            out.append((kind, tuple(t["scale"]), tuple(t["ratio_range"])))
        elif kind == "RandomCrop" and "crop_type" in t:  # mmdet
            out.append((kind, t["crop_type"], tuple(t["crop_size"]), t["allow_negative_crop"]))
        elif kind == "RandomCrop":  # mmseg
            out.append((kind, tuple(t["crop_size"]), t["cat_max_ratio"]))
        elif kind == "RandomFlip":
            out.append((kind, t["prob"]))
        elif kind == "RandomChoice":
            out.append((kind, tuple(_aug(branch) for branch in t["transforms"])))
        elif kind == "PhotoMetricDistortion":
            out.append((kind,))
        elif not (kind.startswith(("Load", "Pack")) or kind == "CheckSegMap"):
            pytest.fail(f"unknown transform {kind}: describe it in _aug")
    return tuple(out)


def _schedule(cfg: Config) -> tuple:
    """The learning-rate schedule: warm-up (iterations, start factor), steps, poly (power, floor, span)."""
    out = []
    for s in cfg.param_scheduler:
        if s["type"] == "LinearLR":
            assert not s["by_epoch"] and s["begin"] == 0
            out.append(("warmup", s["end"], s["start_factor"]))
        elif s["type"] == "MultiStepLR":
            assert s["by_epoch"] and s["begin"] == 0 and s["end"] == cfg.train_cfg.max_epochs
            out.append(("steps", tuple(s["milestones"]), s["gamma"]))
        elif s["type"] == "PolyLR":
            assert not s["by_epoch"]
            out.append(("poly", s["power"], s["eta_min"], s["begin"], s["end"]))
        else:
            pytest.fail(f"unknown scheduler {s['type']}: describe it in _schedule")
    return tuple(out)


def _no_decay(cfg: Config) -> tuple:
    """What skips weight decay: custom_keys with decay_mult 0 (matched in parameter names)."""
    paramwise = cfg.optim_wrapper.get("paramwise_cfg") or {}
    assert set(paramwise) <= {"custom_keys"}, f"paramwise_cfg {paramwise}: the originals use custom_keys only"
    return tuple(sorted(k for k, v in paramwise.get("custom_keys", {}).items() if v.get("decay_mult", 1) == 0))


def summary(cfg: Config, key: str) -> Any:
    """The value a RECIPES row names: a computed summary or a dotted path of the config."""
    ow = cfg.optim_wrapper
    computed = {
        "fp16": lambda: ow.get("loss_scale") if ow.type == "AmpOptimWrapper" else None,
        "clip_grad": lambda: _plain(ow.get("clip_grad")),
        "no_decay": lambda: _no_decay(cfg),
        "schedule": lambda: _schedule(cfg),
        "train_aug": lambda: _aug(cfg.train_dataloader.dataset.pipeline),
        "test_aug": lambda: _aug(cfg.test_dataloader.dataset.pipeline),
        "find_unused_parameters": lambda: cfg.get("find_unused_parameters", False),
    }
    if key in computed:
        return computed[key]()
    try:
        return _plain(_get(cfg, key))
    except KeyError:
        return ABSENT


def load(name: str) -> Config:
    return Config.fromfile(str(CONFIGS[name]))


# ------------------------------------------------------------------ the tests

def test_every_config_has_a_recipe_row():
    assert set(RECIPES) == set(CONFIGS), "a config without a RECIPES row (or a row without its config)"


@pytest.mark.parametrize("name", sorted(RECIPES))
def test_config_holds_the_original_recipe(name: str):
    cfg = load(name)
    wrong = []
    for key, want in RECIPES[name].items():
        expected = want.ours if isinstance(want, Differs) else want
        got = summary(cfg, key)
        if got != expected:
            wrong.append(f"{key}: config has {got!r}, recipe {expected!r}")
    assert not wrong, f"{name} drifted from its recipe:\n  " + "\n  ".join(wrong)


def test_the_b_configs_differ_from_s_only_where_the_originals_do():
    """B = S with the B backbone (and, for UperNet, drop path 0.3): no other value drifts apart."""
    for s_name in [n for n in RECIPES if "_s_" in n]:
        b_name = s_name.replace("_s_", "_b_")
        if b_name not in RECIPES:
            continue
        s, b = (_without_backbone_choice(_plain(load(n).to_dict())) for n in (s_name, b_name))
        assert s == b, f"{b_name} differs from {s_name} beyond the backbone"


def _without_backbone_choice(cfg: dict) -> dict:
    """``cfg`` less what picks the backbone size: arch, checkpoint, drop path, its output channels."""
    backbone = cfg["model"]["backbone"]
    for key in ("arch", "drop_path_rate"):
        del backbone[key]
    del backbone["init_cfg"]["checkpoint"]
    for key in ("checkpoint_file", "pretrained"):
        cfg.pop(key, None)
    for part in ("neck", "decode_head", "auxiliary_head"):
        cfg["model"].get(part, {}).pop("in_channels", None)
    return cfg


def _named_decay(model: torch.nn.Module, cfg: Config) -> dict[str, float]:
    """Weight decay of each parameter the optimizer of ``cfg`` updates, by parameter name."""
    from mmengine.optim import build_optim_wrapper

    # the parameter groups do not depend on fp16
    optim_wrapper = {k: v for k, v in _plain(cfg.optim_wrapper.to_dict()).items() if k != "loss_scale"}
    optim_wrapper["type"] = "OptimWrapper"
    groups = build_optim_wrapper(model, optim_wrapper).optimizer.param_groups
    by_id = {id(p): g["weight_decay"] for g in groups for p in g["params"]}
    return {n: by_id[id(p)] for n, p in model.named_parameters() if id(p) in by_id}


def test_weight_decay_skips_what_the_originals_skip():
    """custom_keys={'norm': decay_mult 0} reaches, in a full-size detector, the backbone's LayerNorms named
    norm* (as in the originals: not the LayerNorm inside attn.kv) and nothing else; the backbone's
    BatchNorms are frozen (not in the optimizer); everything else keeps weight decay 0.05."""
    from mmdet.registry import MODELS
    from mmengine.registry import init_default_scope

    import wavemsa_det  # noqa: F401  (registers the backbone)

    init_default_scope("mmdet")
    cfg = load("atss_wavemsa_s_fpn_3x_mstrain_fp16")
    cfg.model.backbone.init_cfg = None
    model = MODELS.build(cfg.model)
    decay = _named_decay(model, cfg)
    modules = dict(model.named_modules())
    owner = {n: modules[n.rsplit(".", 1)[0]] for n, _ in model.named_parameters()}
    no_decay = {n for n, wd in decay.items() if wd == 0.0}
    assert no_decay == {n for n in decay if "norm" in n}
    assert no_decay and all(isinstance(owner[n], torch.nn.LayerNorm) for n in no_decay)
    kv_norms = [n for n in decay if ".attn.kv.0." in n]
    assert kv_norms and all(decay[n] == 0.05 for n in kv_norms)
    frozen = {n for n, p in model.named_parameters() if not p.requires_grad}
    assert frozen and frozen == {n for n in owner if isinstance(owner[n], torch.nn.BatchNorm2d)
                                 and n.startswith("backbone.")}
    assert frozen.isdisjoint(decay)
    assert all(decay[n] == 0.05 for n in decay if n not in no_decay)


@pytest.mark.parametrize("name, scope", [("mask_rcnn_wavemsa_s_fpn_1x_coco", "mmdet"),
                                         ("wavemsa_s_512x512_160k_ade20k", "mmseg")])
def test_wave_stages_switch_builds_the_published_reading(name: str, scope: str):
    """--cfg-options model.backbone.wave_stages=3 runs the published code's stages 1-3 reading."""
    from mmengine.registry import MODELS, init_default_scope

    from wavemsa.attention import WaveAttention

    cfg = load(name)  # imports the folder's plug-in (custom_imports), which registers the backbone
    cfg.merge_from_dict({"model.backbone.wave_stages": 3, "model.backbone.init_cfg": None})
    init_default_scope(scope)
    backbone = MODELS.build(cfg.model.backbone)
    wave = [any(isinstance(m, WaveAttention) for m in stage.modules()) for stage in backbone.stages]
    assert wave == [True, True, True, False]
    x = torch.randn(1, 3, 64, 96)
    assert [f.shape[-2:] for f in backbone(x)] == [(16, 24), (8, 12), (4, 6), (2, 3)]


def test_configs_load_the_weights_they_say(tmp_path: Path):
    """init_cfg.use_ema=False (every config: RECIPES) takes the checkpoint's ``model`` weights; True takes
    ``model_ema``."""
    from wavemsa.backbone import WaveFormerBackbone

    cfg = load("wavemsa_s_512x512_160k_ade20k")
    args = {k: v for k, v in cfg.model.backbone.items() if k not in ("type", "_delete_")}
    args.update(arch="t", init_cfg=None)
    plain, ema = WaveFormerBackbone(**args).state_dict(), WaveFormerBackbone(**args).state_dict()
    w = "stages.0.embed.proj.weight"
    assert not torch.equal(plain[w], ema[w])
    ckpt = tmp_path / "classifier.pth"
    torch.save({"model": plain, "model_ema": ema}, ckpt)
    for use_ema, source in ((cfg.model.backbone.init_cfg.use_ema, plain), (True, ema)):
        args["init_cfg"] = dict(cfg.model.backbone.init_cfg, checkpoint=str(ckpt), use_ema=use_ema)
        backbone = WaveFormerBackbone(**args)
        backbone.init_weights()
        assert torch.equal(backbone.state_dict()[w], source[w])
