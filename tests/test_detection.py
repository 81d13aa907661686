"""Object detection / instance segmentation with MMDetection 3.x (object_detection/).

Every config of configs/wavemsa builds, trains one iteration and predicts on the CPU (with the tiny
backbone and small images, each config's detector otherwise unchanged); bad input gets clear errors;
checkpoints of the classification trainer convert and load into the detectors.
"""
from __future__ import annotations

import copy
import importlib.util
import json
import os
import sys
from pathlib import Path

import pytest
import torch

pytest.importorskip("mmdet", reason="the OpenMMLab stack is not installed (make install)")

ROOT = Path(__file__).resolve().parents[1]
DET = ROOT / "object_detection"
CONFIGS = sorted((DET / "configs" / "wavemsa").glob("*.py"))
DEMO_CONFIG = DET / "configs" / "demo" / "mask_rcnn_wavemsa_t_fpn_digits.py"
for p in (DET, ROOT / "datasets"):
    sys.path.insert(0, str(p))

import wavemsa_det  # noqa: E402,F401  (registers the backbone)
from mmdet.registry import DATASETS, MODELS  # noqa: E402
from mmengine.config import Config  # noqa: E402
from mmengine.dataset import pseudo_collate  # noqa: E402
from mmengine.optim import build_optim_wrapper  # noqa: E402
from mmengine.registry import init_default_scope  # noqa: E402
from wavemsa_det.cli import cpu_precision_fallback  # noqa: E402

TINY_DIMS = [32, 64, 128, 192]
DIGITS = tuple(str(k) for k in range(10))


@pytest.fixture(scope="session")
def coco_digits(tmp_path_factory) -> Path:
    """A tiny built-in COCO-format set (datasets/make_coco.py)."""
    from make_coco import make_coco

    out = tmp_path_factory.mktemp("coco_digits")
    make_coco(out, num_train=12, num_val=4, seed=3, min_size=96, max_size=128, max_objects=3)
    return out


def _shrink_scales(obj, small=(128, 96)):
    """Make every resize/crop of a pipeline small, keeping its structure (multi-scale stays multi-scale)."""
    if isinstance(obj, dict):
        out = {}
        for k, v in obj.items():
            if k == "scale":
                out[k] = [small, (small[0] + 32, small[1] + 32)] if isinstance(v, list) else small
            elif k == "scales":
                out[k] = [small, (small[0] + 32, small[1] + 32)]
            elif k == "crop_size":
                out[k] = (64, 96)
            else:
                out[k] = _shrink_scales(v, small)
        return out
    if isinstance(obj, (list, tuple)) and obj and isinstance(obj[0], (dict, list)):
        return [_shrink_scales(v, small) for v in obj]
    return obj


def _leaf(ds: dict) -> dict:
    while "dataset" in ds:
        ds = ds["dataset"]
    return ds


def _dataset(cfg_loader: dict, root: Path, split: str):
    ds = copy.deepcopy(_leaf(cfg_loader["dataset"]))
    ds.update(data_root=str(root), ann_file=f"annotations/instances_{split}.json",
              data_prefix=dict(img=f"{split}/"), metainfo=dict(classes=DIGITS),
              pipeline=_shrink_scales(ds["pipeline"]))
    return DATASETS.build(ds)


def _tiny(cfg: Config) -> Config:
    cfg.model.backbone.update(arch="t", init_cfg=None, drop_path_rate=0.0)
    cfg.model.neck.in_channels = TINY_DIMS
    return cfg


