"""PNG plot of a training run from the scalars mmengine's ``LocalVisBackend`` logs."""
from __future__ import annotations

import json
import os
import os.path as osp


def read_scalars(log_dir: str) -> list[dict]:
    """Records of ``<log_dir>/vis_data/scalars.json`` (one JSON object per line); [] if absent."""
    path = osp.join(log_dir, "vis_data", "scalars.json")
    if not osp.isfile(path):
        return []
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def plot_training_curves(log_dir: str, out_png: str) -> str | None:
    """Plot the training losses, pixel accuracy and learning rate against the iteration, and the
    validation mIoU / mAcc / aAcc when evaluated; return ``out_png``, or None with nothing logged."""
    records = read_scalars(log_dir)
    train = [r for r in records if "loss" in r]
    val = [r for r in records if "mIoU" in r]
    if not train:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(15, 4))
    it = [r["iter"] for r in train]
    for key in sorted(k for k in train[0] if k == "loss" or k.endswith("loss_ce")):
        axes[0].plot(it, [r.get(key) for r in train], label=key)
    axes[0].set(xlabel="iteration", ylabel="loss", title="training loss", yscale="log")
    axes[0].legend()
    for key in sorted(k for k in train[0] if k.endswith("acc_seg")):
        axes[1].plot(it, [r.get(key) for r in train], label=f"train {key}")
    for key in ("mIoU", "mAcc", "aAcc"):
        if val:
            axes[1].plot([r["step"] for r in val], [r[key] for r in val], "o-", label=f"val {key}")
    axes[1].set(xlabel="iteration", ylabel="%", title="accuracy / IoU")
    axes[1].legend()
    axes[2].plot(it, [r["lr"] for r in train])
    axes[2].set(xlabel="iteration", ylabel="lr", title="learning rate")
    fig.tight_layout()
    tmp = out_png + ".tmp.png"
    fig.savefig(tmp, dpi=100)
    plt.close(fig)
    os.replace(tmp, out_png)
    return out_png
