"""Token labelling in the trainer: label maps follow the crops and flips, MixToken mixes the targets by
exactly its box, published-layout files load like the generator's own, the generator and its errors."""
from __future__ import annotations

import random
import sys
from pathlib import Path

import numpy as np
import pytest
import timm
import torch
import torch.nn.functional as F
from PIL import Image
from timm.data.auto_augment import NAME_TO_OP
from torchvision.transforms import functional as TF

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "datasets"))

import make_classification  # noqa: E402

import wavemsa  # noqa: E402, F401
from image_classification import main as ic_main  # noqa: E402
from image_classification import make_token_labels as mtl  # noqa: E402
from image_classification.config import parse_with_config  # noqa: E402
from image_classification.distributed import DistInfo  # noqa: E402
from image_classification.label_maps import read_label_map, token_targets, write_label_map  # noqa: E402
from image_classification.token_label import (  # noqa: E402
    TokenLabelCrossEntropy,
    TokenLabelFolder,
    mix_class_target,
    soft_cross_entropy,
)
from image_classification.token_label_transforms import SPATIAL_OPS, ReportedWarp, augment_ops  # noqa: E402
from wavemsa.errors import InputError, run_main  # noqa: E402
from wavemsa.token_label import swap_box  # noqa: E402

COLOURS = np.array([[255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 255, 0]], dtype=np.float32)  # class 0..3


def parse(argv):
    return parse_with_config(ic_main.get_parser(), argv)


