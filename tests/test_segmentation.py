"""Semantic segmentation (semantic_segmentation/): the built-in ADE20K-format data (background + ten digit
classes), every config through tools/train.py (one iteration) and tools/test.py (prediction, metrics, painted
PNGs) on the CPU, the config/backbone channel contract, params/FLOPs counted as the library counts the
backbone, and the bad-input errors (InputError, before training where the data allow).

Configs run with the tiny backbone (arch='t') on 64x64 crops to stay fast, keeping each config's
decode heads, dataset class, pipelines (shrunk) and optimiser.
"""
from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

pytest.importorskip("mmseg", reason="the OpenMMLab stack is installed by `make install-mm`")

REPO = Path(__file__).resolve().parent.parent
SEG = REPO / "semantic_segmentation"
ADE_CONFIGS = sorted((SEG / "configs" / "wavemsa").glob("*.py"))
DEMO_CONFIGS = sorted((SEG / "configs" / "demo").glob("*.py"))
TINY_CHANNELS = [32, 64, 128, 192]
SIZE = 64

sys.path.insert(0, str(REPO / "datasets"))
import make_ade20k  # noqa: E402
from mmengine.config import Config  # noqa: E402

from wavemsa.errors import InputError  # noqa: E402
from wavemsa.mm import evaluate, train  # noqa: E402


@pytest.fixture(scope="module")
def ade_root(tmp_path_factory) -> Path:
    """A tiny built-in set in the ADEChallengeData2016 layout (8 training, 4 validation scenes)."""
    return make_ade20k.build(tmp_path_factory.mktemp("seg") / "ADEChallengeData2016", num_train=8,
                             num_val=4, size=SIZE, max_objects=3, seed=0)


def small_config(path: Path, data_root: Path, out_dir: Path) -> Path:
    """``path`` with the tiny backbone, 64x64 crops, ``data_root``, one iteration, no pretrained
    weights; everything else (heads, dataset class, transforms, optimiser) as in ``path``."""
    cfg = Config.fromfile(str(path))
    m = cfg.model
    m.backbone.update(arch="t", init_cfg=None)
    m.data_preprocessor.size = (SIZE, SIZE)
    if "neck" in m:
        m.neck.in_channels = TINY_CHANNELS
    else:
        m.decode_head.in_channels = TINY_CHANNELS
    if m.get("auxiliary_head"):
        m.auxiliary_head.in_channels = TINY_CHANNELS[m.auxiliary_head.in_index]
    for loader in ("train_dataloader", "val_dataloader", "test_dataloader"):
        dl = cfg[loader]
        dl.update(num_workers=0, persistent_workers=False, batch_size=2)
        dl.dataset.data_root = str(data_root)
        for t in dl.dataset.pipeline:
            if t["type"] in ("RandomResize", "Resize"):
                t["scale"] = (SIZE, SIZE)
            if t["type"] == "RandomCrop":
                t["crop_size"] = (SIZE, SIZE)
    cfg.train_cfg.update(max_iters=1, val_interval=1000)
    cfg.default_hooks.logger.interval = 1
    cfg.default_hooks.checkpoint.update(interval=1000, save_best=None)
    cfg.param_scheduler = [dict(type="ConstantLR", factor=1.0, by_epoch=False, begin=0, end=1)]
    cfg.env_cfg.mp_cfg = dict(mp_start_method="fork", opencv_num_threads=0)
    out = out_dir / f"small_{path.name}"
    cfg.dump(str(out))
    return out


def test_dataset_layout_and_labels(ade_root: Path):
    for split, prefix, n in (("training", "ADE_train", 8), ("validation", "ADE_val", 4)):
        imgs = sorted((ade_root / "images" / split).glob("*.jpg"))
        anns = sorted((ade_root / "annotations" / split).glob("*.png"))
        names = [f"{prefix}_{i:08d}" for i in range(1, n + 1)]
        assert [p.stem for p in imgs] == [p.stem for p in anns] == names
        for img, ann in zip(imgs, anns):
            seg = np.asarray(Image.open(ann))
            assert seg.dtype == np.uint8 and seg.shape == (SIZE, SIZE) == Image.open(img).size[::-1]
            # 1 = background, 2..11 = digits; 0 ('other', ignored) unused; never digit-free
            assert seg.min() == 1 and seg.max() <= 11 and (seg > 1).any() and (seg == 1).mean() > 0.3
    build = json.loads((ade_root / "build.json").read_text())
    assert build["size"] == SIZE and build["num_train"] == 8
    assert build["classes"] == ["background", *(f"digit {d}" for d in range(10))]