@pytest.mark.parametrize("config", CONFIGS, ids=[c.stem for c in CONFIGS])
def test_config_trains_one_iteration_and_predicts(config: Path, coco_digits: Path):
    cfg = Config.fromfile(str(config))
    # the published settings the config is for
    assert cfg.model.backbone.type == "WaveFormer" and cfg.model.backbone.arch in ("s", "b")
    assert cfg.model.backbone.init_cfg.checkpoint.endswith(f"wavemsa_{cfg.model.backbone.arch}_in1k.pth")
    assert cfg.optim_wrapper.optimizer.type == "AdamW"
    assert cfg.optim_wrapper.type == "AmpOptimWrapper"  # the originals train every config in fp16
    assert cfg.train_cfg.max_epochs == (36 if "3x" in config.stem else 12)
    assert cfg.train_dataloader.dataset.data_root.endswith("datasets/coco/")
    assert "wavemsa_det" in cfg.custom_imports.imports
    cpu_precision_fallback(cfg)
    assert torch.cuda.is_available() or cfg.optim_wrapper.type == "OptimWrapper"

    init_default_scope("mmdet")
    _tiny(cfg)
    model = MODELS.build(cfg.model)
    model.init_weights()
    assert model.backbone.out_channels == TINY_DIMS
    train_set = _dataset(cfg.train_dataloader, coco_digits, "train")
    batch = pseudo_collate([train_set[i] for i in range(2)])
    optim = build_optim_wrapper(model, cfg.optim_wrapper)
    stem = next(p for p in model.backbone.parameters() if p.requires_grad)
    before = stem.detach().clone()
    model.train()
    log_vars = model.train_step(batch, optim)
    assert log_vars["loss"].isfinite(), log_vars
    assert any("loss_" in k for k in log_vars)  # the parts (s0.loss_cls for Sparse R-CNN)
    assert not torch.equal(before, stem.detach()), "one optimizer step left the backbone unchanged"

    val_set = _dataset(cfg.val_dataloader, coco_digits, "val")
    model.eval()
    with torch.no_grad():
        preds = model.test_step(pseudo_collate([val_set[i] for i in range(2)]))
    assert len(preds) == 2
    for pred in preds:
        inst = pred.pred_instances
        h, w = pred.ori_shape
        assert inst.bboxes.ndim == 2 and inst.bboxes.shape[1] == 4
        assert len(inst.scores) == len(inst.labels) == len(inst.bboxes)
        assert torch.isfinite(inst.bboxes).all() and torch.isfinite(inst.scores).all()
        if "mask" in cfg.model.type.lower():
            assert inst.masks.shape[1:] == (h, w)


def _script(path: Path):
    """Import an entry-point script by path, under a name no other task folder uses."""
    spec = importlib.util.spec_from_file_location(f"wavemsa_det_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# ---------------------------------------------------------------- bad input

def _train(args: list[str]):
    return _script(DET / "train.py").main(args)


def _demo_args(root: Path, tmp_path: Path) -> list[str]:
    return [str(DEMO_CONFIG), "--data-root", str(root), "--work-dir", str(tmp_path / "work")]


def _broken_copy(src: Path, dst: Path, edit) -> Path:
    """Copy the built-in set (symlinked images) and apply ``edit`` to the train annotations."""
    (dst / "annotations").mkdir(parents=True)
    for split in ("train", "val"):
        (dst / split).symlink_to(src / split)
        coco = json.loads((src / "annotations" / f"instances_{split}.json").read_text())
        if split == "train":
            edit(coco)
        (dst / "annotations" / f"instances_{split}.json").write_text(json.dumps(coco))
    return dst


def test_missing_annotation_file_is_named(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match=r"annotation file not found: .*empty/annotations/instances_train"):
        _train(_demo_args(tmp_path / "empty", tmp_path))


def test_listed_but_absent_image_is_named(coco_digits, tmp_path):
    def add_ghost(coco):
        coco["images"].append({"id": 999, "file_name": "ghost_000999.jpg", "height": 100, "width": 100})

    root = _broken_copy(coco_digits, tmp_path / "d", add_ghost)
    with pytest.raises(FileNotFoundError, match=r"instances_train\.json: 1 listed image.*ghost_000999\.jpg"):
        _train(_demo_args(root, tmp_path))


def test_category_id_out_of_range_is_named(coco_digits, tmp_path):
    def bad_category(coco):
        coco["annotations"][0]["category_id"] = 99

    root = _broken_copy(coco_digits, tmp_path / "d", bad_category)
    with pytest.raises(ValueError, match=r"instances_train\.json: annotation id 1 .*category_id 99"):
        _train(_demo_args(root, tmp_path))


def test_classes_missing_from_annotation_file_are_named(coco_digits, tmp_path):
    def rename(coco):
        coco["categories"][3]["name"] = "three"

    root = _broken_copy(coco_digits, tmp_path / "d", rename)
    with pytest.raises(ValueError, match=r"classes 3 of the config are not category names"):
        _train(_demo_args(root, tmp_path))


def _demo_model(init_cfg):
    init_default_scope("mmdet")
    cfg = Config.fromfile(str(DEMO_CONFIG))
    cfg.model.backbone.init_cfg = init_cfg
    return MODELS.build(cfg.model)


def test_wrong_backbone_checkpoint_is_named(tmp_path):
    import timm

    small = timm.create_model("wavemsa_s", num_classes=10)  # another arch than the demo's 't'
    path = tmp_path / "wavemsa_s.pth"
    torch.save({"model": small.state_dict()}, path)
    model = _demo_model(dict(type="Pretrained", checkpoint=str(path)))
    with pytest.raises(ValueError, match=r"wavemsa_s\.pth does not fit .*shape mismatch: stages\."):
        model.init_weights()

    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match=r"junk\.pth: not a readable PyTorch checkpoint"):
        _demo_model(dict(type="Pretrained", checkpoint=str(junk))).init_weights()
    with pytest.raises(FileNotFoundError, match=r"checkpoint not found: .*absent\.pth"):
        _demo_model(dict(type="Pretrained", checkpoint=str(tmp_path / "absent.pth"))).init_weights()