@pytest.fixture(scope="module")
def digits(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("digits") / "digits"
    make_classification.build(out, size=32, train_copies=1, val_copies=1, max_per_class=1)
    return out  # 10 train / 10 val images


@pytest.fixture(scope="module")
def teacher(tmp_path_factory) -> Path:
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("teacher") / "teacher.pth"
    torch.save({"model": timm.create_model("wavemsa_t", num_classes=10, token_label=True).state_dict()}, path)
    return path


def quadrant_scene(root: Path) -> tuple[Path, Path]:
    """A 96 x 64 image of four regions: classes 0 (top left, red), 1 (top right, green), 2 (bottom left,
    blue), 3 (bottom right, yellow), split at x = 32 and y = 32. Its label map covers the centre square
    (x in [16, 80), where x = 32 falls after 2 of 8 cells), as the published maps do, with 8 x 8 cells of
    the same regions. Four class folders, one copy of the scene each."""
    img = np.zeros((64, 96, 3), np.uint8)
    for c, (ys, xs) in enumerate([(slice(0, 32), slice(0, 32)), (slice(0, 32), slice(32, 96)),
                                  (slice(32, 64), slice(0, 32)), (slice(32, 64), slice(32, 96))]):
        img[ys, xs] = COLOURS[c]
    i, j = torch.meshgrid(torch.arange(8), torch.arange(8), indexing="ij")
    true = 2 * (i >= 4) + (j >= 2)
    order = torch.stack([(true + s) % 4 for s in range(4)])  # the true class first, then the others
    scores = torch.stack([torch.full((8, 8), 6.0)] + [torch.zeros(8, 8)] * 3)
    data, labels = root / "data", root / "labels"
    for c in "abcd":
        for split in ("train", "val"):
            (data / split / c).mkdir(parents=True)
            Image.fromarray(img).save(data / split / c / "scene.png")
        write_label_map(labels / c / "scene.pt", scores, order)
    return data, labels


def pixel_classes(image: torch.Tensor) -> torch.Tensor:
    """Class of every pixel of a normalised (3, H, W) image: the nearest of the four colours."""
    mean = torch.tensor([0.485, 0.456, 0.406]).view(3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(3, 1, 1)
    rgb = (image * std + mean).permute(1, 2, 0) * 255
    return (rgb[:, :, None, :] - torch.from_numpy(COLOURS)).square().sum(-1).argmin(-1)


def test_label_map_classes_stay_under_their_pixels_after_random_crops_and_flips(tmp_path):
    data, labels = quadrant_scene(tmp_path)
    args = parse(["--input-size", "64", "--aa", "", "--color-jitter", "0", "--reprob", "0", "--hflip", "0.5",
                  "--scale", "0.05", "1.0", "--train-interpolation", "bilinear", "--smoothing", "0.1",
                  "--token-label", "--token-label-data", str(labels)])
    ds = TokenLabelFolder(str(data / "train"), args)
    ds.size = 4
    ds.check_labels()
    random.seed(0)
    torch.manual_seed(0)
    checked, flipped_seen = 0, set()
    for _ in range(60):
        image, target = ds[0]
        assert target.shape == (4, 1 + 16)
        torch.testing.assert_close(target.sum(0), torch.ones(17))  # distributions, label-smoothed
        assert target.min() >= 0.1 / 4 - 1e-6
        pix = pixel_classes(image)
        for p in range(4):
            for q in range(4):
                counts = torch.bincount(pix[16 * p:16 * p + 16, 16 * q:16 * q + 16].reshape(-1), minlength=4)
                if counts.max() >= 0.9 * 256:
                    assert int(target[:, 1 + 4 * p + q].argmax()) == int(counts.argmax()), (p, q)
                    checked += 1
        whole = torch.bincount(pix.reshape(-1), minlength=4).float()
        top2 = whole.topk(2).values
        if top2[0] > 1.2 * top2[1]:
            assert int(target[:, 0].argmax()) == int(whole.argmax())
        flipped_seen.add(bool(pix[0, 0] in (1, 3) and pix[0, -1] in (0, 2)))  # left and right swapped
    assert checked > 300 and flipped_seen == {True, False}


RECIPE_OPS = ["AutoContrast", "Equalize", "Invert", "Rotate", "PosterizeIncreasing", "SolarizeIncreasing",
              "SolarizeAdd", "ColorIncreasing", "ContrastIncreasing", "BrightnessIncreasing", "SharpnessIncreasing",
              "ShearX", "ShearY", "TranslateXRel", "TranslateYRel"]  # timm's 'inc1' RandAugment ops
SPATIAL = ["Rotate", "ShearX", "ShearY", "TranslateXRel", "TranslateYRel"]


def marked_scene(root: Path, size: tuple[int, int], hot: tuple[slice, slice]) -> tuple[Path, Path]:
    """A black image of ``size`` = (W, H) with a white patch over the 16-pixel label cells ``hot`` (rows,
    columns) of a 7 x 7 label map laid over its centre square (side H = 112): class 1 (score 8) in those cells,
    class 0 (score 8) elsewhere (also beyond the square, where the map's border cells count: keep ``hot`` off
    the border). Two class folders holding the image, so the maps have 2 classes."""
    W, H = size
    img = np.zeros((H, W, 3), np.uint8)
    ox = (W - H) // 2
    rows, cols = hot
    img[16 * rows.start:16 * rows.stop, ox + 16 * cols.start:ox + 16 * cols.stop] = 255
    order = torch.zeros(2, 7, 7, dtype=torch.long)
    order[1] = 1
    order[0, rows, cols], order[1, rows, cols] = 1, 0
    scores = torch.stack([torch.full((7, 7), 8.0), torch.zeros(7, 7)])
    data, labels = root / "data", root / "labels"
    for c in "ab":
        (data / "train" / c).mkdir(parents=True)
        Image.fromarray(img).save(data / "train" / c / "scene.png")
        write_label_map(labels / c / "scene.pt", scores, order)
    return data / "train", labels


def one_op_dataset(split: Path, labels: Path, op: str, *extra: str) -> TokenLabelFolder:
    """TokenLabelFolder at 112 x 112 (7 x 7 tokens) whose RandAugment applies exactly ``op`` to every image,
    at magnitude 9 without noise (the sign of the argument random, as in training)."""
    args = parse(["--input-size", "112", "--aa", "rand-m9-n1-p1.0-mstd0-inc1", "--reprob", "0", "--hflip", "0.5",
                  "--train-interpolation", "bilinear", "--smoothing", "0.1", "--token-label", "--token-label-data",
                  str(labels), *extra])
    ds = TokenLabelFolder(str(split), args)
    ds.size = 7
    randaug = ds.augment.augment.transforms[0]
    randaug.ops = [o for o in randaug.ops if o.name == op]
    assert len(randaug.ops) == 1
    return ds


def denormalise(image: torch.Tensor) -> torch.Tensor:
    """A normalised (3, H, W) image back in [0, 255]."""
    mean = torch.tensor([0.485, 0.456, 0.406]).view(3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(3, 1, 1)
    return (image * std + mean) * 255


@pytest.mark.parametrize("name", sorted(SPATIAL_OPS))
def test_every_spatial_op_moves_pixels_where_its_affine_says(name):
    """Each spatial op's affine (the geometry given to the label map) against what timm's op does to an
    image: the output pixels showing a marked input square are exactly those whose centre the affine sends
    into the square."""
    W, H = 90, 60
    img = np.zeros((H, W, 3), np.uint8)
    img[20:28, 50:58] = 255
    for arg in {"Rotate": (27.0, -13.0), "ShearX": (0.27, -0.2), "ShearY": (0.2, -0.27),
                "TranslateX": (-20.0, 11.0), "TranslateY": (-9.0, 14.0)}.get(name, (-0.3, 0.2)):
        out = np.asarray(NAME_TO_OP[name](Image.fromarray(img), arg, resample=Image.NEAREST, fillcolor=(0, 0, 0)))
        a, b, c, d, e, f = SPATIAL_OPS[name](arg, (W, H))
        y, x = np.mgrid[0:H, 0:W] + 0.5
        sx, sy = a * x + b * y + c, d * x + e * y + f
        inside = (sx >= 50) & (sx < 58) & (sy >= 20) & (sy < 28)
        edge = np.minimum(np.abs(sx[..., None] - [50, 58]).min(-1), np.abs(sy[..., None] - [20, 28]).min(-1)) < 1e-6
        assert inside.sum() >= 20 and np.array_equal(inside[~edge], out[..., 0][~edge] > 128), (name, arg)


@pytest.mark.parametrize("op", SPATIAL)
def test_label_map_moves_with_the_image_under_randaugments_spatial_ops(op, tmp_path):
    """RandAugment forced to one spatial op at magnitude 9 (rotate 27 degrees, shear 0.27, translate 0.405 x
    the side: the marked patch moves 1 to 3.6 tokens), with random crops and flips on a 144 x 112 image:
    wherever the white patch lands in the augmented crop, the token targets of its class land there too."""
    split, labels = marked_scene(tmp_path, (144, 112), (slice(4, 6), slice(4, 6)))
    ds = one_op_dataset(split, labels, op, "--scale", "0.5", "1.0")
    ds.check_labels()
    scores, idx = read_label_map(ds.label_file(0), 2)
    random.seed(0)
    np.random.seed(0)
    checked, warps = 0, set()
    for _ in range(40):
        image, crop = ds.augment(ds.read(0))  # what ds[0] does, keeping the geometry
        target = token_targets(scores, idx, 2, crop, 7)
        assert len(crop.warps) == 1
        warps.add(tuple(round(v, 6) for v in crop.warps[0]))
        white = (denormalise(image) > 200).all(0).float()
        share = F.avg_pool2d(white[None], 16)[0].reshape(-1)  # marked fraction of each of the 7 x 7 tokens
        hot = target[1, 1:] > target[0, 1:] + 1e-6  # tokens whose target is the patch's class
        assert not hot[share == 0].any() and hot[share >= 0.95].all()
        checked += int((share >= 0.95).sum())
    assert checked >= 20 and len(warps) == 2  # both signs of the argument


def test_label_map_is_left_alone_by_pixel_ops_and_follows_each_spatial_op(tmp_path):
    split, labels = marked_scene(tmp_path, (144, 112), (slice(2, 3), slice(3, 4)))
    for op in RECIPE_OPS:
        ds = one_op_dataset(split, labels, op)
        for _ in range(3):
            _, crop = ds.augment(ds.read(0))
            assert len(crop.warps) == (op in SPATIAL), op
    for policy in ("original", "v0", "3a"):  # AutoAugment policies: their spatial ops report too (TranslateY in pixels)
        ds = TokenLabelFolder(str(split), parse(["--aa", policy, "--token-label", "--token-label-data", str(labels)]))
        ops = [op for t in ds.augment.augment.transforms for op in augment_ops(t)]
        assert ops and all(isinstance(op.aug_fn, ReportedWarp) == (op.name in SPATIAL_OPS) for op in ops)


def test_cells_an_op_fills_take_no_class_evidence(tmp_path):
    """A translate at magnitude 9 brings in 0.405 of the side as fill: tokens showing only fill get the
    uniform target (0 scores, as the originals' constant fill), tokens showing only the image the teacher's."""
    split, labels = marked_scene(tmp_path, (112, 112), (slice(0, 0), slice(0, 0)))
    ds = one_op_dataset(split, labels, "TranslateXRel", "--scale", "1.0", "1.0", "--hflip", "0")
    teacher = torch.tensor([8.0, 0.0]).softmax(0) * 0.9 + 0.05
    seen = set()
    for _ in range(6):
        image, target = ds[0]
        fill = (denormalise(image) - torch.tensor([124.0, 116.0, 104.0]).view(3, 1, 1)).abs().amax(0) < 2
        share = F.avg_pool2d(fill[None].float(), 16)[0].reshape(-1)
        for t in range(49):
            if share[t] == 1:
                torch.testing.assert_close(target[:, 1 + t], torch.full((2,), 0.5))
                seen.add("fill")
            elif share[t] == 0:
                torch.testing.assert_close(target[:, 1 + t], teacher)
                seen.add("image")
        assert 0.5 < float(target[0, 0]) < float(teacher[0])  # the class target: mostly the teacher's
    assert seen == {"fill", "image"}


@pytest.mark.parametrize("op", SPATIAL)
def test_order_is_flip_then_randaugment_on_the_full_image_then_crop(op, tmp_path):
    """The transform's output is reproduced from the geometry it reports, in the originals' order: the flip,
    the op on the full 144 x 112 image (its translate is a fraction of 144, not of the crop), then the crop."""
    split, labels = marked_scene(tmp_path, (144, 112), (slice(1, 3), slice(4, 6)))
    ds = one_op_dataset(split, labels, op, "--scale", "0.3", "1.0")
    source = ds.read(0)
    flips = set()
    for i in range(8):
        random.seed(i)
        np.random.seed(i)
        torch.manual_seed(i)
        image, crop = ds.augment(source)
        flips.add(crop.flipped)
        expected = source.transpose(Image.Transpose.FLIP_LEFT_RIGHT) if crop.flipped else source
        for warp in crop.warps:
            expected = expected.transform(expected.size, Image.AFFINE, warp, resample=Image.BILINEAR,
                                          fillcolor=(124, 116, 104))
        expected = TF.resized_crop(expected, crop.top, crop.left, crop.height, crop.width, [112, 112],
                                   TF.InterpolationMode.BILINEAR)
        expected = TF.normalize(TF.to_tensor(expected), [0.485, 0.456, 0.406], [0.229, 0.224, 0.225])
        differ = (image - expected).abs() > 1e-5
        assert differ.float().mean() < (0.002 if op == "Rotate" else 1e-9), (op, i)  # PIL rounds rotate's matrix
    assert flips == {True, False}


def test_augmix_is_refused_with_token_labels(tmp_path):
    split, labels = marked_scene(tmp_path, (112, 112), (slice(0, 1), slice(0, 1)))
    args = parse(["--aa", "augmix-m5-w4-d2", "--token-label", "--token-label-data", str(labels)])
    with pytest.raises(InputError, match="--aa 'augmix-m5-w4-d2' with --token-label: AugMix"):
        TokenLabelFolder(str(split), args)


def test_mix_token_targets_carry_exactly_the_mixed_area_of_each_source():
    """The model mixes the stem tokens of a box (from the mirrored sample); the class target takes each
    source with the share of tokens it has in the mixed image; the un-mixed aux logits meet exactly the
    token targets of the image whose content they saw, i.e. the token targets mixed by the same box."""
    torch.manual_seed(0)
    B, K, grid, box = 4, 4, (4, 3), (1, 0, 3, 2)
    model = timm.create_model("wavemsa_t", num_classes=K, token_label=True).train()
    seen = {}

    def keep(name, value) -> None:
        seen.setdefault(name, value)

    model.stages[0].embed.register_forward_hook(lambda m, a, out: keep("stem", out.flatten(1, 2)))
    model.stages[0].blocks[0].register_forward_pre_hook(lambda m, a: keep("mixed", a[0]))
    cls, aux, used = model.forward_train(torch.randn(B, 3, 128, 96), box=box)  # stem 32 x 24, last stage 4 x 3
    assert used == box
    stem, mixed = seen["stem"].reshape(B, 32, 24, -1), seen["mixed"].reshape(B, 32, 24, -1)
    own = (mixed == stem).all(-1)
    other = (mixed == stem.flip(0)).all(-1)
    assert bool((own ^ other).all())  # every stem token comes from one of the two sources
    target = torch.eye(K)[:, :, None].expand(B, K, 13).clone()  # image b is class b, everywhere
    cls_target = mix_class_target(target[:, :, 0], used, 12)
    dense = target[:, :, 1:].transpose(1, 2)  # (B, N, K) of each image's own content
    dense_mixed = swap_box(dense, grid, used)  # the targets of the mixed images' tokens
    for b in range(B):
        assert int(other[b].sum()) == 16 * 16  # 2 x 2 last-stage tokens of 8 x 8 stem tokens
        share = int(other[b].sum()) / (32 * 24)
        assert float(cls_target[b, B - 1 - b]) == pytest.approx(share)
        assert float(cls_target[b, b]) == pytest.approx(1 - share)
        source = dense_mixed[b].argmax(-1).reshape(grid)
        for i in range(4):
            for j in range(3):
                from_other = bool(other[b, 8 * i:8 * i + 8, 8 * j:8 * j + 8].all())
                assert from_other or bool(own[b, 8 * i:8 * i + 8, 8 * j:8 * j + 8].all())
                assert int(source[i, j]) == (B - 1 - b if from_other else b)
    loss = TokenLabelCrossEntropy(dense_weight=1.0, cls_weight=0.0)((cls, aux, used), target)
    mixed_positions = soft_cross_entropy(swap_box(aux, grid, used).reshape(-1, K), dense_mixed.reshape(-1, K))
    torch.testing.assert_close(loss, mixed_positions)
    with_cls = TokenLabelCrossEntropy()((cls, aux, used), target)
    torch.testing.assert_close(with_cls, soft_cross_entropy(cls, cls_target) + 0.5 * loss)


def write_published(label_root: Path, split_root: Path, image: Path, dense_hwk: torch.Tensor, k: int) -> None:
    """The layout generate_label.py wrote, from its documentation (datasets/README.md): the (H, W, K) dense
    scores' top-k along K, stacked as [values, indices] in float16 and permuted to (2, k, H, W), saved at
    <class>/<file name up to its first dot>.pt."""
    value, index = dense_hwk.topk(k)
    rel = "/".join(str(image.relative_to(split_root)).split("/")[-2:]).split(".")[0] + ".pt"
    path = label_root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(torch.stack([value.half(), index.half()]).permute(0, 3, 1, 2), path)


def run_generator(digits: Path, teacher: Path, out: Path, *extra: str):
    return mtl.main([str(digits / "train"), str(out), "--teacher", "wavemsa_t", "--teacher-checkpoint", str(teacher),
                     "--img-size", "64", "--topk", "5", "--device", "cpu", "--workers", "0", "--batch-size", "4",
                     *extra])


def test_published_layout_loads_to_the_same_targets_as_the_generators_files(digits, teacher, tmp_path):
    ours, published = tmp_path / "ours", tmp_path / "published"
    run_generator(digits, teacher, ours)
    args = parse(["--input-size", "64", "--token-label", "--token-label-data", str(ours)])
    model = mtl.build_teacher(mtl.get_parser().parse_args(
        [str(digits / "train"), "x", "--teacher", "wavemsa_t", "--teacher-checkpoint", str(teacher)]),
        10, [str(c) for c in range(10)])
    ds = TokenLabelFolder(str(digits / "train"), args)
    transform = timm.data.create_transform(64, is_training=False, interpolation="bicubic", crop_pct=1.0)
    with torch.no_grad():
        for path, _ in ds.samples:
            dense = mtl.dense_class_scores(model, transform(Image.open(path).convert("RGB"))[None])[0]
            write_published(published, digits / "train", Path(path), dense.permute(1, 2, 0), 5)
    theirs = TokenLabelFolder(str(digits / "train"), parse(
        ["--input-size", "64", "--token-label", "--token-label-data", str(published)]))
    for d in (ds, theirs):
        d.size = 2
        d.check_labels()
    for i in range(len(ds)):
        a, b = read_label_map(ds.label_file(i), 10), read_label_map(theirs.label_file(i), 10)
        assert a[0].shape == (5, 2, 2) and torch.equal(a[1], b[1])
        torch.testing.assert_close(a[0], b[0], atol=2e-3, rtol=1e-3)
        targets = []
        for d in (ds, theirs):  # the same draws (RandAugment's ops: numpy; their arguments, crop: random; flip: torch)
            random.seed(i)
            np.random.seed(i)
            torch.manual_seed(i)
            targets.append(d[i][1])
        torch.testing.assert_close(targets[0], targets[1], atol=1e-3, rtol=1e-3)


def test_generator_resumes_shards_and_names_class_mismatches(digits, teacher, tmp_path, capsys):
    out = tmp_path / "labels"
    args = mtl.get_parser().parse_args([str(digits / "train"), str(out), "--teacher", "wavemsa_t",
                                        "--teacher-checkpoint", str(teacher), "--img-size", "64", "--device",
                                        "cpu", "--workers", "0", "--topk", "10"])
    first = mtl.generate(args, DistInfo(rank=1, world_size=2))  # what rank 1 of 2 writes
    files = sorted(out.rglob("*.pt"))
    assert first["written"] == len(files) == 5
    second = mtl.generate(args, DistInfo(rank=0, world_size=2))
    assert second["written"] == 5 and len(list(out.rglob("*.pt"))) == 10
    stamps = {f: f.stat().st_mtime_ns for f in out.rglob("*.pt")}
    again = mtl.generate(args, DistInfo())  # everything present: nothing rewritten
    assert again["written"] == 0 and stamps == {f: f.stat().st_mtime_ns for f in out.rglob("*.pt")}
    assert not [f for f in out.rglob("*") if ".tmp" in f.name]
    meta = __import__("json").loads((out / "meta.json").read_text())
    assert meta["classes"] == [str(c) for c in range(10)] and meta["grid"] == [2, 2] and meta["topk"] == 10
    scores, idx = read_label_map(files[0], 10)
    assert scores.shape == (10, 2, 2) and sorted(idx[:, 0, 0].tolist()) == list(range(10))

    five = tmp_path / "five.pth"
    torch.save({"model": timm.create_model("wavemsa_t", num_classes=5).state_dict()}, five)
    assert run_main(mtl.main, [str(digits / "train"), str(tmp_path / "x"), "--teacher", "wavemsa_t",
                               "--teacher-checkpoint", str(five), "--device", "cpu"]) == 2
    err = capsys.readouterr().err
    assert "predicts 5 classes" in err and "10 class folders" in err and "Traceback" not in err


def test_use_ema_takes_the_teachers_ema_weights_and_names_a_checkpoint_without_them(digits, teacher, tmp_path):
    plain_state = torch.load(teacher, weights_only=True)["model"]
    ema_state = {k: v + 1 if v.is_floating_point() else v for k, v in plain_state.items()}
    both = tmp_path / "both.pth"
    torch.save({"model": plain_state, "model_ema": ema_state}, both)

    def build(path: Path, *extra: str) -> torch.nn.Module:
        args = mtl.get_parser().parse_args([str(digits / "train"), "x", "--teacher", "wavemsa_t",
                                            "--teacher-checkpoint", str(path), *extra])
        return mtl.build_teacher(args, 10, [str(c) for c in range(10)])

    key = "stages.0.embed.conv.0.weight"
    torch.testing.assert_close(build(both, "--use-ema").state_dict()[key], ema_state[key])
    torch.testing.assert_close(build(both).state_dict()[key], plain_state[key])
    with pytest.raises(InputError, match=r"--use-ema: checkpoint .*teacher\.pth' has no EMA weights"):
        build(teacher, "--use-ema")


def test_dense_scores_of_a_convnet_average_to_its_logits():
    """Through the teacher's own head at every position: for a linear head after average pooling the mean of
    the dense scores is exactly the model's prediction."""
    model = timm.create_model("resnet18", num_classes=7).eval()
    x = torch.randn(2, 3, 96, 96)
    with torch.no_grad():
        dense = mtl.dense_class_scores(model, x)
        assert dense.shape == (2, 7, 3, 3)
        torch.testing.assert_close(dense.mean(dim=(2, 3)), model(x), atol=1e-4, rtol=1e-4)


def test_teacher_without_a_spatial_map_is_refused():
    model = timm.create_model("crossvit_tiny_240", num_classes=10).eval()
    with pytest.raises(InputError, match="no spatial feature map"):
        mtl.dense_class_scores(model, torch.randn(1, 3, 240, 240))


def train_argv(data: Path, labels: Path, out: Path, *extra: str) -> list[str]:
    return ["--model", "wavemsa_t", "--data-path", str(data), "--input-size", "32", "--batch-size", "2",
            "--epochs", "1", "--device", "cpu", "--num_workers", "0", "--output_dir", str(out), "--no-repeated-aug",
            "--token-label", "--token-label-data", str(labels), *extra]


def test_missing_or_malformed_label_maps_are_named(digits, teacher, tmp_path, capsys, monkeypatch):
    labels = tmp_path / "labels"
    run_generator(digits, teacher, labels, "--img-size", "32")
    files = sorted(labels.rglob("*.pt"))
    files[3].unlink()
    assert run_main(ic_main.main, train_argv(digits, labels, tmp_path / "o")) == 2
    err = capsys.readouterr().err
    assert "1 of 10 training images" in err and str(files[3]) in err and "Traceback" not in err
    torch.save(torch.zeros(3, 3), files[3])
    assert run_main(ic_main.main, train_argv(digits, labels, tmp_path / "o")) == 2  # small: all read up front
    err = capsys.readouterr().err
    assert f"label map '{files[3]}' holds (3, 3)" in err and "Traceback" not in err
    write_label_map(files[3], torch.ones(1, 1, 1), torch.full((1, 1, 1), 12))
    from image_classification import token_label

    monkeypatch.setattr(token_label, "PRELOAD_BYTES", 0)  # as for ImageNet: read in the loader workers
    assert run_main(ic_main.main, train_argv(digits, labels, tmp_path / "o", "--num_workers", "1")) == 2
    err = capsys.readouterr().err
    assert f"label map '{files[3]}' holds class indices in [12, 12]" in err and "Traceback" not in err
    assert run_main(ic_main.main, train_argv(digits, labels, tmp_path / "o", "--token-label-size", "3")) == 2
    assert "--token-label-size 3 does not match the 1x1 last-stage tokens" in capsys.readouterr().err
    argv = train_argv(digits, labels, tmp_path / "o")
    assert run_main(ic_main.main, argv[:argv.index("--token-label-data")]) == 2
    assert "--token-label needs --token-label-data" in capsys.readouterr().err
