"""Classification trainer: the built-in digits, ImageNet-layout folders (which files are read, which are refused),
decoding, augmentation."""
from __future__ import annotations

import os
import warnings
from pathlib import Path

import pytest
from classification_setup import TINY_RUN, digit_scenes, digits, make_classification

from image_classification import main as ic_main
from image_classification.data import SafeImageFolder, collate_skip_none
from wavemsa.errors import InputError, run_main


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory) -> Path:
    return digits(tmp_path_factory.mktemp("digits") / "digits")  # 20 train / 20 val images


def test_builtin_data_layout_and_disjoint_glyphs(tiny_data):
    for split in ("train", "val"):
        classes = sorted(p.name for p in (tiny_data / split).iterdir())
        assert classes == [str(c) for c in range(10)]
        assert all(len(list((tiny_data / split / c).glob("*.png"))) == 2 for c in classes)
    glyph = {s: {int(p.name.split("_")[1]) for p in (tiny_data / s).rglob("*.png")} for s in ("train", "val")}
    assert not glyph["train"] & glyph["val"]
    _, labels = digit_scenes.load_digits()
    for p in (tiny_data / "val").rglob("*.png"):  # the folder is the glyph's true label
        assert labels[int(p.name.split("_")[1])] == int(p.parent.name)


def test_builtin_data_is_deterministic(tiny_data, tmp_path):
    again = tmp_path / "again"
    make_classification.build(again, size=32, train_copies=1, val_copies=1, max_per_class=2)
    for p in tiny_data.rglob("*.png"):
        assert (again / p.relative_to(tiny_data)).read_bytes() == p.read_bytes()


def test_builder_replaces_its_own_output_but_deletes_no_other_folder(tmp_path):
    """--out pointing at a folder of other files is refused and left as it is; an earlier build, an empty folder
    and '.' (no name to build a sibling from) are replaced."""
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "notes.txt").write_text("keep me")
    with pytest.raises(InputError, match=r"victim: a folder with other content .*nothing was deleted"):
        make_classification.build(victim, size=32, train_copies=1, val_copies=1, max_per_class=1)
    import make_ade20k  # the segmentation set's builder follows the same rule

    with pytest.raises(InputError, match=r"victim: a folder with other content"):
        make_ade20k.build(victim, num_train=1, num_val=1, size=64, max_objects=1, seed=0)
    assert (victim / "notes.txt").read_text() == "keep me"
    built = tmp_path / "built"
    built.mkdir()
    for _ in range(2):  # empty, then an earlier build
        make_classification.build(built, size=32, train_copies=1, val_copies=1, max_per_class=1)
        assert (built / "dataset.json").is_file()
    (tmp_path / "here").mkdir()
    cwd = os.getcwd()
    try:
        os.chdir(tmp_path / "here")
        make_classification.build(Path("."), size=32, train_copies=1, val_copies=1, max_per_class=1)
    finally:
        os.chdir(cwd)
    assert (tmp_path / "here" / "dataset.json").is_file()


def test_corrupt_image_is_skipped_with_warning(tiny_data, tmp_path):
    import shutil

    data = tmp_path / "d"
    shutil.copytree(tiny_data / "val", data)
    bad = data / "3" / "broken.png"
    bad.write_bytes(b"not an image at all")
    from torchvision.transforms import ToTensor

    ds = SafeImageFolder(str(data), transform=ToTensor(), on_error="drop")
    i = [p for p, _ in ds.samples].index(str(bad))
    with pytest.warns(UserWarning, match="broken.png"):
        assert ds[i] is None
    batch = collate_skip_none([ds[0], None, ds[1]])
    assert len(batch[0]) == 2
    train = SafeImageFolder(str(data), on_error="substitute")
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        img, label = train[i]
    assert any("broken.png" in str(x.message) for x in w)
    assert train.samples[i + 1][1] == label  # the next readable image took its place


@pytest.mark.parametrize("make", ["missing", "empty", "no_val"])
def test_bad_data_path_is_named(make, tiny_data, tmp_path, capsys):
    import shutil

    path = tmp_path / "data"
    if make == "empty":
        (path / "train").mkdir(parents=True)
        (path / "val").mkdir()
    elif make == "no_val":
        shutil.copytree(tiny_data / "train", path / "train")
    rc = run_main(ic_main.main, ["--model", "wavemsa_t", "--data-path", str(path), "--device", "cpu",
                                 "--input-size", "32"])
    err = capsys.readouterr().err
    assert rc == 2 and "Traceback" not in err
    assert str(path) in err
    assert {"missing": "does not exist", "empty": "is empty", "no_val": "no 'val' folder"}[make] in err


