"""Classification trainer: config files, built-in data, bad input (fast, in-process)."""
from __future__ import annotations

import os
import sys
import warnings
from pathlib import Path

import pytest
import timm
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "datasets"))

import digit_scenes  # noqa: E402
import make_classification  # noqa: E402

from image_classification import main as ic_main  # noqa: E402
from image_classification.checkpoint import read_checkpoint, save_atomic  # noqa: E402
from image_classification.config import parse_with_config  # noqa: E402
from image_classification.data import SafeImageFolder, collate_skip_none  # noqa: E402
from wavemsa.errors import InputError, run_main  # noqa: E402

CONFIGS = ROOT / "image_classification" / "configs" / "wavemsa"


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("digits") / "digits"
    make_classification.build(out, size=32, train_copies=1, val_copies=1, max_per_class=2)
    return out


def parse(argv):
    return parse_with_config(ic_main.get_parser(), argv)


@pytest.mark.parametrize("variant,drop_path,clip_grad", [("s", 0.1, None), ("b", 0.1, None), ("l", 0.3, 1.0)])
def test_config_applies_over_defaults(variant, drop_path, clip_grad):
    args = parse(["--config", str(CONFIGS / f"wavemsa_{variant}.py")])
    assert (args.model, args.drop_path, args.clip_grad) == (f"wavemsa_{variant}", drop_path, clip_grad)
    assert args.output_dir == f"checkpoints/wavemsa_{variant}"
    assert args.epochs == 310 and args.lr == 5e-4 and args.token_label and args.crop_pct == 0.96
    assert not args.model_ema and args.mixup == 0 and args.cutmix == 0
    import wavemsa  # noqa: F401

    assert timm.is_model(args.model)


def test_command_line_wins_over_config():
    args = parse(["--config", str(CONFIGS / "wavemsa_l.py"), "--drop-path", "0.2", "--output_dir", "x"])
    assert args.drop_path == 0.2 and args.output_dir == "x" and args.clip_grad == 1.0


def test_unknown_config_key_is_named(tmp_path, capsys):
    cfg = tmp_path / "bad.py"
    cfg.write_text("model = 'wavemsa_t'\ndrop_pth = 0.1\n")
    with pytest.raises(InputError, match="drop_pth"):
        parse(["--config", str(cfg)])
    assert run_main(ic_main.main, ["--config", str(cfg)]) == 2
    err = capsys.readouterr().err
    assert "drop_pth" in err and str(cfg) in err and "Traceback" not in err


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
    """--out pointing at a folder of other files is refused (it used to be deleted); an earlier build, an empty
    folder and '.' (no name to build a sibling from) are fine."""
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


def test_checkpoint_of_another_model_is_refused(tiny_data, tmp_path, capsys):
    import wavemsa  # noqa: F401

    model = timm.create_model("wavemsa_t", num_classes=10)
    ckpt = tmp_path / "t.pth"
    save_atomic({"model": model.state_dict(), "epoch": 0, "args": {"model": "wavemsa_t"}}, ckpt)
    assert set(read_checkpoint(ckpt)) == {"model", "epoch", "args"}
    assert not list(tmp_path.glob(".*tmp"))  # the temporary file was renamed away
    rc = run_main(ic_main.main, ["--model", "wavemsa_s", "--data-path", str(tiny_data), "--device", "cpu",
                       "--input-size", "32", "--batch-size", "4", "--eval", "--resume", str(ckpt),
                       "--num_workers", "0"])
    err = capsys.readouterr().err
    assert rc == 2 and "Traceback" not in err
    assert str(ckpt) in err and "wavemsa_t" in err and "wavemsa_s" in err


def test_corrupt_checkpoint_is_named(tiny_data, tmp_path, capsys):
    ckpt = tmp_path / "broken.pth"
    ckpt.write_bytes(b"\x00garbage")
    rc = run_main(ic_main.main, ["--model", "wavemsa_t", "--data-path", str(tiny_data), "--device", "cpu",
                       "--input-size", "32", "--batch-size", "4", "--eval", "--resume", str(ckpt),
                       "--num_workers", "0"])
    err = capsys.readouterr().err
    assert rc == 2 and str(ckpt) in err and "Traceback" not in err