def test_label_map_follows_instance_masks():
    mask_a = np.zeros((4, 4), bool)
    mask_a[:2] = True
    mask_b = np.zeros((4, 4), bool)
    mask_b[3, 3] = True
    insts = [make_ade20k.digit_scenes.Instance(0, mask_a, (0, 0, 4, 2)),
             make_ade20k.digit_scenes.Instance(9, mask_b, (3, 3, 1, 1))]
    seg = make_ade20k.label_map(insts, 4, 4)
    assert (seg[:2] == 2).all() and seg[3, 3] == 11 and (seg[2] == 1).all()  # digit d -> d + 2, background 1


# The B configs differ from the S ones only in the backbone arch and channels, which the small run
# replaces by the tiny ones: their small runs would repeat the S runs. test_full_size_config_matches_backbone
# checks the B-specific settings.
SMALL_RUN_CONFIGS = [p for p in ADE_CONFIGS if "_b_" not in p.name] + DEMO_CONFIGS


@pytest.mark.slow
@pytest.mark.parametrize("config", SMALL_RUN_CONFIGS, ids=lambda p: p.stem)
def test_config_trains_one_iteration_and_predicts(config: Path, ade_root: Path, tmp_path: Path):
    small = small_config(config, ade_root, tmp_path)
    work = tmp_path / "work"
    train.main([str(small), "--work-dir", str(work)], "segmentation")
    ckpt = work / "iter_1.pth"
    assert ckpt.is_file()
    scalars_json = next(work.glob("*/vis_data/scalars.json"))
    scalars = [json.loads(line) for line in scalars_json.read_text().splitlines()]
    assert scalars[0]["iter"] == 1 and math.isfinite(scalars[0]["loss"]) and scalars[0]["loss"] > 0
    assert (work / "training_curves.png").is_file()

    show = tmp_path / "show"
    metrics = evaluate.main([str(small), str(ckpt), "--work-dir", str(work), "--show-dir", str(show),
                             "--show-interval", "1"], "segmentation")
    assert set(metrics) == {"aAcc", "mIoU", "mAcc"}
    assert all(0.0 <= v <= 100.0 for v in metrics.values())
    assert json.loads((work / "metrics.json").read_text())["mIoU"] == metrics["mIoU"]
    painted = sorted(show.glob("*.png"))
    assert len(painted) == 4  # every validation image: ground truth | prediction side by side
    assert Image.open(painted[0]).size == (2 * SIZE, SIZE)


@pytest.mark.parametrize("config", ADE_CONFIGS, ids=lambda p: p.stem)
def test_full_size_config_matches_backbone(config: Path):
    """The decode head / neck input channels are the configured backbone's output channels, the head
    is the one the name says, and ADE20K has 150 classes at 512x512."""
    from wavemsa.backbone import WaveFormerBackbone

    cfg = Config.fromfile(str(config))
    m = cfg.model
    channels = WaveFormerBackbone(arch=m.backbone.arch).out_channels
    if config.stem.startswith("fpn_"):
        assert m.neck.type == "FPN" and m.decode_head.type == "FPNHead"
        assert list(m.neck.in_channels) == channels
    else:
        assert m.decode_head.type == "UPerHead" and m.auxiliary_head.type == "FCNHead"
        assert list(m.decode_head.in_channels) == channels
        assert m.auxiliary_head.in_channels == channels[m.auxiliary_head.in_index]
    assert m.decode_head.num_classes == 150 and tuple(m.data_preprocessor.size) == (512, 512)
    assert cfg.train_dataloader.dataset.type == "CheckedADE20KDataset"
    assert cfg.train_dataloader.dataset.data_root.endswith("datasets/ADEChallengeData2016")
    assert m.backbone.init_cfg.type == "Pretrained" and "wavemsa_seg" in cfg.custom_imports.imports
    assert cfg.optim_wrapper.optimizer.type == "AdamW"


