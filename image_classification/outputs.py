"""What rank 0 leaves in ``--output_dir``: ``log.txt`` (one JSON line per epoch), TensorBoard scalars
(``tensorboard/``), ``curves.png`` (loss and accuracy per epoch) and the run's ``args.json``."""
from __future__ import annotations

import json
import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from wavemsa.errors import InputError  # noqa: E402


def read_log(path: Path) -> list[dict]:
    """The JSON records of a ``log.txt``; ``InputError`` naming the file and line for one that is not."""
    records = []
    for n, line in enumerate(path.read_text().splitlines(), 1):
        if line.strip():
            try:
                record = json.loads(line)
            except ValueError:
                record = None
            if not isinstance(record, dict):
                raise InputError(f"'{path}' line {n} is not a JSON record of this trainer; move the file away or "
                                 "use another --output_dir")
            records.append(record)
    return records


class RunOutputs:
    """Writes the per-epoch records; construct it on rank 0 only."""

    def __init__(self, output_dir: str | Path, args_dict: dict, resume_epoch: int | None = None):
        from torch.utils.tensorboard import SummaryWriter

        self.dir = Path(output_dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        (self.dir / "args.json").write_text(json.dumps(args_dict, indent=1, default=str) + "\n")
        self.log_path = self.dir / "log.txt"
        if resume_epoch is not None and self.log_path.exists():
            # keep the epochs the checkpoint covers, drop lines of epochs that ran after it
            kept = [r for r in read_log(self.log_path) if r.get("epoch", -1) <= resume_epoch]
            self.log_path.write_text("".join(json.dumps(r) + "\n" for r in kept))
        elif resume_epoch is None and self.log_path.exists():
            self.log_path.unlink()
        self.tb = SummaryWriter(log_dir=str(self.dir / "tensorboard"), purge_step=(
            resume_epoch + 1 if resume_epoch is not None else None))

    def records(self) -> list[dict]:
        if not self.log_path.exists():
            return []
        return read_log(self.log_path)

    def write_epoch(self, stats: dict) -> None:
        """Append ``stats`` to log.txt, add its numbers to TensorBoard and redraw the curves."""
        with open(self.log_path, "a") as f:
            f.write(json.dumps(stats) + "\n")
        for k, v in stats.items():
            if k != "epoch" and isinstance(v, (int, float)):
                self.tb.add_scalar(k, v, stats["epoch"])
        self.tb.flush()
        plot_curves(self.records(), self.dir / "curves.png")

    def close(self) -> None:
        self.tb.close()


def plot_curves(records: list[dict], path: str | Path) -> None:
    """Two panels: train/test loss and test top-1/top-5 (%) against epoch. Written atomically."""
    if not records:
        return
    ep = [r["epoch"] for r in records]
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 4))
    a.plot(ep, [r["train_loss"] for r in records], "o-", label="train loss")
    a.plot(ep, [r["test_loss"] for r in records], "s-", label="test loss")
    a.set_xlabel("epoch")
    a.set_ylabel("loss")
    a.legend()
    a.grid(alpha=0.3)
    b.plot(ep, [r["test_acc1"] for r in records], "o-", label="top-1")
    b.plot(ep, [r["test_acc5"] for r in records], "s-", label="top-5")
    if "test_acc1_ema" in records[0]:
        b.plot(ep, [r["test_acc1_ema"] for r in records], "^--", label="top-1 (EMA)")
    b.set_xlabel("epoch")
    b.set_ylabel("accuracy (%)")
    b.set_ylim(0, 100)
    b.legend()
    b.grid(alpha=0.3)
    fig.tight_layout()
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp.png")
    fig.savefig(tmp, dpi=100)
    plt.close(fig)
    os.replace(tmp, path)