def test_randaugment_posterize_at_full_magnitude_does_not_fail():
    """timm's PosterizeIncreasing asks for 0 bits at magnitude 10; the trainer keeps one bit instead of
    letting Pillow raise (which would otherwise look like an unreadable image)."""
    from types import SimpleNamespace

    from PIL import Image

    from image_classification.data import build_transform

    args = SimpleNamespace(input_size=32, scale=(0.5, 1.0), hflip=0.0, color_jitter=0.4, aa="rand-m9-mstd0.5-inc1",
                           train_interpolation="bicubic", reprob=0.0, remode="pixel", recount=1)
    ra = next(t for t in build_transform(True, args).transforms if type(t).__name__ == "RandAugment")
    op = next(o for o in ra.ops if o.name == "PosterizeIncreasing")
    op.prob, op.magnitude, op.magnitude_std = 1.0, 10, 0.0
    out = op(Image.new("RGB", (32, 32), (200, 100, 50)))
    assert out.getpixel((0, 0)) == (128, 0, 0)  # one bit kept per channel


def test_class_folder_without_images_is_named_with_its_split(tiny_data, tmp_path, capsys):
    import shutil

    data = tmp_path / "data"
    shutil.copytree(tiny_data, data)
    for f in (data / "val" / "4").iterdir():
        f.unlink()
    (data / "val" / "4" / "notes.txt").write_text("no image here")
    rc = run_main(ic_main.main, ["--model", "wavemsa_t", "--data-path", str(data), "--device", "cpu"])
    err = capsys.readouterr().err
    assert rc == 2 and f"class folder '{data / 'val' / '4'}' of the val split holds no images" in err


def test_builtin_data_script_checks_its_options(tmp_path, capsys):
    assert run_main(make_classification.main, ["--out", str(tmp_path / "d"), "--size", "16"]) == 2
    assert "--size must be >= 32" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        make_classification.main(["--train-copies", "0"])
    assert "argument --train-copies: must be a positive integer" in capsys.readouterr().err


def test_a_symbolic_link_back_up_a_class_folder_is_named(tiny_data, tmp_path, capsys):
    """torchvision follows such a link until the OS refuses, counting the images again each time round."""
    import shutil

    base = [*TINY_RUN, "--batch-size", "4"]
    looped = tmp_path / "looped"
    shutil.copytree(tiny_data, looped)
    (looped / "train" / "3" / "loop").symlink_to(looped / "train")
    assert run_main(ic_main.main, [*base, "--data-path", str(looped)]) == 2
    err = capsys.readouterr().err
    assert "through a symbolic link: its images would be counted more than once" in err and "Traceback" not in err


def test_every_file_of_a_split_is_read_or_counted_in_one_warning(tiny_data, tmp_path):
    """Hidden files (macOS's ._x.png included: torchvision reads them as images), files without an image extension,
    files beside the class folders and hidden folders are left out and counted, with their reasons, in one warning
    per split; every image is read."""
    import shutil

    from image_classification.folders import scan_split

    train = tmp_path / "train"
    shutil.copytree(tiny_data / "train", train)
    images = sorted(str(p) for p in train.rglob("*.png"))
    (train / "3" / "notes.txt").write_text("x")
    (train / "3" / "labels.json").write_text("{}")
    (train / "5" / ".DS_Store").write_bytes(b"\0")
    shutil.copy(images[0], train / "5" / "._train_0000_0.png")
    (train / "5" / ".ipynb_checkpoints").mkdir()
    shutil.copy(images[0], train / "5" / ".ipynb_checkpoints" / "copy.png")
    (train / "README.md").write_text("x")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ds = SafeImageFolder(str(train))
    messages = [str(w.message) for w in caught]
    assert len(messages) == 1, messages
    assert messages[0].startswith(f"'{train}': 6 files skipped: ")
    for part in ("3 hidden", "2 without an image extension (.json, .txt)", "1 outside the class folders"):
        assert part in messages[0], messages[0]
    assert sorted(p for p, _ in ds.samples) == images
    assert ds.classes == [str(c) for c in range(10)]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a clean split: no warning
        assert len(scan_split(tiny_data / "val", "val").samples) == 20


def test_one_file_under_two_names_is_refused(tiny_data, tmp_path, capsys):
    """A hard link (or a symbolic link to a file) in another class folder would put one image in two classes and
    score it twice."""
    import shutil

    from image_classification.folders import scan_split

    data = tmp_path / "data"
    shutil.copytree(tiny_data, data)
    first = sorted((data / "val" / "3").iterdir())[0]
    os.link(first, data / "val" / "4" / "again.png")
    assert run_main(ic_main.main, [*TINY_RUN, "--batch-size", "4", "--data-path", str(data)]) == 2
    err = capsys.readouterr().err
    assert f"'{first}' and '{data / 'val' / '4' / 'again.png'}' are one file (a hard or symbolic link)" in err, err
    assert "counted twice" in err and "Traceback" not in err
    (data / "val" / "4" / "again.png").unlink()
    (data / "val" / "4" / "linked.png").symlink_to(first)
    with pytest.raises(InputError, match="linked.png' are one file"):
        scan_split(data / "val", "val")


