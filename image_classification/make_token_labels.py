#!/usr/bin/env python
"""Make token-labelling label maps for any ImageNet-layout training folder with any timm model as teacher.

    python image_classification/make_token_labels.py DATA/train LABELS --teacher MODEL \\
        [--teacher-checkpoint CKPT | --pretrained] --img-size 576 --crop-pct 1.0 --topk 5 [--grid G]
    torchrun --nproc_per_node=8 image_classification/make_token_labels.py ...   (images sharded over ranks)

As LV-ViT's generate_label.py made the NFNet-F6 maps: each image goes through the teacher's evaluation
transform (shorter side to img_size / crop_pct, centre crop img_size), the teacher's last feature map goes
through its classifier at every position (dense class scores), and the top-k scores and class indices of
every cell are saved in the published format (image_classification/label_maps.py, datasets/README.md),
one file per image at the image's relative path. Files already present are skipped (re-running resumes),
each is written atomically, and LABELS/meta.json records the teacher, the classes and the transform.
The teacher's accuracy on the mean of its dense scores is reported (as generate_label.py did).

A label folder belongs to one teacher and one set of settings: a run into a folder whose meta.json names another
teacher, checkpoint (by content), input size, crop, grid, top-k or classes is refused with the differences named,
unless --overwrite (every map rebuilt). It belongs to one run at a time (LABELS/.lock). SIGINT, SIGTERM or SIGUSR1
stop it after the current batch, keeping the maps written; running the same command again labels the rest.
"""
from __future__ import annotations

import argparse
import hashlib
import logging
import os
import sys
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repository root importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import timm  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from timm.data import create_transform, resolve_data_config  # noqa: E402
from torch import nn  # noqa: E402
from torch.utils.data import DataLoader, Subset  # noqa: E402

from image_classification.checkpoint import model_state, read_checkpoint  # noqa: E402
from image_classification.data import SafeImageFolder, collate_skip_none  # noqa: E402
from image_classification.distributed import all_reduce_sum, barrier, cleanup, init_distributed  # noqa: E402
from image_classification.engine import autocast, progress  # noqa: E402
from image_classification.folders import check_same_classes, scan_split  # noqa: E402
from image_classification.label_maps import (  # noqa: E402
    MAX_CLASSES,
    META_FILE,
    label_path,
    read_label_map,
    read_meta,
    write_label_map,
)
from wavemsa.allocator import keep_freed_memory  # noqa: E402
from wavemsa.checkpoint import load_weights  # noqa: E402
from wavemsa.cli import (  # noqa: E402
    device,
    existing_dir,
    existing_file,
    fraction,
    non_negative_int,
    output_dir,
    positive_int,
)
from wavemsa.errors import InputError, run_main  # noqa: E402
from wavemsa.files import write_json  # noqa: E402
from wavemsa.runs import Interruption, RunLock, ignore_interruptions  # noqa: E402
from wavemsa.waveformer import MIN_INPUT_SIZE  # noqa: E402

log = logging.getLogger("make_token_labels")


