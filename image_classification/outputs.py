"""What rank 0 leaves in ``--output_dir``: ``log.txt`` (one JSON line per epoch), TensorBoard scalars
(``tensorboard/``), ``curves.png`` (loss and accuracy per epoch) and ``args.json``, the options of every run of the
folder: ``{"runs": [{"started", "command", "host", "processes", "resumed_from", "changed_options", "options"},
...]}``, one entry per start, a resumed run appended to the runs it continues."""
from __future__ import annotations

import json
import logging
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from wavemsa.errors import InputError  # noqa: E402
from wavemsa.files import append_text, atomic_write, write_json, write_text  # noqa: E402

log = logging.getLogger("image_classification")


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


def write_run_history(path: Path, run: dict, resumed: bool) -> list[dict]:
    """Write ``args.json``: the runs it already lists (when ``resumed``) and ``run``; returns the list. An
    ``args.json`` that holds one run's options (no ``runs`` list) becomes the first entry."""
    runs: list = []
    if resumed and path.is_file():
        try:
            old = json.loads(path.read_text())
        except (OSError, ValueError) as err:
            log.warning("%s is not readable JSON (%s): the run history starts again", path, err)
            old = None
        if isinstance(old, dict):
            runs = old["runs"] if isinstance(old.get("runs"), list) else [{"options": old}]
    runs.append(run)
    write_json(path, {"runs": runs}, indent=1)
    return runs


class RunOutputs:
    """Writes the per-epoch records; construct it on rank 0 only. ``run`` is this start's ``args.json`` entry;
    ``resume_epoch`` the last epoch of the checkpoint a resumed run continues (None: a new run)."""

    def __init__(self, output_dir: str | Path, run: dict, resume_epoch: int | None = None):
        from torch.utils.tensorboard import SummaryWriter

        self.dir = Path(output_dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        write_run_history(self.dir / "args.json", run, resume_epoch is not None)
        self.log_path = self.dir / "log.txt"
        if resume_epoch is not None and self.log_path.exists():
            # keep the epochs the checkpoint covers, drop lines of epochs that ran after it
            kept = [r for r in read_log(self.log_path) if r.get("epoch", -1) <= resume_epoch]
            write_text(self.log_path, "".join(json.dumps(r) + "\n" for r in kept))
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
        append_text(self.log_path, json.dumps(stats) + "\n")
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
    try:
        atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=100, format="png"))
    finally:
        plt.close(fig)