def _sixteen_bit_png(path: Path, values) -> None:
    from PIL import Image

    Image.fromarray(values.astype("uint16")).save(path)


def test_sixteen_bit_images_are_scaled_and_32_bit_ones_skipped_with_the_reason(tmp_path):
    """16-bit greyscale PNG and TIFF are read as their 8-bit equivalent (Pillow alone clips them to 255); 32-bit
    floating-point images have no known range: skipped with a warning saying so."""
    import numpy as np
    from PIL import Image

    from image_classification.data import load_image

    eight = np.arange(256, dtype=np.uint8).reshape(16, 16)
    Image.fromarray(eight).save(tmp_path / "eight.png")
    _sixteen_bit_png(tmp_path / "sixteen.png", eight.astype(np.uint32) * 257)
    Image.fromarray(eight.astype(np.uint16) * 257).save(tmp_path / "sixteen.tif")
    expected = np.asarray(load_image(str(tmp_path / "eight.png")))
    assert expected.shape == (16, 16, 3) and expected[..., 0].max() == 255
    for name in ("sixteen.png", "sixteen.tif"):
        assert Image.open(tmp_path / name).mode.startswith("I;16")
        assert np.array_equal(np.asarray(load_image(str(tmp_path / name))), expected), name
    (tmp_path / "c" / "0").mkdir(parents=True)
    Image.fromarray(eight.astype(np.float32)).save(tmp_path / "c" / "0" / "float.tif")
    ds = SafeImageFolder(str(tmp_path / "c"), on_error="drop")
    with pytest.warns(UserWarning, match=r"float\.tif': floating-point pixels \(PIL mode F\) have no known range"):
        assert ds[0] is None


def test_exif_orientation_is_applied(tmp_path):
    """A JPEG stored sideways with EXIF orientation 6 (rotate 90 degrees clockwise to show) is read as shown."""
    import numpy as np
    from PIL import Image

    from image_classification.data import load_image

    stored = np.zeros((40, 80, 3), np.uint8)  # 80 wide, 40 high: left half red, right half blue
    stored[:, :40, 0] = 255
    stored[:, 40:, 2] = 255
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(stored).save(tmp_path / "sideways.jpg", exif=exif.tobytes(), quality=95)
    shown = np.asarray(load_image(str(tmp_path / "sideways.jpg"))).astype(int)
    assert shown.shape == (80, 40, 3)  # turned clockwise: the stored left half (red) is now on top
    assert shown[10, 20, 0] > 200 > shown[10, 20, 2] and shown[70, 20, 2] > 200 > shown[70, 20, 0]


def test_a_samples_augmentation_depends_on_its_seed_only(tiny_data):
    """Training samples come as (index, seed): the same pair gives the same augmented image in the main process
    and in any loader worker, whatever was drawn before, and the main process's generators are left as they
    were."""
    import torch
    from classification_setup import parse
    from torch.utils.data import DataLoader

    from image_classification.data import SeededPositions, SeededShuffleSampler, build_transform

    args = parse(["--input-size", "32"])
    ds = SafeImageFolder(str(tiny_data / "train"), build_transform(True, args))
    torch.manual_seed(1)
    before = torch.get_rng_state()
    a = ds[(3, 1234)][0]
    assert torch.equal(torch.get_rng_state(), before)
    torch.rand(5)
    assert torch.equal(ds[(3, 1234)][0], a) and not torch.equal(ds[(3, 99)][0], a)
    batches = []
    for workers in (0, 2):
        sampler = SeededPositions(SeededShuffleSampler(len(ds), 0, 1, seed=0), seed=0, rank=0)
        sampler.set_epoch(1, start=4)  # the epoch from its third batch of 2 on
        loader = DataLoader(ds, batch_size=2, sampler=sampler, num_workers=workers, drop_last=True)
        batches.append([b[0] for b in loader])
    full = SeededPositions(SeededShuffleSampler(len(ds), 0, 1, seed=0), seed=0, rank=0)
    full.set_epoch(1)
    whole = [b[0] for b in DataLoader(ds, batch_size=2, sampler=full, drop_last=True)]
    assert len(batches[0]) == len(whole) - 2
    for x, y, z in zip(batches[0], batches[1], whole[2:]):
        assert torch.equal(x, y) and torch.equal(x, z)