# ---------------------------------------------------------------- checkpoint conversion

def test_convert_classification_checkpoint(tmp_path):
    import timm

    convert_checkpoint = _script(DET / "tools" / "convert_checkpoint.py")
    torch.manual_seed(1)
    plain = timm.create_model("wavemsa_t", num_classes=10)
    ema = timm.create_model("wavemsa_t", num_classes=10)
    src = tmp_path / "cls.pth"
    torch.save({"model": {f"module.{k}": v for k, v in plain.state_dict().items()},
                "model_ema": ema.state_dict(), "epoch": 3}, src)

    for use_ema, ref in ((False, plain), (True, ema)):
        dst = tmp_path / f"det_{use_ema}.pth"
        assert convert_checkpoint.convert(str(src), str(dst), use_ema=use_ema) == "t"  # arch from the shapes
        out = torch.load(dst, weights_only=True)
        assert out["meta"]["use_ema"] is use_ema and all(k.startswith("backbone.") for k in out["state_dict"])
        assert not any(".head." in k or "aux_head" in k for k in out["state_dict"])
        model = _demo_model(dict(type="Pretrained", checkpoint=str(dst)))
        model.init_weights()
        for key in ("stages.0.embed.conv.0.weight", "stages.3.norm.weight"):
            torch.testing.assert_close(model.backbone.state_dict()[key], ref.state_dict()[key])
    assert not os.path.exists(f"{dst}.tmp")

    with pytest.raises(SystemExit, match="no 'model_ema'"):
        torch.save({"model": plain.state_dict()}, tmp_path / "no_ema.pth")
        convert_checkpoint.main([str(tmp_path / "no_ema.pth"), str(tmp_path / "x.pth"), "--ema"])


def test_backbone_maps_feed_mmcv_roi_align_correctly():
    """mmcv's compiled RoIAlign reads its input as contiguous NCHW: the backbone's maps must give the same
    RoI features as torchvision's roi_align (channels_last maps made mmcv read garbage, and the demo's RoI
    heads never learned)."""
    from mmcv.ops import RoIAlign
    from torchvision.ops import roi_align

    from wavemsa.backbone import WaveFormerBackbone

    with torch.no_grad():
        feats = WaveFormerBackbone("t", out_indices=(0, 1)).eval()(torch.randn(2, 3, 96, 128))
    rois = torch.tensor([[0, 4.0, 5.0, 20.0, 17.0], [1, 0.0, 0.0, 31.0, 23.0]])
    for f in feats:
        ours = RoIAlign((7, 7), spatial_scale=1.0, sampling_ratio=2, aligned=True)(f, rois)
        ref = roi_align(f.contiguous(), rois, (7, 7), spatial_scale=1.0, sampling_ratio=2, aligned=True)
        torch.testing.assert_close(ours, ref, rtol=1e-5, atol=1e-5)
