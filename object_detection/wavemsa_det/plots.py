"""PNG plots of a training run from mmengine's ``vis_data/scalars.json`` (one JSON record per line)."""
from __future__ import annotations

import glob
import json
import os
import os.path as osp


def latest_scalars(work_dir: str) -> str | None:
    """The scalars.json of the most recent run in ``work_dir`` (mmengine's <timestamp>/vis_data/)."""
    found = sorted(glob.glob(osp.join(work_dir, "*", "vis_data", "scalars.json")))
    return found[-1] if found else None


def plot_training(work_dir: str, out_dir: str | None = None) -> list[str]:
    """Write ``train_loss.png`` (losses per iteration) and, when validation ran, ``val_map.png``
    (COCO mAPs per epoch) into ``out_dir`` (default ``work_dir``). Returns the written paths."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = latest_scalars(work_dir)
    if path is None:
        return []
    out_dir = out_dir or work_dir
    os.makedirs(out_dir, exist_ok=True)
    train, val = [], []
    with open(path) as f:
        for line in f:
            rec = json.loads(line)
            (val if any(k.startswith("coco/") for k in rec) else train).append(rec)
    written = []
    losses = sorted({k for r in train for k in r if k.startswith("loss")})
    if losses:
        fig, ax = plt.subplots(figsize=(7, 4))
        for k in losses:
            pts = [(r["iter"], r[k]) for r in train if k in r]
            ax.plot(*zip(*pts), label=k, lw=2 if k == "loss" else 1)
        ax.set(xlabel="iteration", ylabel="loss", yscale="log", title="training losses")
        ax.legend(fontsize=7)
        written.append(osp.join(out_dir, "train_loss.png"))
        fig.tight_layout()
        fig.savefig(written[-1], dpi=120)
        plt.close(fig)
    maps = sorted({k for r in val for k in r if k.endswith(("_mAP", "_mAP_50"))})
    if maps:
        fig, ax = plt.subplots(figsize=(6, 4))
        for k in maps:
            pts = [(r["step"], r[k]) for r in val if k in r]
            ax.plot(*zip(*pts), marker="o", label=k)
        ax.set(xlabel="epoch", ylabel="COCO AP", ylim=(0, 1), title="validation")
        ax.legend(fontsize=7)
        written.append(osp.join(out_dir, "val_map.png"))
        fig.tight_layout()
        fig.savefig(written[-1], dpi=120)
        plt.close(fig)
    return written