def test_get_flops_counts_the_backbone_as_the_library_does():
    """The segmentor's count includes the backbone exactly as wavemsa.complexity counts it (the in-place
    addmm_ of WaveAttention.project and the SDPA products included)."""
    from wavemsa.backbone import WaveFormerBackbone
    from wavemsa.complexity import count_flops, count_params
    from wavemsa.mm.flops import complexity
    from wavemsa_seg.task import TASK

    config = SEG / "configs" / "wavemsa" / "fpn_wavemsa_s_512x512_40k_ade20k.py"
    row = complexity(TASK, str(config), 64, 96)
    backbone = WaveFormerBackbone("s").eval()
    with torch.no_grad():
        library = count_flops(backbone, (torch.randn(1, 3, 64, 96),))
    assert row["input"] == "96x64" and row["backbone_gflops"] == pytest.approx(library / 1e9, rel=1e-6)
    assert row["backbone_params_M"] == pytest.approx(count_params(backbone) / 1e6)
    assert row["gflops"] > row["backbone_gflops"] and 15 < row["params_M"] < 40
    upernet = complexity(TASK, str(DEMO_CONFIGS[0]), 64, 64)  # its auxiliary head is left out, as mmseg does
    assert upernet["params_M"] < 3.5


# ----------------------------------------------------------------------------------- bad input


def _dataset(root: Path, cls: str = "DigitScenesDataset", split: str = "training"):
    from mmengine.registry import init_default_scope
    from mmseg.registry import DATASETS

    import wavemsa_seg  # noqa: F401  (registers the datasets and CheckSegMap)

    init_default_scope("mmseg")
    pipeline = [dict(type="LoadImageFromFile"), dict(type="LoadAnnotations"), dict(type="CheckSegMap"),
                dict(type="PackSegInputs")]
    prefix = dict(img_path=f"images/{split}", seg_map_path=f"annotations/{split}")
    return DATASETS.build(dict(type=cls, data_root=str(root), data_prefix=prefix, pipeline=pipeline))


@pytest.fixture
def ade_copy(ade_root: Path, tmp_path: Path) -> Path:
    import shutil

    return Path(shutil.copytree(ade_root, tmp_path / "ADEChallengeData2016"))


def test_good_data_loads(ade_root: Path):
    ds = _dataset(ade_root)
    sample = ds[0]
    seg = sample["data_samples"].gt_sem_seg.data
    assert tuple(seg.shape) == (1, SIZE, SIZE)
    values = set(seg.unique().tolist())
    assert 0 in values and values <= set(range(11))  # reduce_zero_label: raw 1 (background) -> class 0


def test_missing_annotation_names_the_file(ade_copy: Path):
    gone = ade_copy / "annotations" / "training" / "ADE_train_00000003.png"
    gone.unlink()
    with pytest.raises(InputError, match="ADE_train_00000003.png") as e:
        _dataset(ade_copy)
    assert "1 of 8 images" in str(e.value)


def test_empty_image_folder_is_an_error(tmp_path: Path):
    (tmp_path / "images" / "training").mkdir(parents=True)
    (tmp_path / "annotations" / "training").mkdir(parents=True)
    with pytest.raises(InputError, match="no '\\*.jpg' images"):
        _dataset(tmp_path, "CheckedADE20KDataset")


def test_label_map_of_wrong_size_names_the_file(ade_copy: Path):
    from wavemsa_seg.data import BadSegmentationData

    ann = ade_copy / "annotations" / "training" / "ADE_train_00000002.png"
    Image.open(ann).resize((SIZE + 7, SIZE), Image.NEAREST).save(ann)
    ds = _dataset(ade_copy)
    ds[0]  # the others are fine
    with pytest.raises(BadSegmentationData, match=r"ADE_train_00000002\.png is 71x64 \(WxH\) but its image"):
        ds[1]