def get_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser("make_token_labels.py", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("data", type=existing_dir, help="training split folder: DATA/train/<class>/<images>")
    p.add_argument("out", type=output_dir, help="label folder to write (LABELS/<class>/<image>.pt)")
    p.add_argument("--teacher", required=True, help="timm model name of the teacher (wavemsa_* included)")
    p.add_argument("--teacher-checkpoint", type=existing_file, default="",
                   help="teacher weights (trainer checkpoint, timm / DeiT checkpoint or bare state dict)")
    p.add_argument("--pretrained", action="store_true", help="timm's pretrained weights for --teacher")
    p.add_argument("--use-ema", action="store_true", help="the checkpoint's EMA weights (model_ema)")
    p.add_argument("--img-size", type=positive_int, default=None, help="teacher input side (default: its own)")
    p.add_argument("--crop-pct", type=fraction, default=1.0, help="centre crop fraction (1.0: the centre square)")
    p.add_argument("--topk", type=positive_int, default=5, help="class scores kept per cell")
    p.add_argument("--grid", type=positive_int, default=None,
                   help="resample the dense scores to GRID x GRID cells (default: the teacher's map)")
    p.add_argument("--batch-size", type=positive_int, default=64)
    p.add_argument("--workers", type=non_negative_int, default=4)
    p.add_argument("--device", type=device, default="cuda", help="cuda (falls back to cpu) or cpu")
    p.add_argument("--amp", default="none", choices=["none", "bf16", "fp16"], help="autocast dtype")
    p.add_argument("--overwrite", action="store_true",
                   help="rebuild every label map (also in a folder made with other settings or another teacher)")
    return p


def build_teacher(args, num_classes: int, classes: list[str]) -> nn.Module:
    """The teacher in eval mode; an ``InputError`` when its classes differ from the dataset's."""
    import wavemsa  # noqa: F401  (registers the WaveFormer models)

    if not timm.is_model(args.teacher):
        raise InputError(f"--teacher '{args.teacher}' is not a timm model name")
    kwargs: dict = {}
    state = None
    if args.teacher_checkpoint:
        ckpt = read_checkpoint(args.teacher_checkpoint)
        state = model_state(ckpt, args.teacher_checkpoint, use_ema=args.use_ema)
        if "classes" in ckpt:
            check_same_classes(ckpt["classes"], classes, f"teacher '{args.teacher_checkpoint}' was trained on",
                               args.data)
        if args.teacher.startswith("wavemsa") and "aux_head.weight" in state:
            kwargs["token_label"] = True
        heads = [k for k in ("head.weight", "head.fc.weight", "fc.weight", "classifier.weight") if k in state]
        if heads:
            kwargs["num_classes"] = int(state[heads[0]].shape[0])
    model = timm.create_model(args.teacher, pretrained=args.pretrained, **kwargs)
    if state is not None:
        try:
            load_weights(model, state, strict=True, ignore=(), source=f"checkpoint '{args.teacher_checkpoint}'")
        except ValueError as e:
            raise InputError(f"--teacher-checkpoint does not fit '{args.teacher}': {e}") from None
    teacher_classes = getattr(model, "num_classes", None)
    if teacher_classes != num_classes:
        raise InputError(f"teacher '{args.teacher}' predicts {teacher_classes} classes but '{args.data}' has "
                         f"{num_classes} class folders: the label maps would not index the dataset's classes")
    if num_classes > MAX_CLASSES:
        raise InputError(f"{num_classes} classes: the label format stores class indices as float16, exact up "
                         f"to {MAX_CLASSES}")
    return model.eval()


def dense_class_scores(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The teacher's class scores at every position of its last feature map: (B, 3, H, W) -> (B, K, h, w).

    Each position goes through the teacher's own head as if it were the whole map (pooling one position
    is the identity, so any norm or attention inside the head applies too): ``forward_head`` of every
    (1 x 1) cell of a (B, C, h, w) / (B, h, w, C) map (for WaveFormer: class attention over the one token,
    norm, classifier). A WaveFormer with the token-labelling head uses it on the patch tokens, as LV-ViT's
    generate_label.py used the auxiliary head. Other token models: the patch
    tokens (prefix tokens removed) through their classifier.
    """
    if getattr(model, "aux_head", None) is not None and hasattr(model, "forward_tokens_head"):  # WaveFormer + aux
        fmap = model.forward_features(x)
        B, C, h, w = fmap.shape
        scores = model.aux_head(model.forward_tokens_head(fmap.flatten(2).transpose(1, 2))[:, 1:])
        return scores.transpose(1, 2).reshape(B, -1, h, w)
    name = type(model).__name__
    feats = model.forward_features(x)
    if not isinstance(feats, torch.Tensor) or feats.dim() not in (3, 4):
        shape = tuple(feats.shape) if isinstance(feats, torch.Tensor) else type(feats).__name__
        raise InputError(f"teacher {name} gives no spatial feature map (forward_features returns {shape}); "
                         "dense labels need a (B, C, h, w) map or a grid of tokens")
    C = getattr(model, "num_features", None)
    if feats.dim() == 4:
        nhwc = feats.shape[1] != C and feats.shape[-1] == C
        B, h, w = (feats.shape[0], *feats.shape[1:3]) if nhwc else (feats.shape[0], *feats.shape[2:])
        cells = feats.reshape(B * h * w, 1, 1, C) if nhwc else feats.permute(0, 2, 3, 1).reshape(B * h * w, C, 1, 1)
        scores = model.forward_head(cells)
        return scores.reshape(B, h, w, -1).permute(0, 3, 1, 2)
    tokens = feats[:, getattr(model, "num_prefix_tokens", 0):]
    B, N, C = tokens.shape
    grid = getattr(getattr(model, "patch_embed", None), "grid_size", None)
    if grid is None or grid[0] * grid[1] != N:
        side = int(round(N ** 0.5))
        grid = (side, side) if side * side == N else None
    if grid is None:
        raise InputError(f"teacher {name} gives no spatial map: {N} tokens that form no grid")
    scores = model.get_classifier()(tokens.reshape(B * N, C))
    return scores.reshape(B, N, -1).transpose(1, 2).reshape(B, -1, *grid)


class IndexedFolder(SafeImageFolder):
    """Unreadable images are dropped (``None``); readable ones come with their index."""

    def make_sample(self, index: int, image):
        return self.transform(image), self.samples[index][1], index


SETTINGS = ("teacher", "teacher_checkpoint_sha256", "use_ema", "input_size", "crop_pct", "grid", "topk", "amp",
            "classes")  # what makes a label folder's maps; meta.json records them


def file_sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(2**20), b""):
            h.update(block)
    return h.hexdigest()


def check_settings(out: Path, meta: dict, settings: dict, map_shape: tuple[int, int, int]) -> None:
    """``InputError`` naming the differences when label folder ``out`` was made with other ``settings`` than this
    run's (its ``meta``); without a meta.json, when the maps already there have another shape than ``map_shape``
    (top-k, H, W); a warning when they have the same."""
    if meta:
        differ = [k for k in SETTINGS if k in meta and k in settings and meta[k] != settings[k]]
        if "teacher_checkpoint_sha256" not in meta and meta.get("teacher_checkpoint") != settings["teacher_checkpoint"]:
            differ.append("teacher_checkpoint")
        if differ:
            def show(k: str) -> str:
                now, was = settings[k], meta[k]
                if k == "classes":
                    return f"classes ({len(now)} class folders, the maps were made for {len(was)} others)"
                if k == "teacher_checkpoint_sha256":
                    return f"teacher checkpoint content ({settings['teacher_checkpoint']} is not the file the " \
                           f"maps were made with, {meta.get('teacher_checkpoint')})"
                return f"{k} {now} (was {was})"

            raise InputError(f"label folder '{out}' holds maps made with other settings: {', '.join(map(show, differ))}"
                             "; a folder holds the maps of one teacher with one set of settings: use another folder, "
                             "or add --overwrite to rebuild every map with these settings")
        return
    existing = next((Path(d) / f for d, _, files in os.walk(out) for f in files if f.endswith(".pt")), None)
    if existing is None:
        return
    scores, _ = read_label_map(existing, MAX_CLASSES)
    if tuple(scores.shape) != map_shape:
        raise InputError(f"label folder '{out}' holds label maps without a {META_FILE} (e.g. '{existing}', top-"
                         f"{scores.shape[0]} on a {scores.shape[1]}x{scores.shape[2]} grid) that this run would mix "
                         f"with top-{map_shape[0]} maps on {map_shape[1]}x{map_shape[2]}: use another folder, or add "
                         "--overwrite to rebuild every map")
    log.warning("label folder '%s' holds label maps without a %s (e.g. '%s'): they are taken as made with this run's "
                "settings (--overwrite rebuilds them)", out, META_FILE, existing)


def main(argv: list[str] | None = None) -> None:
    args = get_parser().parse_args(argv)
    if args.teacher_checkpoint and args.pretrained:
        raise InputError("give either --teacher-checkpoint or --pretrained, not both")
    info = init_distributed(args.device)
    logging.basicConfig(level=logging.INFO if info.is_main else logging.WARNING, stream=sys.stdout, force=True,
                        format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    if info.device.type == "cpu":
        log.info("CPU allocator: %s", keep_freed_memory())
    try:
        with RunLock(args.out, "label generation", "use another label folder"), \
                Interruption("label generation") as stop:
            generate(args, info, stop)
    finally:
        cleanup()


def generate(args, info, stop: Interruption | None = None) -> dict:
    """Write the label files of this rank's share of the images; returns the totals over all ranks. ``stop`` (the
    interruption handler) ends the labelling after the current batch; the files written are kept."""
    t0 = time.time()
    out = Path(args.out)
    meta = read_meta(out) or {}  # a corrupt meta.json is an error here, before any labelling
    dataset = IndexedFolder(scan_split(Path(args.data), Path(args.data).name), on_error="drop")
    teacher = build_teacher(args, len(dataset.classes), dataset.classes).to(info.device)
    cfg = resolve_data_config({"input_size": (3, args.img_size, args.img_size)} if args.img_size else {},
                              model=teacher)
    if args.teacher.startswith("wavemsa") and min(cfg["input_size"][1:]) < MIN_INPUT_SIZE:
        raise InputError(f"--img-size {min(cfg['input_size'][1:])} is below {MIN_INPUT_SIZE}, the smallest image "
                         f"'{args.teacher}' takes (its total stride)")
    dataset.transform = create_transform(cfg["input_size"], is_training=False, interpolation=cfg["interpolation"],
                                         mean=cfg["mean"], std=cfg["std"], crop_pct=args.crop_pct)
    dtype = {"none": None, "bf16": torch.bfloat16, "fp16": torch.float16}[args.amp]
    grid = (args.grid, args.grid) if args.grid else teacher_grid(teacher, cfg["input_size"], info.device)
    checkpoint = args.teacher_checkpoint or ("timm pretrained" if args.pretrained else "")
    settings = {"teacher": args.teacher, "teacher_checkpoint": checkpoint,
                "teacher_checkpoint_sha256": file_sha256(args.teacher_checkpoint) if args.teacher_checkpoint else None,
                "use_ema": args.use_ema, "input_size": list(cfg["input_size"]), "crop_pct": args.crop_pct,
                "grid": list(grid), "topk": min(args.topk, len(dataset.classes)), "amp": args.amp,
                "classes": dataset.classes}
    if not args.overwrite:
        check_settings(out, meta, settings, (settings["topk"], *grid))
    barrier()  # every rank has read the old meta.json before rank 0 writes the new one
    if info.is_main:
        kept = {"last_run": meta["last_run"]} if "last_run" in meta and not args.overwrite else {}
        meta = {"format": "TokenLabeling (2, k, H, W) float16: top-k scores, class indices", **settings,
                "num_images": len(dataset), **kept}
        write_json(out / META_FILE, meta, indent=1)
    todo = [i for i in range(info.rank, len(dataset), info.world_size)
            if args.overwrite or not label_path(out, dataset.samples[i][0], dataset.root).is_file()]
    mine = len(range(info.rank, len(dataset), info.world_size))
    log.info("teacher %s at %s, crop %.3f: %d images in %d classes, %d to label here (%d present)",
             args.teacher, cfg["input_size"], args.crop_pct, len(dataset), len(dataset.classes), len(todo),
             mine - len(todo))
    loader = DataLoader(Subset(dataset, todo), batch_size=args.batch_size, num_workers=args.workers,
                        collate_fn=collate_skip_none, worker_init_fn=ignore_interruptions)
    counts = [0, 0, 0, 0]  # written, correct (mean of the dense scores), unreadable, stopped early
    every = max(1, len(loader) // 10)
    with torch.no_grad():
        for step, batch in enumerate(progress(loader, len(loader), "labels", info.is_main)):
            if stop is not None and stop.signum:  # this rank's own flag: the ranks label different numbers
                counts[3] = 1
                break
            if info.is_main and not sys.stderr.isatty() and step % every == 0:
                log.info("batch %d / %d", step + 1, len(loader))
            size = min(args.batch_size, len(todo) - step * args.batch_size)  # images asked for in this batch
            if batch is None:
                counts[2] += size
                continue
            images, targets, indices = batch
            with autocast(info.device, dtype):
                scores = dense_class_scores(teacher, images.to(info.device))
            scores = resize_scores(scores.float(), args.grid)
            values, classes = scores.topk(settings["topk"], dim=1)
            for v, c, i in zip(values.cpu(), classes.cpu(), indices.tolist()):
                write_label_map(label_path(out, dataset.samples[i][0], dataset.root), v, c)
            counts[0] += len(indices)
            counts[1] += int((scores.mean(dim=(2, 3)).argmax(dim=1).cpu() == targets).sum())
            counts[2] += size - len(indices)
    written, correct, bad, stopped = (int(v) for v in all_reduce_sum(counts, info.device))
    if stopped:
        raise stop.stopped(f"after {written} new label maps ({len(dataset)} images in all); the maps written are "
                           "kept: run the same command again to label the rest")
    summary = {"written": written, "unreadable": bad, "teacher_acc1_written": 100.0 * correct / max(written, 1),
               "seconds": round(time.time() - t0, 1)}
    if info.is_main:
        if written:  # a run that found every file present keeps the figures of the one that wrote them
            meta["last_run"] = summary
            write_json(out / META_FILE, meta, indent=1)
        log.info("wrote %d label maps (grid %s, top-%d) to %s in %.0f s; teacher top-1 on them %.2f%%%s", written,
                 "x".join(map(str, grid)), settings["topk"], out, summary["seconds"],
                 summary["teacher_acc1_written"], f"; {bad} unreadable images have none" if bad else "")
    return summary


def resize_scores(scores: torch.Tensor, grid: int | None) -> torch.Tensor:
    """Dense scores (B, K, h, w) on a ``grid`` x ``grid`` grid (pooled down or interpolated up; None: as they are)."""
    if not grid:
        return scores
    if grid <= min(scores.shape[-2:]):
        return F.adaptive_avg_pool2d(scores, grid)
    return F.interpolate(scores, size=(grid, grid), mode="bilinear")


def teacher_grid(teacher: nn.Module, input_size, device: torch.device) -> tuple[int, int]:
    """(h, w) of the teacher's dense scores at ``input_size`` (C, H, W): one forward of a blank image."""
    with torch.no_grad():
        scores = dense_class_scores(teacher, torch.zeros(1, *input_size, device=device))
    return tuple(int(v) for v in scores.shape[-2:])


if __name__ == "__main__":
    sys.exit(run_main(main, prog="make_token_labels.py"))
