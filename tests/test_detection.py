"""Object detection / instance segmentation with MMDetection 3.x (object_detection/).

Every config of configs/wavemsa holds its published settings, and each detector builds, trains one iteration
and predicts on the CPU (with the tiny backbone, small images and few RoIs, each config's detector otherwise
unchanged); bad data and bad checkpoints get
one-line errors (InputError) before the runner starts; checkpoints of the classification trainer convert and
load into the detectors (EMA weights when the config says so); get_flops counts the backbone as the library.
"""
from __future__ import annotations

import copy
import json
import os
import re
import sys
from pathlib import Path

import pytest
import torch

pytest.importorskip("mmdet", reason="the OpenMMLab stack is not installed (make install)")

ROOT = Path(__file__).resolve().parents[1]
DET = ROOT / "object_detection"
CONFIGS = sorted((DET / "configs" / "wavemsa").glob("*.py"))
DEMO_CONFIG = DET / "configs" / "demo" / "mask_rcnn_wavemsa_t_fpn_digits.py"
sys.path.insert(0, str(ROOT / "datasets"))

from mmdet.registry import DATASETS, MODELS  # noqa: E402
from mmengine.config import Config  # noqa: E402
from mmengine.dataset import pseudo_collate  # noqa: E402
from mmengine.optim import build_optim_wrapper  # noqa: E402
from mmengine.registry import init_default_scope  # noqa: E402

import wavemsa_det  # noqa: E402, F401  (registers the backbone, CheckedCocoDataset; installed by make install)
from wavemsa.errors import InputError  # noqa: E402
from wavemsa.mm import evaluate, train  # noqa: E402
from wavemsa.mm.device import adapt_to_device  # noqa: E402
from wavemsa_det.task import TASK  # noqa: E402

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
    _few_rois(cfg.model)
    return cfg


def _few_rois(obj, most: int = 64) -> None:
    """At most ``most`` RoIs sampled per image and stage, proposals kept and boxes scored per image (the counts
    only: assigners, samplers, NMS and heads stay as configured). A few objects per small image need no more; the
    configs' 512 RoIs x 3 stages, 1000 proposals (300 learnt ones for Sparse R-CNN) are most of a step's time."""
    if isinstance(obj, (list, tuple)):
        for v in obj:
            _few_rois(v, most)
    elif isinstance(obj, dict):
        for k, v in obj.items():
            if k in ("num", "nms_pre", "max_per_img", "num_proposals") and isinstance(v, int) and v > most:
                obj[k] = most
            else:
                _few_rois(v, most)


# The B configs differ from the S ones only in the backbone arch and channels (test_recipes.py:
# test_the_b_configs_differ_from_s_only_where_the_originals_do), which the small run replaces by the tiny ones:
# their small runs would repeat the S runs. test_config_holds_the_published_settings checks every config.
SMALL_RUN_CONFIGS = [c for c in CONFIGS if "_b_" not in c.name]


@pytest.mark.parametrize("config", CONFIGS, ids=[c.stem for c in CONFIGS])
def test_config_holds_the_published_settings(config: Path):
    from wavemsa.backbone import WaveFormerBackbone

    cfg = Config.fromfile(str(config))
    assert cfg.model.backbone.type == "WaveFormer" and cfg.model.backbone.arch in ("s", "b")
    assert cfg.model.backbone.init_cfg.checkpoint.endswith(f"wavemsa_{cfg.model.backbone.arch}_in1k.pth")
    assert list(cfg.model.neck.in_channels) == WaveFormerBackbone(arch=cfg.model.backbone.arch).out_channels
    assert cfg.optim_wrapper.optimizer.type == "AdamW"
    assert cfg.optim_wrapper.type == "AmpOptimWrapper"  # the originals train every config in fp16
    assert cfg.train_cfg.max_epochs == (36 if "3x" in config.stem else 12)
    assert cfg.train_dataloader.dataset.data_root.endswith("datasets/coco/")
    assert "wavemsa_det" in cfg.custom_imports.imports
    cfg.launcher = "none"
    adapt_to_device(cfg)  # fp16 and SyncBN configs run on the CPU
    assert torch.cuda.is_available() or cfg.optim_wrapper.type == "OptimWrapper"


@pytest.mark.parametrize("config", SMALL_RUN_CONFIGS, ids=[c.stem for c in SMALL_RUN_CONFIGS])
def test_config_trains_one_iteration_and_predicts(config: Path, coco_digits: Path):
    cfg = Config.fromfile(str(config))
    cfg.launcher = "none"
    adapt_to_device(cfg)  # fp16 and SyncBN configs run on the CPU
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


# ---------------------------------------------------------------- bad input

def _train(args: list[str]):
    return train.main(args, "detection")


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
    with pytest.raises(InputError, match=r"annotation file not found: .*empty/annotations/instances_train"):
        _train(_demo_args(tmp_path / "empty", tmp_path))


