"""Per-class report of an evaluation (``main.py --eval``): precision, recall, F1 and support per class and
the confusion matrix, computed with scikit-learn's ``sklearn.metrics``, as JSON and as a PNG."""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from sklearn.metrics import confusion_matrix, precision_recall_fscore_support  # noqa: E402

from wavemsa.files import atomic_write, write_json  # noqa: E402


def predictions_from_confusion(confusion: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(y_true, y_pred) with ``confusion[i, j]`` pairs (i, j): the predictions a confusion matrix summarises
    (the matrix is what the ranks sum up; the pairs are what scikit-learn takes)."""
    confusion = np.asarray(confusion, dtype=np.int64)
    k = confusion.shape[0]
    true = np.repeat(np.repeat(np.arange(k), k), confusion.ravel())
    pred = np.repeat(np.tile(np.arange(k), k), confusion.ravel())
    return true, pred


def per_class_report(confusion: np.ndarray, classes: list[str]) -> dict:
    """{'classes': [{name, precision, recall, f1, support}], 'macro', 'weighted', 'accuracy',
    'confusion_matrix' (rows: true class, columns: predicted)} from a (K, K) count matrix."""
    true, pred = predictions_from_confusion(confusion)
    labels = list(range(len(classes)))
    p, r, f, s = precision_recall_fscore_support(true, pred, labels=labels, zero_division=0)
    out = {"classes": [{"name": c, "precision": float(p[i]), "recall": float(r[i]), "f1": float(f[i]),
                        "support": int(s[i])} for i, c in enumerate(classes)]}
    for avg in ("macro", "weighted"):
        pa, ra, fa, _ = precision_recall_fscore_support(true, pred, labels=labels, average=avg, zero_division=0)
        out[avg] = {"precision": float(pa), "recall": float(ra), "f1": float(fa)}
    out["accuracy"] = float((true == pred).mean()) if len(true) else 0.0
    out["count"] = int(len(true))
    out["confusion_matrix"] = confusion_matrix(true, pred, labels=labels).tolist()
    return out


def write_report(report: dict, classes: list[str], out_dir: str | Path, stem: str = "per_class") -> tuple[Path, Path]:
    """Write ``OUT/{stem}.json`` and ``OUT/{stem}.png`` (row-normalised confusion matrix, and per-class
    precision / recall / F1 when there are at most 60 classes), each written atomically. Returns both paths."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path, png_path = out_dir / f"{stem}.json", out_dir / f"{stem}.png"
    write_json(json_path, report, indent=1)

    cm = np.asarray(report["confusion_matrix"], dtype=np.float64)
    rows = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)
    k = len(classes)
    small = k <= 60
    fig, axes = plt.subplots(1, 2 if small else 1, figsize=(13 if small else 7, 6), squeeze=False)
    ax = axes[0, 0]
    im = ax.imshow(rows, cmap="Blues", vmin=0, vmax=1)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.set_title(f"confusion matrix (rows normalised), top-1 {100 * report['accuracy']:.2f}%")
    if k <= 30:
        ax.set_xticks(range(k), classes, rotation=90)
        ax.set_yticks(range(k), classes)
        for i in range(k):
            for j in range(k):
                if cm[i, j]:
                    ax.text(j, i, int(cm[i, j]), ha="center", va="center", fontsize=7,
                            color="white" if rows[i, j] > 0.5 else "black")
    fig.colorbar(im, ax=ax, fraction=0.046)
    if small:
        ax = axes[0, 1]
        x = np.arange(k)
        for off, key in zip((-0.27, 0.0, 0.27), ("precision", "recall", "f1")):
            ax.bar(x + off, [c[key] for c in report["classes"]], width=0.27, label=key)
        ax.set_xticks(x, classes, rotation=90)
        ax.set_ylim(0, 1.05)
        ax.set_title("per class")
        ax.legend(loc="lower right")
        ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    try:
        atomic_write(png_path, lambda tmp: fig.savefig(tmp, dpi=100, format="png"))
    finally:
        plt.close(fig)
    return json_path, png_path
