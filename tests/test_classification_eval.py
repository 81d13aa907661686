"""Classification trainer: evaluation (every readable image counted once, figures equal to timm's and
scikit-learn's) and the per-class report of --eval."""
from __future__ import annotations

import warnings
from pathlib import Path

import pytest
import timm
import torch
from classification_setup import digits, parse

from image_classification import main as ic_main
from image_classification.checkpoint import save_atomic
from image_classification.data import SafeImageFolder, collate_skip_none
from wavemsa.errors import InputError, run_main


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory) -> Path:
    return digits(tmp_path_factory.mktemp("digits") / "digits")  # 20 train / 20 val images


@pytest.mark.parametrize("workers", [0, 2])
def test_every_evaluation_pass_counts_exactly_the_readable_images(tiny_data, tmp_path, workers):
    """Unreadable val images are left out of every pass alike, with and without loader workers (a file found
    unreadable once is remembered: the passes after it must not score a neighbour in its place)."""
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


def test_an_evaluation_without_readable_images_or_a_foreign_log_is_named(tmp_path):
    from image_classification.engine import evaluate
    from image_classification.outputs import read_log

    with pytest.raises(InputError, match="no readable image to evaluate on"):
        evaluate(torch.nn.Linear(2, 2), [None], torch.device("cpu"), None, 2, False)
    log = tmp_path / "log.txt"
    log.write_text('{"epoch": 0}\nnot json\n')
    with pytest.raises(InputError, match=r"log\.txt' line 2 is not a JSON record of this trainer"):
        read_log(log)
