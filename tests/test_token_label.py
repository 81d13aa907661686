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
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "datasets"))

import make_classification  # noqa: E402

import wavemsa  # noqa: E402, F401
from image_classification import main as ic_main  # noqa: E402
from image_classification import make_token_labels as mtl  # noqa: E402
from image_classification.config import parse_with_config  # noqa: E402
from image_classification.distributed import DistInfo  # noqa: E402
from image_classification.label_maps import read_label_map, write_label_map  # noqa: E402
from image_classification.token_label import (  # noqa: E402
    TokenLabelCrossEntropy,
    TokenLabelFolder,
    mix_class_target,
    soft_cross_entropy,
)
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
        for d in (ds, theirs):
            random.seed(i)
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