def test_category_id_out_of_range_is_named_by_mmengines_own_runner(coco_digits, tmp_path):
    """The check lives in the config's dataset (CheckedCocoDataset): MMDetection's own tools/train.py, which is
    Runner.from_cfg(cfg).train(), gets it without the project's entry point."""
    from mmengine.runner import Runner

    def bad_category(coco):
        coco["annotations"][0]["category_id"] = 99

    cfg = _demo_config(_broken_copy(coco_digits, tmp_path / "d", bad_category))
    cfg.work_dir = str(tmp_path / "work")
    runner = Runner.from_cfg(cfg)
    with pytest.raises(InputError, match=r"instances_train\.json: annotation id 1 .*category_id 99"):
        runner.train()
    assert not list((tmp_path / "work").glob("epoch_*.pth"))


def test_classes_missing_from_annotation_file_are_named(coco_digits, tmp_path):
    def rename(coco):
        coco["categories"][3]["name"] = "three"

    root = _broken_copy(coco_digits, tmp_path / "d", rename)
    with pytest.raises(InputError, match=r"classes 3 of the config are not category names"):
        _train(_demo_args(root, tmp_path))


def _set(path: str, value):
    """An edit that sets coco[a][i][b]... = value for path 'a.i.b' (a missing last key: delete with value=KeyError)."""
    def edit(coco):
        *head, last = [int(k) if k.isdigit() else k for k in path.split(".")]
        target = coco
        for k in head:
            target = target[k]
        if value is KeyError:
            del target[last]
        else:
            target[last] = value
    return edit


def _duplicate_first_image_id(coco):
    coco["images"][1]["id"] = coco["images"][0]["id"]  # its annotations now point at another file


BOX_PIPELINE = [dict(type="LoadImageFromFile"), dict(type="LoadAnnotations", with_bbox=True),
                dict(type="PackDetInputs")]


def _checked(root: Path, split: str = "train", test_mode: bool = False, pipeline: list = BOX_PIPELINE):
    """The plug-in's CheckedCocoDataset on a split of ``root`` (the digit classes)."""
    init_default_scope("mmdet")
    return DATASETS.build(dict(type="CheckedCocoDataset", data_root=str(root), test_mode=test_mode,
                               ann_file=f"annotations/instances_{split}.json", data_prefix=dict(img=f"{split}/"),
                               metainfo=dict(classes=DIGITS), filter_cfg=dict(filter_empty_gt=False),
                               pipeline=pipeline))


@pytest.mark.parametrize("edit, message", [
    (_set("categories.0.id", KeyError), r"categories\[0\] has no 'id'"),
    (_set("images.0.file_name", KeyError), r"images\[0\] has no 'file_name'"),
    (_duplicate_first_image_id, "image id .* is listed twice in 'images'"),  # a silently lower mAP otherwise
    (_set("images.0.width", 0), "has width 0, height"),  # pycocotools hangs in evaluation otherwise
    (_set("annotations.0", 5), r"annotations\[0\] is 5, not an object"),
    (_set("annotations.1.id", 1), "annotation id 1 is listed twice"),
    (_set("annotations.0.bbox", [1.0, 2.0, float("nan"), 3.0]), r"has bbox \[1.0, 2.0, nan, 3.0\]"),  # mAP up
    (_set("annotations.0.area", "big"), "has area 'big'; expected a number"),
    (_set("annotations.0.segmentation", [[1, 2, 3, 4]]), "with at least 3 points"),
    (_set("images", []), "'images' is empty"),
    (lambda coco: coco["images"].append({"id": 999, "file_name": "ghost.jpg", "height": 100, "width": 100}),
     r"1 listed image\(s\) not found in .*/train/: ghost\.jpg"),
], ids=["category-id", "file-name", "duplicate-image", "zero-width", "not-object", "duplicate-annotation", "nan-box",
        "area", "polygon", "no-images", "absent-image"])
def test_malformed_coco_entries_are_named(coco_digits, tmp_path, edit, message):
    root = _broken_copy(coco_digits, tmp_path / "d", edit)
    with pytest.raises(InputError, match=r"instances_train\.json: (.* )?" + message):
        _checked(root)


def test_an_evaluation_set_with_nothing_to_score_is_refused(coco_digits, tmp_path):
    """every COCO metric would be -1 (a result, exit 0, otherwise)"""
    root = _broken_copy(coco_digits, tmp_path / "d", _set("annotations", []))
    assert len(_checked(root)) == 12  # training on negatives alone is allowed
    with pytest.raises(InputError, match="no annotation to evaluate against"):
        _checked(root, test_mode=True)