@pytest.mark.parametrize("cls,bad_value", [("DigitScenesDataset", 12), ("CheckedADE20KDataset", 151)])
def test_label_beyond_classes_names_the_file(ade_copy: Path, cls: str, bad_value: int):
    from wavemsa_seg.data import BadSegmentationData

    ann = ade_copy / "annotations" / "validation" / "ADE_val_00000004.png"
    seg = np.asarray(Image.open(ann)).copy()
    seg[0, :3] = bad_value
    Image.fromarray(seg).save(ann)
    ds = _dataset(ade_copy, cls, "validation")
    with pytest.raises(BadSegmentationData, match=rf"ADE_val_00000004\.png holds ids \[{bad_value}\] beyond"):
        ds[3]
    seg[0, :3] = 255  # the ignore index is allowed
    Image.fromarray(seg).save(ann)
    ds[3]


def test_rgb_label_map_is_refused_before_training(ade_copy: Path, tmp_path: Path):
    """An RGB label PNG would stop mmseg alone at the first loss with a tensor-stacking error."""
    ann = ade_copy / "annotations" / "training" / "ADE_train_00000005.png"
    Image.open(ann).convert("RGB").save(ann)
    with pytest.raises(InputError, match=r"1 label map\(s\) are not single-channel: .*ADE_train_00000005\.png "
                                         r"\(RGB\); a label map holds one class id per pixel"):
        _dataset(ade_copy)
    small = small_config(DEMO_CONFIGS[0], ade_copy, tmp_path)
    with pytest.raises(InputError, match=r"ADE_train_00000005\.png \(RGB\)"):  # the entry point, before any step
        train.main([str(small), "--work-dir", str(tmp_path / "work")], "segmentation")
    assert not list((tmp_path / "work").glob("iter_*.pth"))


def test_a_jpeg_label_map_under_a_png_name_is_refused_by_mmsegs_own_runner(ade_copy: Path, tmp_path: Path):
    """A label map saved as JPEG (a lossy save under a .png name): PIL reads it, mmseg trains on class ids changed
    along every edge without a word. CheckedADE20KDataset reads the format from the content and refuses it, for
    MMSegmentation's own tools/train.py (Runner.from_cfg(cfg).train()) too."""
    from mmengine.runner import Runner

    ann = ade_copy / "annotations" / "training" / "ADE_train_00000004.png"
    seg = np.asarray(Image.open(ann))
    Image.fromarray(seg).save(ann, format="JPEG", quality=90)
    assert (np.asarray(Image.open(ann)) != seg).mean() > 0.01  # what the lossy save did to the class ids
    cfg = Config.fromfile(str(small_config(DEMO_CONFIGS[0], ade_copy, tmp_path)))
    cfg.work_dir = str(tmp_path / "work")
    runner = Runner.from_cfg(cfg)
    with pytest.raises(InputError, match=r"1 label map\(s\) are not PNG/BMP/TIFF data: .*ADE_train_00000004\.png "
                                         r"\(JPEG\) .*save label maps as PNG"):
        runner.train()


def test_ignored_pixels_meet_the_demo_class_weights(ade_copy: Path):
    """Raw 0 ('other') and 255 in a label map are ignored pixels (255 after reduce_zero_label), valid for
    CheckSegMap; the demo's class-weighted loss takes them too (mmseg's CrossEntropyLoss with class_weight stops
    with 'IndexError: index 255 is out of bounds') and averages over the other pixels as torch does."""
    from mmengine.registry import init_default_scope
    from mmseg.registry import MODELS

    ann = ade_copy / "annotations" / "training" / "ADE_train_00000001.png"
    seg = np.asarray(Image.open(ann)).copy()
    seg[:4], seg[-4:] = 0, 255
    Image.fromarray(seg).save(ann)
    label = _dataset(ade_copy)[0]["data_samples"].gt_sem_seg.data.long()  # through CheckSegMap, (1, H, W)
    assert (label == 255).sum() == 8 * SIZE and (label < 11).sum() == (SIZE - 8) * SIZE
    cfg = Config.fromfile(str(DEMO_CONFIGS[0]))
    init_default_scope("mmseg")
    logits = torch.randn(1, 11, SIZE, SIZE)
    for head in (cfg.model.decode_head, cfg.model.auxiliary_head):
        loss = MODELS.build(head.loss_decode)(logits, label, ignore_index=255)
        expected = torch.nn.functional.cross_entropy(logits, label, weight=torch.tensor(cfg.class_weight),
                                                     ignore_index=255)
        torch.testing.assert_close(loss, head.loss_decode.loss_weight * expected)


