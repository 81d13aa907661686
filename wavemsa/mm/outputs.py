"""What a detection / segmentation run leaves besides mmengine's logs: metrics JSON and training curves."""
from __future__ import annotations

import glob
import json
import os.path as osp
from collections.abc import Mapping, Sequence
from typing import Any

from ..files import atomic_write, write_json

__all__ = ["float_metrics", "latest_scalars", "plot_training", "write_json_atomic"]


def write_json_atomic(obj: Any, path: str) -> str:
    """:func:`wavemsa.files.write_json` with the arguments in the order ``tools/benchmark.py`` passes them;
    returns ``path``."""
    write_json(path, obj)
    return path


def latest_scalars(work_dir: str) -> list[dict]:
    """The records of the most recent run's ``<work_dir>/<timestamp>/vis_data/scalars.json`` (one JSON
    object per line, written by mmengine's LocalVisBackend); [] when there is none."""
    found = sorted(glob.glob(osp.join(work_dir, "*", "vis_data", "scalars.json")))
    if not found:
        return []
    with open(found[-1]) as f:
        return [json.loads(line) for line in f if line.strip()]


def plot_training(work_dir: str, metrics: Sequence[str], out_png: str | None = None,
                  metric_label: str = "metric") -> str | None:
    """Plot the training losses and learning rate per iteration and the validation ``metrics`` per
    evaluation into ``out_png`` (default ``<work_dir>/training_curves.png``); return its path, or None
    when nothing was logged."""
    records = latest_scalars(work_dir)
    train = [r for r in records if "loss" in r]
    val = [r for r in records if "loss" not in r and any(k in r for k in metrics)]
    if not train:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(15, 4))
    it = [r.get("iter", r.get("step")) for r in train]
    losses = sorted({k for r in train for k in r if "loss" in k})
    for key in losses:
        pts = [(i, r[key]) for i, r in zip(it, train) if isinstance(r.get(key), (int, float)) and r[key] > 0]
        if pts:
            axes[0].plot(*zip(*pts), label=key, lw=2 if key == "loss" else 1)
    axes[0].set(xlabel="iteration", ylabel="loss", title="training losses", yscale="log")
    axes[0].legend(fontsize=7)
    axes[1].plot(it, [r.get("lr") for r in train])
    axes[1].set(xlabel="iteration", ylabel="lr", title="learning rate")
    for key in metrics:
        pts = [(r["step"], r[key]) for r in val if key in r]
        if pts:
            axes[2].plot(*zip(*pts), "o-", label=key)
    axes[2].set(xlabel="epoch or iteration of the evaluation", ylabel=metric_label, title="validation")
    if val:
        axes[2].legend(fontsize=7)
    fig.tight_layout()
    out_png = out_png or osp.join(work_dir, "training_curves.png")
    try:
        atomic_write(out_png, lambda tmp: fig.savefig(tmp, dpi=100, format="png"))
    finally:
        plt.close(fig)
    return out_png


def float_metrics(metrics: Mapping) -> dict[str, float]:
    """The numeric entries of an evaluator's result as plain floats (NumPy scalars do not serialise)."""
    return {k: float(v) for k, v in metrics.items() if isinstance(v, (int, float)) or hasattr(v, "__float__")}