def test_annotations_mmdet_drops_are_counted_in_one_warning(coco_digits, tmp_path):
    def degenerate(coco):
        anns = coco["annotations"]
        anns[0]["bbox"][2] = 0  # zero width
        anns[1]["bbox"][3] = -4  # negative height
        image = next(im for im in coco["images"] if im["id"] == anns[2]["image_id"])
        anns[2]["bbox"][:2] = [image["width"] + 5, 0]  # entirely right of the image

    root = _broken_copy(coco_digits, tmp_path / "d", degenerate)
    with pytest.warns(UserWarning) as caught:
        _checked(root)
    texts = [str(w.message) for w in caught if "mmdet will drop" in str(w.message)]
    assert len(texts) == 1, texts
    assert "instances_train.json: mmdet will drop 3 of" in texts[0]
    assert "box outside the image: ids 3" in texts[0] and "width or height below 1 px: ids 1, 2" in texts[0]


def test_mask_config_rejects_annotations_without_masks(coco_digits, tmp_path):
    def strip_masks(coco):
        for ann in coco["annotations"][:2]:
            del ann["segmentation"]

    root = _broken_copy(coco_digits, tmp_path / "d", strip_masks)
    with pytest.raises(InputError, match=r"instances_train\.json: 2 annotation\(s\) have no 'segmentation' "
                                         r"\(ids 1, 2\), but the config trains or evaluates masks"):
        _train(_demo_args(root, tmp_path))
    assert len(_checked(root)) == 12  # a box-only pipeline accepts them