def test_checkpoint_round_trip_has_only_safe_types(tmp_path):
    from image_classification.checkpoint import rng_state, set_rng_state

    state = rng_state()
    save_atomic({"rng": state}, tmp_path / "r.pth")
    loaded = torch.load(tmp_path / "r.pth", weights_only=True)["rng"]
    a = (torch.rand(3), __import__("numpy").random.rand(), __import__("random").random())
    set_rng_state(loaded)
    b = (torch.rand(3), __import__("numpy").random.rand(), __import__("random").random())
    assert torch.equal(a[0], b[0]) and a[1:] == b[1:]


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


@pytest.mark.parametrize("flag", [["--local-rank=1"], ["--local_rank", "1"]])
def test_legacy_launcher_local_rank_argument_is_accepted(flag):
    """torch.distributed.launch without --use_env appends --local-rank=N (older torch: --local_rank N)."""
    assert parse(flag).local_rank == 1


def test_finetune_keeps_backbone_and_reinitialises_a_different_head():
    import wavemsa  # noqa: F401
    from image_classification.checkpoint import finetune_state, load_model_weights

    src = timm.create_model("wavemsa_t", num_classes=10)
    dst = timm.create_model("wavemsa_t", num_classes=5)
    state, dropped = finetune_state(dst, src.state_dict())
    assert dropped and all(k.startswith("head.") for k in dropped)
    head_before = {k: dst.state_dict()[k].clone() for k in dropped}
    load_model_weights(dst, state, "src.pth", "wavemsa_t", None, dropped)
    for k, v in src.state_dict().items():
        if k not in dropped:
            assert torch.equal(dst.state_dict()[k], v), k
    for k, v in head_before.items():
        assert torch.equal(dst.state_dict()[k], v)


# ---- issue 14: evaluation counts, options checked when parsed, bad data named -------------------------
@pytest.mark.parametrize("workers", [0, 2])
def test_every_evaluation_pass_counts_exactly_the_readable_images(tiny_data, tmp_path, workers):
    """Unreadable val images are left out of every pass alike (a remembered one used to be replaced by
    its neighbour from the second pass on with --num_workers 0, scoring that neighbour twice)."""
    import shutil

    from torch.utils.data import DataLoader

    from image_classification.data import ShardSampler, build_transform
    from image_classification.engine import evaluate

    val = tmp_path / "val"
    shutil.copytree(tiny_data / "val", val)
    (val / "3" / "broken.png").write_bytes(b"not an image")
    (val / "7" / "empty.png").write_bytes(b"")
    readable = len(list((tiny_data / "val").rglob("*.png")))
    ds = SafeImageFolder(str(val), build_transform(False, parse(["--input-size", "32"])), on_error="drop")
    loader = DataLoader(ds, batch_size=3, sampler=ShardSampler(len(ds), 0, 1), num_workers=workers,
                        collate_fn=collate_skip_none)
    import wavemsa  # noqa: F401

    model = timm.create_model("wavemsa_t", num_classes=10)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        passes = [evaluate(model, loader, torch.device("cpu"), None, 10, False) for _ in range(3)]
    assert len(ds) == readable + 2
    assert [p["count"] for p in passes] == [readable] * 3
    assert all(p == passes[0] for p in passes)


