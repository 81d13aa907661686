"""One training epoch and one evaluation pass.

Progress: a tqdm bar on rank 0 when stderr is a terminal, otherwise a plain log line every
``print_freq`` steps (and one at the end), so log files stay readable.
"""
from __future__ import annotations

import logging
import math
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass

import torch
from timm.utils import dispatch_clip_grad
from tqdm import tqdm

from wavemsa.errors import InputError, own_message

from .distributed import all_reduce_sum, all_reduce_tensor

log = logging.getLogger("image_classification")


def progress(iterable: Iterable, total: int, desc: str, enabled: bool):
    """tqdm on an interactive terminal, else the iterable itself."""
    if enabled and sys.stderr.isatty():
        return tqdm(iterable, total=total, desc=desc, dynamic_ncols=True, leave=False)
    return iterable


def batches(loader: Iterable):
    """The loader's batches; an ``InputError`` raised in a loader worker (a bad label map) comes back as
    one ``InputError`` with the worker's message only (the loader re-raises it with the worker's traceback)."""
    it = iter(loader)
    while True:
        try:
            batch = next(it)
        except StopIteration:
            return
        except InputError as e:
            raise InputError(own_message(e)) from None
        yield batch


def autocast(device: torch.device, dtype: torch.dtype | None):
    """``torch.autocast`` for ``dtype`` on ``device``; disabled when ``dtype`` is None."""
    return torch.autocast(device_type=device.type, dtype=dtype or torch.float32, enabled=dtype is not None)


@dataclass
class EpochResult:
    """One (part of a) training epoch: the loss summed over all ranks and the number of images it covers (the
    part of the epoch before a resume included), the last lr, the step count, and ``stopped_after`` (the steps of
    the epoch done) when a requested stop ended it early."""

    loss_sum: float
    count: int
    lr: float
    num_updates: int
    stopped_after: int | None = None

    @property
    def loss(self) -> float:
        return self.loss_sum / max(self.count, 1)


def train_one_epoch(model, criterion, loader, optimizer, device: torch.device, epoch: int, *, scaler,
                    amp_dtype, clip_grad: float | None, clip_mode: str, model_ema, ema_source, mixup_fn,
                    lr_scheduler, num_updates: int, is_main: bool, print_freq: int = 50, first_step: int = 0,
                    steps: int | None = None, totals: tuple[float, int] = (0.0, 0), stop=None,
                    cudagraphs: bool = False) -> EpochResult:
    """Train for one epoch, or its steps from ``first_step`` on (``steps`` in the whole epoch; ``totals``: this
    rank's share of the loss sum and image count of the steps before).

    ``model`` is what runs the step (DDP, compiled, token-labelling wrapper); ``ema_source`` the plain
    model the EMA follows. Images (B, 3, H, W), targets (B,) class indices, (B, K) soft targets after
    Mixup/CutMix or (B, K, 1 + N) token-labelling targets. ``stop`` (a :class:`wavemsa.runs.Interruption`) is asked
    after every step but the epoch's last; when it answers, the epoch ends there. ``cudagraphs``: the compiled
    step replays CUDA graphs (each step is marked as a new one).
    """
    model.train()
    loss_sum, count = totals
    steps = steps if steps is not None else first_step + len(loader)
    n_seen, stopped_after = 0, None
    t0 = time.time()
    bar = progress(batches(loader), len(loader), f"epoch {epoch}", is_main)
    for step, (images, targets) in enumerate(bar, start=first_step):
        if cudagraphs:
            torch.compiler.cudagraph_mark_step_begin()
        images = images.to(device, non_blocking=True)
        targets = targets.to(device, non_blocking=True)
        if mixup_fn is not None:
            images, targets = mixup_fn(images, targets)
        with autocast(device, amp_dtype):
            outputs = model(images)
            loss = criterion(outputs, targets)
        loss_value = loss.item()
        if not math.isfinite(loss_value):
            raise InputError(f"loss is {loss_value} at epoch {epoch} step {step}: training diverged; lower --lr, "
                             "raise --warmup-epochs or set --clip-grad (checkpoints already written are kept)")
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        if clip_grad is not None:
            scaler.unscale_(optimizer)
            dispatch_clip_grad(model.parameters(), clip_grad, mode=clip_mode)
        scaler.step(optimizer)
        scaler.update()
        num_updates += 1
        if model_ema is not None:
            model_ema.update(ema_source, step=num_updates)
        lr_scheduler.step_update(num_updates=num_updates)
        loss_sum += loss_value * images.shape[0]
        count += images.shape[0]
        n_seen += images.shape[0]
        lr = optimizer.param_groups[0]["lr"]
        if isinstance(bar, tqdm):
            bar.set_postfix(loss=f"{loss_value:.4f}", lr=f"{lr:.2e}")
        elif is_main and (step % print_freq == 0 or step == steps - 1):
            log.info("epoch %d [%d/%d] loss %.4f lr %.3e %.1f img/s", epoch, step + 1, steps, loss_value,
                     lr, n_seen / max(time.time() - t0, 1e-9))
        if stop is not None and step + 1 < steps and stop.requested():
            stopped_after = step + 1
            break
    if isinstance(bar, tqdm):
        bar.close()
    total, total_count = all_reduce_sum([loss_sum, count], device)
    return EpochResult(total, int(total_count), optimizer.param_groups[0]["lr"], num_updates, stopped_after)


@torch.no_grad()
def evaluate(model, loader, device: torch.device, amp_dtype, num_classes: int, is_main: bool,
             desc: str = "eval", confusion: bool = False) -> dict:
    """Loss, top-1 and top-5 accuracy (%) over the whole evaluation set, summed over all ranks; with
    ``confusion`` also the (K, K) confusion matrix (rows: true class, columns: top-1 prediction) as
    ``'confusion'``."""
    model.eval()
    criterion = torch.nn.CrossEntropyLoss(reduction="sum")
    k5 = min(5, num_classes)
    # summed on the device and read once at the end: no host sync per batch
    sums = torch.zeros(3, dtype=torch.float64, device=device)  # loss, correct@1, correct@5
    counts = torch.zeros(num_classes * num_classes, dtype=torch.int64, device=device) if confusion else None
    n = 0
    for batch in progress(batches(loader), len(loader), desc, is_main):
        if batch is None:  # every image of the batch was unreadable
            continue
        images, targets = batch[0].to(device, non_blocking=True), batch[1].to(device, non_blocking=True)
        with autocast(device, amp_dtype):
            outputs = model(images)
        outputs = outputs.float()
        ranked = outputs.topk(k5, dim=1).indices.eq(targets[:, None])  # (B, k5): where the true class ranks
        sums += torch.stack([criterion(outputs, targets), ranked[:, 0].sum(), ranked.any(dim=1).sum()]).double()
        n += images.shape[0]
        if counts is not None:
            counts += torch.bincount(targets * num_classes + outputs.argmax(dim=1), minlength=num_classes ** 2)
    loss, c1, c5, n = all_reduce_sum([*sums.tolist(), n], device)
    if n == 0:
        root = getattr(getattr(loader, "dataset", None), "root", "the evaluation set")
        raise InputError(f"'{root}': no readable image to evaluate on (every one was skipped as unreadable)")
    stats = {"loss": loss / n, "acc1": 100.0 * c1 / n, "acc5": 100.0 * c5 / n, "count": int(n)}
    if counts is not None:
        stats["confusion"] = all_reduce_tensor(counts, device).view(num_classes, num_classes).numpy()
    return stats