@pytest.mark.parametrize("damage", ["text", "truncated"])
def test_an_undecodable_image_is_named_in_one_line(coco_digits, tmp_path, damage):
    """A text file named .jpg, a JPEG cut in half: mmcv's loader alone stops with 'AssertionError: failed to load
    image' (or a decoder's traceback) inside a loader worker; the checked dataset names the file in one line, from
    a worker too."""
    import shutil

    from torch.utils.data import DataLoader

    from wavemsa.errors import own_message

    root = tmp_path / "d"
    shutil.copytree(coco_digits, root)
    ds = _checked(root)
    index = next(i for i in range(len(ds)) if ds.get_data_info(i)["img_path"].endswith("000002.jpg"))
    victim = Path(ds.get_data_info(index)["img_path"])
    data = victim.read_bytes()
    victim.write_bytes(b"not an image\n" if damage == "text" else data[: len(data) // 2])
    ds[index - 1]  # the others load
    message = rf"image {victim}: not a decodable image \((UnidentifiedImageError|OSError): "
    with pytest.raises(InputError, match=message):
        ds[index]
    batches = iter(DataLoader(ds, batch_size=1, sampler=[index], num_workers=1, collate_fn=pseudo_collate))
    with pytest.raises(InputError) as caught:
        next(batches)
    assert next(batches, None) is None  # the sampler is spent: the worker stops
    assert re.match(message, own_message(caught.value))  # what the entry points print


def _demo_config(root: Path) -> Config:
    cfg = Config.fromfile(str(DEMO_CONFIG))
    from wavemsa.mm.config import set_data_root

    set_data_root(cfg, str(root))
    return cfg


def _save_classifier(path: Path, arch: str = "wavemsa_t", ema: bool = False) -> dict:
    """A classification trainer checkpoint ('model', optionally 'model_ema'); returns the state dicts."""
    import timm

    torch.manual_seed(1)
    states = {"model": timm.create_model(arch, num_classes=10).state_dict()}
    if ema:
        states["model_ema"] = timm.create_model(arch, num_classes=10).state_dict()
    torch.save(dict(states, epoch=3), path)
    return states


def test_wrong_backbone_checkpoint_is_named(coco_digits, tmp_path):
    path = tmp_path / "wavemsa_s.pth"
    _save_classifier(path, "wavemsa_s")  # another arch than the demo's 't'
    with pytest.raises(InputError, match=r"model\.backbone\.init_cfg: checkpoint .*wavemsa_s\.pth does not fit "
                                         r"WaveFormerBackbone .*shape mismatch: \w"):
        _train([*_demo_args(coco_digits, tmp_path), "--pretrained", str(path)])
    # use_ema=True on a checkpoint without EMA weights: test_convert_classification_checkpoint_and_use_ema


def test_test_py_refuses_checkpoints_that_do_not_fit_the_detector(coco_digits, tmp_path):
    """mmengine loads checkpoints with strict=False: a classification checkpoint given to test.py would be an
    evaluation of random weights (mAP 0.000, exit 0). CheckpointFitHook (the configs' custom_hooks) refuses it,
    for MMDetection's own test.py (Runner.from_cfg(cfg).test() with load_from set) too."""
    from mmengine.runner import Runner

    cls_ckpt = tmp_path / "best.pth"
    _save_classifier(cls_ckpt)
    args = ["--data-root", str(coco_digits), "--work-dir", str(tmp_path / "w")]
    with pytest.raises(InputError, match=r"checkpoint .*best\.pth holds none of the \d+ weights of MaskRCNN .*"
                                         r"classification checkpoint"):
        evaluate.main([str(DEMO_CONFIG), str(cls_ckpt), *args], "detection")
    init_default_scope("mmdet")
    detector = MODELS.build(Config.fromfile(str(DEMO_CONFIG)).model)
    partial = {k: v for k, v in detector.state_dict().items() if not k.startswith("roi_head.mask_head")}
    torch.save({"meta": {}, "state_dict": partial}, tmp_path / "no_mask_head.pth")
    cfg = _demo_config(coco_digits)
    cfg.merge_from_dict(dict(work_dir=str(tmp_path / "w2"), load_from=str(tmp_path / "no_mask_head.pth")))
    with pytest.raises(InputError, match=r"no_mask_head\.pth does not fit MaskRCNN: \d+ of \d+ weights missing: "
                                         r"roi_head\.mask_head\."):
        Runner.from_cfg(cfg).test()


# ---------------------------------------------------------------- checkpoint conversion, EMA

def test_convert_classification_checkpoint_and_use_ema(tmp_path, monkeypatch):
    from wavemsa.mm import convert

    src = tmp_path / "cls.pth"
    states = _save_classifier(src, ema=True)
    torch.save({"model": {f"module.{k}": v for k, v in states["model"].items()}, "model_ema": states["model_ema"],
                "epoch": 3}, src)

    def detector(checkpoint: Path, use_ema: bool):
        init_default_scope("mmdet")
        cfg = Config.fromfile(str(DEMO_CONFIG))
        cfg.model.backbone.init_cfg = dict(type="Pretrained", checkpoint=str(checkpoint), use_ema=use_ema)
        model = MODELS.build(cfg.model)
        model.init_weights()  # what the runner does before training
        return model

    monkeypatch.chdir(tmp_path)
    for use_ema in (False, True):
        arch, dst = convert.convert(str(src), None if use_ema else str(tmp_path / "plain.pth"), use_ema=use_ema)
        assert arch == "t"  # found from the shapes
        out = torch.load(dst, weights_only=True)
        assert out["meta"]["use_ema"] is use_ema and all(k.startswith("backbone.") for k in out["state_dict"])
        assert not any(".head." in k or "aux_head" in k for k in out["state_dict"])
        ref = states["model_ema" if use_ema else "model"]
        # the config's use_ema reads the converted file as it reads the trainer's checkpoint
        for checkpoint in (dst, src):
            model = detector(checkpoint, use_ema)
            for key in ("stages.0.embed.conv.0.weight", "norm.weight"):
                torch.testing.assert_close(model.backbone.state_dict()[key], ref[key])
    assert dst == os.path.join("pretrained", "wavemsa_t_in1k.pth")  # the agreed name by default
    assert sorted(os.listdir(tmp_path / "pretrained")) == ["wavemsa_t_in1k.pth"]  # atomic: no temp file left
    with pytest.raises(InputError, match=r"^model\.backbone\.init_cfg: .*plain\.pth: use_ema=True but the "
                                         r"checkpoint has no 'model_ema'"):
        detector(tmp_path / "plain.pth", True)  # init_weights, as the runner calls it before training
    with pytest.raises(InputError, match="no 'model_ema'"):
        convert.main([str(tmp_path / "plain.pth"), str(tmp_path / "x.pth"), "--ema"])


def test_configs_name_the_agreed_pretrained_checkpoints():
    """Both task folders name ImageNet-1k backbone weights pretrained/wavemsa_<arch>_in1k.pth."""
    configs = CONFIGS + sorted((ROOT / "semantic_segmentation" / "configs" / "wavemsa").glob("*.py"))
    for config in configs:
        backbone = Config.fromfile(str(config)).model.backbone
        assert backbone.init_cfg.checkpoint.endswith(f"pretrained/wavemsa_{backbone.arch}_in1k.pth"), config.name


# ---------------------------------------------------------------- FLOPs, mmcv ops

def test_get_flops_counts_the_backbone_as_the_library_does():
    from wavemsa.backbone import WaveFormerBackbone
    from wavemsa.complexity import count_flops
    from wavemsa.mm.flops import complexity

    row = complexity(TASK, str(DEMO_CONFIG), 100, 150)
    assert row["input"] == "160x128"  # padded to the preprocessor's multiple of 32
    backbone = WaveFormerBackbone("t").eval()
    with torch.no_grad():
        library = count_flops(backbone, (torch.randn(1, 3, 128, 160),))
    assert row["backbone_gflops"] == pytest.approx(library / 1e9, rel=1e-6)
    assert row["gflops"] > 1.2 * row["backbone_gflops"]  # neck, RPN, RoI heads on top


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