def test_evaluation_figures_equal_timms_accuracy_and_a_direct_confusion_matrix():
    """evaluate sums on the device and reads once at the end; its loss, top-1/top-5 and confusion matrix are
    those of timm's accuracy and cross-entropy over all batches."""
    from timm.utils import accuracy

    from image_classification.engine import evaluate

    torch.manual_seed(0)
    images, targets = torch.randn(23, 7), torch.randint(0, 7, (23,))
    model = torch.nn.Sequential(torch.nn.Linear(7, 7))
    loader = [(images[i:i + 5], targets[i:i + 5]) for i in range(0, 23, 5)] + [None]  # None: all unreadable
    stats = evaluate(model, loader, torch.device("cpu"), None, 7, False, confusion=True)
    with torch.no_grad():
        logits = model(images)
    acc1, acc5 = accuracy(logits, targets, topk=(1, 5))
    assert stats["count"] == 23
    assert stats["acc1"] == pytest.approx(acc1.item()) and stats["acc5"] == pytest.approx(acc5.item())
    assert stats["loss"] == pytest.approx(torch.nn.functional.cross_entropy(logits, targets).item())
    expected = torch.zeros(7, 7, dtype=torch.int64).index_put_((targets, logits.argmax(1)), torch.tensor(1),
                                                               accumulate=True)
    assert (stats["confusion"] == expected.numpy()).all() and stats["confusion"].sum() == 23


@pytest.mark.parametrize("argv,option", [
    (["--batch-size", "0"], "--batch-size"), (["--epochs", "-2"], "--epochs"), (["--input-size", "0"], "--input-size"),
    (["--lr", "0"], "--lr"), (["--crop-pct", "1.5"], "--crop-pct"), (["--smoothing", "2"], "--smoothing"),
    (["--num_workers", "-1"], "--num_workers"), (["--drop-path", "-0.1"], "--drop-path"),
    (["--scale", "0.5", "2"], "--scale"), (["--token-label-size", "0"], "--token-label-size"),
    (["--config", "no_such_config.py"], "--config"), (["--opt", "adamx"], "--opt"), (["--sched", "foo"], "--sched"),
    (["--aa", "bogus"], "--aa"), (["--device", "tpu"], "--device"), (["--opt-betas", "0.9"], "--opt-betas"),
    (["--output_dir", str(ROOT / "README.md")], "--output_dir")])
def test_bad_option_values_are_refused_when_parsed(argv, option, capsys):
    with pytest.raises(SystemExit) as exit_info:
        parse(argv)
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and f"argument {option}" in err and "Traceback" not in err


def test_bad_config_values_and_cross_option_problems_are_named(tiny_data, tmp_path, capsys):
    cfg = tmp_path / "bad.py"
    cfg.write_text("batch_size = 0\n")
    with pytest.raises(InputError, match=r"bad\.py': batch_size = 0: must be a positive integer"):
        parse(["--config", str(cfg)])
    cfg.write_text("train_interpolation = 'cubic'\n")
    with pytest.raises(InputError, match="train_interpolation = 'cubic': expected one of"):
        parse(["--config", str(cfg)])
    for text, message in [("model_ema = 'no'\n", "model_ema = 'no': expected True or False"),  # was: EMA on
                          ("eval = 'false'\n", "eval = 'false': expected True or False"),
                          ("_base_ = 5\n", "_base_ = 5: expected a path or a list of paths"),
                          ("help = 3\n", r"unknown key\(s\) 'help'")]:
        cfg.write_text(text)
        with pytest.raises(InputError, match=message):
            parse(["--config", str(cfg)])
    cfg.write_text("model_ema = True\nopt_betas = (0.9, 0.95)\naa = 'original'\n")
    args = parse(["--config", str(cfg)])
    assert args.model_ema is True and list(args.opt_betas) == [0.9, 0.95] and args.aa == "original"
    base = ["--model", "wavemsa_t", "--data-path", str(tiny_data), "--device", "cpu", "--num_workers", "0"]
    for extra, message in [(["--input-size", "16"], "--input-size 16 is below 32"),
                           (["--scale", "0.9", "0.5"], "--scale 0.9 0.5: the minimum is above the maximum"),
                           (["--eval"], "--eval needs --resume"),
                           (["--token-label-data", str(tmp_path)], "is read only with --token-label")]:
        assert run_main(ic_main.main, base + extra, prog="main.py") == 2
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err, err