@pytest.mark.parametrize("victim", ["images/training/ADE_train_00000003.jpg",
                                    "annotations/training/ADE_train_00000003.png"])
def test_an_undecodable_image_or_label_map_is_named(ade_copy: Path, victim: str):
    """A text file named .jpg, a label PNG cut short: one line naming the file when the sample is loaded (mmcv's
    loader alone: 'AssertionError: failed to load image', or PIL's 'image file is truncated' traceback)."""
    path = ade_copy / victim
    data = path.read_bytes()
    path.write_bytes(b"not an image\n" if path.suffix == ".jpg" else data[: len(data) // 2])
    ds = _dataset(ade_copy)
    ds[1]  # the others load
    what = "image" if path.suffix == ".jpg" else "label map"
    with pytest.raises(InputError, match=rf"{what} {path}: not a decodable image"):
        ds[2]


def test_sixteen_bit_and_unreadable_label_maps_are_refused_before_training(ade_copy: Path):
    """mmseg alone casts a 16-bit label PNG to 8 bits (an id of 257 read as class 1, the mIoU unchanged) and stops
    at a label file that is not an image with a PIL traceback. 16-bit maps with ids <= 255 are accepted."""
    ann = ade_copy / "annotations" / "training" / "ADE_train_00000005.png"
    seg = np.asarray(Image.open(ann)).astype(np.uint16)
    Image.fromarray(seg).save(ann)  # 16-bit grey, same ids
    assert Image.open(ann).mode.startswith("I") and len(_dataset(ade_copy)) > 0
    seg[0, 0] = 257
    Image.fromarray(seg).save(ann)
    with pytest.raises(InputError, match=r"ADE_train_00000005\.png \(I;16\) holds ids up to 257"):
        _dataset(ade_copy)
    ann.write_bytes(b"not a png")
    with pytest.raises(InputError, match=r"label map .*ADE_train_00000005\.png is not a readable image"):
        _dataset(ade_copy)


def test_set_built_with_another_labelling_is_refused(ade_copy: Path):
    build = ade_copy / "build.json"
    args = json.loads(build.read_text())
    del args["classes"]  # a build.json that names no classes
    build.write_text(json.dumps(args))
    with pytest.raises(InputError, match=r"build\.json is missing or names no classes: .*older "
                                         r"datasets/make_ade20k\.py .*rebuild"):
        _dataset(ade_copy)
    _dataset(ade_copy, "CheckedADE20KDataset")  # the ADE20K class does not read build.json


def test_test_py_refuses_a_truncated_or_foreign_checkpoint(ade_root: Path, tmp_path: Path):
    import timm

    small = small_config(DEMO_CONFIGS[0], ade_root, tmp_path)
    truncated = tmp_path / "iter_800.pth"
    torch.save({"state_dict": {"w": torch.ones(1000)}}, truncated)
    truncated.write_bytes(truncated.read_bytes()[:500])
    with pytest.raises(InputError, match=r"iter_800\.pth: not a readable PyTorch checkpoint"):
        evaluate.main([str(small), str(truncated), "--work-dir", str(tmp_path / "w")], "segmentation")
    cls_ckpt = tmp_path / "best.pth"
    torch.save({"model": timm.create_model("wavemsa_t", num_classes=10).state_dict()}, cls_ckpt)
    with pytest.raises(InputError, match=r"best\.pth holds none of the \d+ weights of EncoderDecoder"):
        evaluate.main([str(small), str(cls_ckpt), "--work-dir", str(tmp_path / "w")], "segmentation")