def test_inputs_that_used_to_give_a_silently_wrong_number_are_named(tiny_data, tmp_path, capsys):
    """--eval / --resume against class folders of other names (same count: the indices would mean other
    classes), a symbolic link back up the tree (the images were counted 41 times), a val split with no
    readable image and a log.txt that is not the trainer's: each a one-line error naming it."""
    import shutil

    from image_classification.engine import evaluate
    from image_classification.outputs import read_log

    data = tmp_path / "renamed"
    shutil.copytree(tiny_data, data)
    for split in ("train", "val"):
        for c in sorted((data / split).iterdir()):
            c.rename(c.with_name(f"c{c.name}"))
    ckpt = tmp_path / "ckpt.pth"
    save_atomic({"model": timm.create_model("wavemsa_t", num_classes=10).state_dict(),
                 "classes": [str(c) for c in range(10)], "args": {"model": "wavemsa_t"}}, ckpt)
    base = ["--model", "wavemsa_t", "--input-size", "32", "--device", "cpu", "--num_workers", "0", "--batch-size", "4"]
    for extra in (["--eval"], []):
        assert run_main(ic_main.main, [*base, "--data-path", str(data), "--resume", str(ckpt), *extra]) == 2
        err = capsys.readouterr().err
        assert f"checkpoint '{ckpt}' was trained on 10 classes that differ from the 10 class folders" in err, err

    looped = tmp_path / "looped"
    shutil.copytree(tiny_data, looped)
    (looped / "train" / "3" / "loop").symlink_to(looped / "train")
    assert run_main(ic_main.main, [*base, "--data-path", str(looped)]) == 2
    err = capsys.readouterr().err
    assert "through a symbolic link: its images would be counted more than once" in err and "Traceback" not in err

    with pytest.raises(InputError, match="no readable image to evaluate on"):
        evaluate(torch.nn.Linear(2, 2), [None], torch.device("cpu"), None, 2, False)
    log = tmp_path / "log.txt"
    log.write_text('{"epoch": 0}\nnot json\n')
    with pytest.raises(InputError, match=r"log\.txt' line 2 is not a JSON record of this trainer"):
        read_log(log)


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


def test_per_class_report_is_sklearns_on_the_predictions():
    import numpy as np
    from sklearn.metrics import classification_report

    from image_classification.report import per_class_report, predictions_from_confusion

    rng = np.random.default_rng(0)
    true = rng.integers(0, 4, 200)
    pred = np.where(rng.random(200) < 0.7, true, rng.integers(0, 4, 200))
    pred[true == 3] = 0  # class 3 never predicted: precision 0 by convention
    confusion = np.zeros((4, 4), np.int64)
    np.add.at(confusion, (true, pred), 1)
    t, p = predictions_from_confusion(confusion)
    assert sorted(zip(t, p)) == sorted(zip(true, pred))
    report = per_class_report(confusion, ["a", "b", "c", "d"])
    ref = classification_report(true, pred, labels=[0, 1, 2, 3], output_dict=True, zero_division=0)
    for i, c in enumerate(report["classes"]):
        for key in ("precision", "recall", "f1"):
            assert c[key] == pytest.approx(ref[str(i)]["f1-score" if key == "f1" else key])
        assert c["support"] == ref[str(i)]["support"]
    assert report["macro"]["f1"] == pytest.approx(ref["macro avg"]["f1-score"])
    assert report["accuracy"] == pytest.approx(ref["accuracy"]) and report["confusion_matrix"] == confusion.tolist()


def test_eval_writes_the_per_class_report(tiny_data, tmp_path):
    import json

    import wavemsa  # noqa: F401

    model = timm.create_model("wavemsa_t", num_classes=10, token_label=True)
    ckpt = tmp_path / "tl.pth"
    save_atomic({"model": model.state_dict(), "args": {"model": "wavemsa_t"}}, ckpt)
    out = tmp_path / "ev"
    assert run_main(ic_main.main, ["--model", "wavemsa_t", "--data-path", str(tiny_data), "--device", "cpu",
                                   "--input-size", "32", "--batch-size", "4", "--eval", "--resume", str(ckpt),
                                   "--num_workers", "0", "--output_dir", str(out)]) == 0
    ev = json.loads((out / "eval.json").read_text())
    report = json.loads((out / "per_class.json").read_text())
    assert (out / "per_class.png").stat().st_size > 0
    assert [c["name"] for c in report["classes"]] == [str(c) for c in range(10)]
    assert [c["support"] for c in report["classes"]] == [2] * 10
    assert sum(map(sum, report["confusion_matrix"])) == ev["count"] == 20
    assert report["accuracy"] * 100 == pytest.approx(ev["acc1"])


def test_configs_build_on_base_files(tmp_path):
    """The recipes live once in configs/_base_/; a config overrides its base's values; a loop is refused."""
    from image_classification.config import load_config

    s384 = parse(["--config", str(CONFIGS / "wavemsa_s_384.py")])
    assert (s384.input_size, s384.token_label_size, s384.lr, s384.epochs) == (384, 12, 5e-6, 30)
    assert s384.token_label and s384.crop_pct == 0.96 and s384.model == "wavemsa_s"  # from wavemsa_s.py's base
    deit = parse(["--config", str(CONFIGS / "wavemsa_b_deit.py")])
    assert (deit.model, deit.mixup, deit.crop_pct, deit.model_ema, deit.token_label) == ("wavemsa_b", 0.8, 0.875,
                                                                                          True, False)
    (tmp_path / "a.py").write_text("_base_ = 'b.py'\nlr = 1.0\n")
    (tmp_path / "b.py").write_text("_base_ = ['a.py']\n")
    with pytest.raises(InputError, match="includes itself through _base_"):
        load_config(tmp_path / "a.py")


def test_finetune_between_plain_and_token_label_models(tmp_path):
    """--finetune from a plain checkpoint into a token-labelling model keeps the backbone and head and starts
    the auxiliary head new; the other way round the auxiliary head is left out."""
    import wavemsa  # noqa: F401
    from image_classification.checkpoint import load_finetune

    plain = timm.create_model("wavemsa_t", num_classes=10)
    tl = timm.create_model("wavemsa_t", num_classes=10, token_label=True)
    save_atomic({"model": plain.state_dict()}, tmp_path / "plain.pth")
    save_atomic({"model": tl.state_dict(), "args": {"model": "wavemsa_t"}}, tmp_path / "tl.pth")
    student = timm.create_model("wavemsa_t", num_classes=10, token_label=True)
    aux_before = student.aux_head.weight.clone()
    assert load_finetune(student, tmp_path / "plain.pth", "wavemsa_t") == ("aux_head.bias", "aux_head.weight")
    assert torch.equal(student.head.weight, plain.head.weight) and torch.equal(student.aux_head.weight, aux_before)
    back = timm.create_model("wavemsa_t", num_classes=10)
    assert load_finetune(back, tmp_path / "tl.pth", "wavemsa_t") == ("aux_head.bias", "aux_head.weight")
    assert all(torch.equal(v, tl.state_dict()[k]) for k, v in back.state_dict().items())


def test_finetune_from_a_timm_model_folder_or_safetensors_file(tmp_path):
    """--finetune reads what tools/export.py hands out (timm's save_for_hf folder) and a bare .safetensors
    file; a classifier of another class count starts new, and a folder of another model is named."""
    from timm.models import save_for_hf

    import wavemsa  # noqa: F401
    from image_classification.checkpoint import load_finetune

    src = timm.create_model("wavemsa_t", num_classes=10)
    save_for_hf(src, str(tmp_path / "folder"), safe_serialization=True)
    for path in (tmp_path / "folder", tmp_path / "folder" / "model.safetensors"):
        student = timm.create_model("wavemsa_t", num_classes=5)
        assert load_finetune(student, path, "wavemsa_t") == ("head.bias", "head.weight")
        theirs = src.state_dict()
        assert all(torch.equal(v, theirs[k]) for k, v in student.state_dict().items() if not k.startswith("head."))
    with pytest.raises(InputError, match=r"folder' does not fit model 'wavemsa_s' \(it was written for model "
                                         r"'wavemsa_t'\)"):
        load_finetune(timm.create_model("wavemsa_s", num_classes=10), tmp_path / "folder", "wavemsa_s")
    with pytest.raises(InputError, match="without model.safetensors"):
        load_finetune(src, tmp_path, "wavemsa_t")
