#!/usr/bin/env python
"""Train or evaluate WaveFormer (any timm model) on an ImageNet-layout folder: DeiT's recipe, or the
originals' (Wave-ViT / WaveFormer) with token labelling (``--token-label``, configs/wavemsa/wavemsa_*.py).

Single process:   python image_classification/main.py --config CONFIG --data-path DATA
Several:          torchrun --nproc_per_node=8 image_classification/main.py --config CONFIG --data-path DATA
(or the original  python -m torch.distributed.launch --nproc_per_node=8 --use_env image_classification/main.py)
Evaluate:         python image_classification/main.py --config CONFIG --data-path DATA --eval --resume CKPT

A training run holds OUTPUT_DIR (a lock: a second run on it is refused). SIGINT, SIGTERM or SIGUSR1 make it finish
the current step, save OUTPUT_DIR/checkpoint.pth there and exit with status 128 + the signal; ``--auto-resume``
continues from that step to the result of an uninterrupted run.
"""
from __future__ import annotations

import datetime
import json
import logging
import math
import os
import shlex
import socket
import sys
import time
from contextlib import nullcontext
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repository root importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import timm  # noqa: E402
import torch  # noqa: E402
from timm.data import Mixup  # noqa: E402
from timm.loss import LabelSmoothingCrossEntropy, SoftTargetCrossEntropy  # noqa: E402
from timm.optim import create_optimizer_v2  # noqa: E402
from timm.scheduler import create_scheduler_v2  # noqa: E402
from timm.utils import ModelEmaV3  # noqa: E402

from image_classification import checkpoint  # noqa: E402
from image_classification.config import parse_with_config  # noqa: E402
from image_classification.data import SafeImageFolder, build_loaders, build_transform  # noqa: E402
from image_classification.distributed import (  # noqa: E402
    DistInfo,
    average_bn_statistics,
    barrier,
    cleanup,
    gather_objects,
    init_distributed,
)
from image_classification.engine import evaluate, train_one_epoch  # noqa: E402
from image_classification.folders import check_same_classes, scan_image_folder  # noqa: E402
from image_classification.options import (  # noqa: E402
    CUDA_GRAPH_MODES,
    changed_options,
    check_options,
    describe_changes,
    get_parser,
)
from image_classification.outputs import RunOutputs, read_log  # noqa: E402
from image_classification.report import per_class_report, write_report  # noqa: E402
from image_classification.seeding import epoch_seed, seed_all, set_rng_state  # noqa: E402
from image_classification.token_label import TokenLabelCrossEntropy, TokenLabelFolder, TrainForward  # noqa: E402
from wavemsa.allocator import keep_freed_memory  # noqa: E402
from wavemsa.errors import InputError, run_main  # noqa: E402
from wavemsa.files import write_json  # noqa: E402
from wavemsa.runs import Interruption, RunLock  # noqa: E402

__all__ = ["get_parser", "main", "run"]

log = logging.getLogger("image_classification")

ALLOCATOR_NOTES = {"keep": "glibc's malloc keeps freed memory for the next step (WAVEMSA_CPU_ALLOCATOR=default "
                           "leaves it as it is)",
                   "default": "glibc's malloc as it is (WAVEMSA_CPU_ALLOCATOR=default)",
                   "GLIBC_TUNABLES": "malloc as GLIBC_TUNABLES sets it", "not glibc": "the C library's own"}


def setup_logging(info: DistInfo, output_dir: str) -> None:
    """Rank 0 logs INFO to stdout (and OUTPUT_DIR/train.log); other ranks only warnings."""
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stdout)]
    if info.is_main and output_dir:
        Path(output_dir).mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(Path(output_dir) / "train.log"))
    prefix = f"[rank {info.rank}] " if info.distributed else ""
    logging.basicConfig(level=logging.INFO if info.is_main else logging.WARNING, handlers=handlers, force=True,
                        format=f"%(asctime)s {prefix}%(message)s", datefmt="%H:%M:%S")
    logging.captureWarnings(True)


def amp_dtype(name: str, device: torch.device) -> torch.dtype | None:
    """Autocast dtype for ``--amp`` on ``device`` (None: full precision)."""
    if name == "auto":
        name = "fp16" if device.type == "cuda" else "none"
    if name == "fp16" and device.type != "cuda":
        raise InputError("--amp fp16 needs a CUDA device; use --amp bf16 on the CPU")
    return {"none": None, "bf16": torch.bfloat16, "fp16": torch.float16}[name]


def create_model(args, num_classes: int, token_label: bool = False) -> torch.nn.Module:
    """``timm.create_model`` after registering the WaveFormer models; ``token_label`` adds the auxiliary
    head (WaveFormer models only)."""
    import wavemsa  # noqa: F401  (registers wavemsa_t/s/b/l with timm)
    from wavemsa.waveformer import MIN_INPUT_SIZE

    if not timm.is_model(args.model):
        raise InputError(f"unknown model '{args.model}' (WaveFormer models: {', '.join(timm.list_models('wavemsa*'))})")
    wave = args.model.startswith("wavemsa")
    if wave and args.input_size < MIN_INPUT_SIZE:
        raise InputError(f"--input-size {args.input_size} is below {MIN_INPUT_SIZE}, the smallest image "
                         f"'{args.model}' takes (its total stride)")
    if token_label and not wave:
        raise InputError(f"--token-label needs a model with the token-labelling head (wavemsa_*); "
                         f"'{args.model}' has none")
    kwargs = {"num_classes": num_classes, "drop_path_rate": args.drop_path}
    if args.drop > 0:
        kwargs["drop_rate"] = args.drop
    if token_label:
        kwargs["token_label"] = True
    return timm.create_model(args.model, pretrained=False, **kwargs)


def token_grid(model: torch.nn.Module, input_size: int) -> int:
    """Side of the model's last-stage token grid at ``input_size``."""
    return math.ceil(input_size / model.feature_info[-1]["reduction"])


def build_criterion(args, mixup_active: bool) -> torch.nn.Module:
    """The token-labelling loss; soft-target CE after Mixup/CutMix (which already smooths);
    label-smoothing CE; or plain CE."""
    if args.token_label:
        return TokenLabelCrossEntropy(dense_weight=args.dense_weight, cls_weight=args.cls_weight)
    if mixup_active:
        return SoftTargetCrossEntropy()
    if args.smoothing > 0:
        return LabelSmoothingCrossEntropy(smoothing=args.smoothing)
    return torch.nn.CrossEntropyLoss()


def run_eval(args, model, val_loader, val_set, device, dtype, num_classes: int, info: DistInfo, ckpt: dict) -> dict:
    """``--eval``: top-1 / top-5 / loss over the val split, ``eval.json`` and the per-class report
    (``per_class.json`` / ``per_class.png``) in OUTPUT_DIR (or the checkpoint's folder)."""
    stats = evaluate(model, val_loader, device, dtype, num_classes, info.is_main, confusion=True)
    confusion = stats.pop("confusion")
    log.info("eval %s on %d images: top-1 %.2f%% top-5 %.2f%% loss %.4f", args.resume, stats["count"],
             stats["acc1"], stats["acc5"], stats["loss"])
    if info.is_main:
        out_dir = Path(args.output_dir or Path(args.resume).parent)
        report = per_class_report(confusion, val_set.classes)
        train_log = Path(args.resume).parent / "log.txt"  # the run's per-epoch figures, when it is ours
        if train_log.is_file():
            try:
                stats["per_epoch_test_acc1"] = [round(r["test_acc1"], 4) for r in read_log(train_log)]
            except (InputError, KeyError, TypeError) as err:  # a log.txt that is not this trainer's
                log.warning("%s: no per-epoch figures (%s)", train_log, err)
        json_path, png_path = write_report(report, val_set.classes, out_dir)
        stats.update(macro_f1=report["macro"]["f1"], per_class=str(json_path))
        write_json(out_dir / "eval.json", {
            "checkpoint": args.resume, "checkpoint_epoch": ckpt.get("epoch"), "model": args.model,
            "input_size": args.input_size, "crop_pct": args.crop_pct, "data_path": args.data_path, **stats}, indent=1)
        log.info("per-class precision / recall / F1 and confusion matrix: %s, %s", json_path, png_path)
    return stats


def build_datasets(args, token_labels: bool = False) -> tuple[SafeImageFolder, SafeImageFolder]:
    """Train and val datasets of ``args.data_path`` (the layout is checked first, :mod:`.folders`). With
    ``token_labels`` the training set also yields each crop's token-labelling target (``--token-label-data``)."""
    splits = scan_image_folder(args.data_path)
    if token_labels:
        train = TokenLabelFolder(splits["train"], args)
    else:
        train = SafeImageFolder(splits["train"], build_transform(True, args), on_error="substitute")
    return train, SafeImageFolder(splits["val"], build_transform(False, args), on_error="drop")


def check_resume(args, ckpt: dict, world_size: int) -> dict[str, tuple]:
    """The options (and the number of processes, for a checkpoint taken inside an epoch) in which this run differs
    from the run checkpoint ``ckpt`` continues; refused unless ``--allow-changed-options``."""
    changes = changed_options(ckpt.get("args", {}), checkpoint.plain(vars(args)))
    position = ckpt.get("position")
    if position and position.get("world_size") != world_size:
        changes["processes"] = (position.get("world_size"), world_size)
    if changes and not args.allow_changed_options:
        raise InputError(f"--resume {args.resume} ({checkpoint.describe(ckpt)}): this run differs from the one it "
                         f"continues in {describe_changes(changes)}; resume with the run's own options, or add "
                         "--allow-changed-options to go on with these")
    if changes:
        log.warning("continuing %s with other options (--allow-changed-options): %s", args.resume,
                    describe_changes(changes))
    return changes


def how_to_continue(args, explicit_resume: str) -> str:
    """The command that continues this run from OUTPUT_DIR/checkpoint.pth, in words."""
    if args.auto_resume:
        return "run the same command again to continue"
    if explicit_resume:
        return f"to continue, run the same command with --resume {Path(args.output_dir) / 'checkpoint.pth'}"
    return "to continue, run the same command with --auto-resume"


def run(args) -> dict:
    """The whole job under the run folder's lock and the interruption handlers; returns the last evaluation
    statistics."""
    info = init_distributed(args.device, args.local_rank)
    lock = (RunLock(args.output_dir, "training", "use another --output_dir") if args.output_dir and not args.eval
            else nullcontext())
    with lock, Interruption("evaluation" if args.eval else "training", graceful=not args.eval) as stop:
        setup_logging(info, args.output_dir)
        return train_or_evaluate(args, info, stop)


def train_or_evaluate(args, info: DistInfo, stop: Interruption) -> dict:
    device = info.device
    allocator = keep_freed_memory() if device.type == "cpu" else None
    dtype = amp_dtype(args.amp, device)
    explicit_resume = args.resume
    if args.auto_resume and not args.resume and args.output_dir:
        last = Path(args.output_dir) / "checkpoint.pth"
        args.resume = str(last) if last.is_file() else ""
    check_options(args, device.type)
    log.info("%s", json.dumps(vars(args), default=str))
    log.info("world size %d, device %s, autocast %s%s", info.world_size, device, dtype,
             f", CPU allocator: {ALLOCATOR_NOTES.get(allocator, allocator)}" if allocator else "")

    seed_all(args.seed + info.rank)
    train_set, val_set = build_datasets(args, token_labels=args.token_label and not args.eval)
    num_classes = len(train_set.classes)
    log.info("data %s: %d train / %d val images, %d classes", args.data_path, len(train_set), len(val_set),
             num_classes)

    ckpt = checkpoint.read_checkpoint(args.resume) if args.resume else None
    if args.eval and "classes" in ckpt:  # class index i must mean the same class
        check_same_classes(ckpt["classes"], train_set.classes, f"checkpoint '{args.resume}' was trained on",
                           args.data_path)
    token_label = args.token_label or (args.eval and "aux_head.weight" in checkpoint.model_state(ckpt, args.resume))
    model = create_model(args, num_classes, token_label)
    n_parameters = sum(p.numel() for p in model.parameters() if p.requires_grad)
    log.info("model %s: %.2f M parameters%s", args.model, n_parameters / 1e6,
             " (with the token-labelling head)" if token_label else "")
    if args.token_label and not args.eval:
        grid = token_grid(model, args.input_size)
        if args.token_label_size is None:
            args.token_label_size = grid
        elif args.token_label_size != grid:
            raise InputError(f"--token-label-size {args.token_label_size} does not match the {grid}x{grid} "
                             f"last-stage tokens of '{args.model}' at --input-size {args.input_size}; "
                             f"use --token-label-size {grid}")
        train_set.size = args.token_label_size
        train_set.check_labels()
    changes = check_resume(args, ckpt, info.world_size) if ckpt is not None and not args.eval else {}
    if args.finetune and not args.eval:
        new = checkpoint.load_finetune(model, args.finetune, args.model)
        log.info("fine-tuning from %s%s", args.finetune, f" (new {', '.join(new)})" if new else "")
    model.to(device)
    model_ema = None
    if args.model_ema:
        model_ema = ModelEmaV3(model, decay=args.model_ema_decay,
                               device=torch.device("cpu") if args.model_ema_force_cpu else None)
    model_without_ddp = model
    step_model = TrainForward(model) if args.token_label else model  # what runs the training step
    if info.distributed:
        step_model = torch.nn.parallel.DistributedDataParallel(
            step_model, device_ids=[device.index] if device.type == "cuda" else None)
    if args.compile:  # the training step; static shapes: fixed batch (drop_last) and image size
        step_model = torch.compile(step_model, dynamic=False, backend=args.compile_backend,
                                   mode=None if args.compile_mode == "default" else args.compile_mode)

    train_loader, val_loader = build_loaders(args, train_set, val_set, info.rank, info.world_size,
                                             pin_memory=args.pin_mem and device.type == "cuda")
    if args.eval:
        checkpoint.load_model_weights(model, checkpoint.model_state(ckpt, args.resume), args.resume,
                                      args.model, ckpt.get("args", {}).get("model"))
        return run_eval(args, model, val_loader, val_set, device, dtype, num_classes, info, ckpt)

    global_batch = args.batch_size * info.world_size
    lr = args.lr * global_batch / args.lr_base_size if args.lr_base_size > 0 else args.lr
    opt_kwargs = {"eps": args.opt_eps} if args.opt_eps is not None else {}
    if args.opt_betas:
        opt_kwargs["betas"] = tuple(args.opt_betas)
    optimizer = create_optimizer_v2(model_without_ddp, opt=args.opt, lr=lr, weight_decay=args.weight_decay,
                                    momentum=args.momentum, **opt_kwargs)
    steps = len(train_loader)
    lr_scheduler, num_epochs = create_scheduler_v2(
        optimizer, sched=args.sched, num_epochs=args.epochs, decay_epochs=args.decay_epochs,
        decay_rate=args.decay_rate, cooldown_epochs=args.cooldown_epochs, min_lr=args.min_lr,
        warmup_lr=args.warmup_lr, warmup_epochs=args.warmup_epochs, step_on_epochs=not args.sched_on_updates,
        updates_per_epoch=steps)
    scaler = torch.amp.GradScaler(device.type, enabled=dtype == torch.float16)
    mixup_active = args.mixup > 0 or args.cutmix > 0 or args.cutmix_minmax is not None
    mixup_fn = None
    if mixup_active:
        if args.batch_size % 2:
            raise InputError(f"Mixup/CutMix need an even --batch-size, got {args.batch_size}")
        mixup_fn = Mixup(mixup_alpha=args.mixup, cutmix_alpha=args.cutmix, cutmix_minmax=args.cutmix_minmax,
                         prob=args.mixup_prob, switch_prob=args.mixup_switch_prob, mode=args.mixup_mode,
                         label_smoothing=args.smoothing, num_classes=num_classes)
    criterion = build_criterion(args, mixup_active)
    log.info("global batch %d, lr %.3e, %d steps per epoch, %d epochs", global_batch, lr, steps, num_epochs)

    resumed = None
    if ckpt is not None:
        resumed = checkpoint.resume(ckpt, args.resume, model_without_ddp, args.model, optimizer, lr_scheduler,
                                    scaler, model_ema, train_set.classes, args.data_path)
        stop.latest = f"the latest checkpoint is {args.resume} ({checkpoint.describe(ckpt)})"
    start_epoch = resumed.start_epoch if resumed else 0
    start_step = resumed.start_step if resumed else 0
    position = resumed.position if resumed else None
    own_state = None  # this rank's generators and BatchNorm statistics where the resumed run stopped
    if position and position.get("world_size") == info.world_size:
        own_state = position["ranks"][info.rank]
        checkpoint.restore_rank_buffers(own_state, model_without_ddp, model_ema)
    del ckpt

    outputs = None
    if info.is_main and args.output_dir:
        outputs = RunOutputs(args.output_dir, run_entry(args, info, resumed, changes),
                             start_epoch - 1 if resumed else None)
    num_updates = start_epoch * steps + start_step
    t_start = time.time()
    stats: dict = {}
    max_accuracy = resumed.max_accuracy if resumed else 0.0
    end_epoch = min(num_epochs, args.stop_epoch or num_epochs)
    log.info("training epochs %d..%d of %d%s", start_epoch, end_epoch - 1, num_epochs,
             f" (epoch {start_epoch} from step {start_step})" if start_step else "")
    for epoch in range(start_epoch, end_epoch):
        first = start_step if epoch == start_epoch else 0
        if stop.requested():
            raise stop.stopped(f"before epoch {epoch} began; {stop.latest}")
        t_epoch = time.time()
        # every random stream of this epoch derives from (seed, epoch, rank): a resumed run replays it exactly
        if first and own_state is not None:
            set_rng_state(own_state["rng"])
        else:
            seed_all(epoch_seed(args.seed, epoch, info.rank))
        train_loader.sampler.set_epoch(epoch, first * args.batch_size)
        totals = (position["loss_sum"], position["count"]) if first and info.is_main else (0.0, 0)
        result = train_one_epoch(
            step_model, criterion, train_loader, optimizer, device, epoch, scaler=scaler, amp_dtype=dtype,
            clip_grad=args.clip_grad, clip_mode=args.clip_mode, model_ema=model_ema, ema_source=model_without_ddp,
            mixup_fn=mixup_fn, lr_scheduler=lr_scheduler, num_updates=num_updates, is_main=info.is_main,
            print_freq=args.print_freq, first_step=first, steps=steps, totals=totals, stop=stop,
            cudagraphs=args.compile and args.compile_mode in CUDA_GRAPH_MODES)
        num_updates = result.num_updates
        if result.stopped_after is not None:
            where = f"at epoch {epoch}, step {result.stopped_after} of {steps}"
            states = gather_objects(checkpoint.rank_state(model_without_ddp, model_ema))
            saved = None
            if outputs is not None:
                saved = checkpoint.save(
                    args.output_dir, epoch - 1, model_without_ddp, optimizer, lr_scheduler, scaler, model_ema,
                    vars(args), train_set.classes, max_accuracy,
                    position={"epoch": epoch, "step": result.stopped_after, "steps": steps,
                              "loss_sum": result.loss_sum, "count": result.count, "world_size": info.world_size,
                              "ranks": states})
            barrier()  # rank 0 has saved before any rank exits
            raise stop.stopped(f"{where}: {saved} holds the run up to there; {how_to_continue(args, explicit_resume)}"
                               if saved or not info.is_main else f"{where}; nothing was saved (no --output_dir)")
        lr_scheduler.step(epoch + 1)
        average_bn_statistics(model_without_ddp, info.world_size)
        if model_ema is not None:
            average_bn_statistics(model_ema.module, info.world_size)
        test = evaluate(model_without_ddp, val_loader, device, dtype, num_classes, info.is_main)
        stats = {"epoch": epoch, "train_loss": result.loss, "lr": result.lr,
                 "test_loss": test["loss"], "test_acc1": test["acc1"], "test_acc5": test["acc5"],
                 "test_count": test["count"]}
        if model_ema is not None:
            ema = evaluate(model_ema.module, val_loader, device, dtype, num_classes, info.is_main, "eval EMA")
            stats.update(test_loss_ema=ema["loss"], test_acc1_ema=ema["acc1"], test_acc5_ema=ema["acc5"])
        is_best = test["acc1"] > max_accuracy
        max_accuracy = max(max_accuracy, test["acc1"])
        cpu = os.times()  # this process and its reaped loader workers, all cores together
        stats.update(max_acc1=max_accuracy, n_parameters=n_parameters, epoch_time=time.time() - t_epoch,
                     cpu_time=cpu.user + cpu.system + cpu.children_user + cpu.children_system)
        log.info("epoch %d: train loss %.4f, test loss %.4f, top-1 %.2f%% (best %.2f%%), top-5 %.2f%%%s, %.0f s",
                 epoch, stats["train_loss"], test["loss"], test["acc1"], max_accuracy, test["acc5"],
                 f", EMA top-1 {stats['test_acc1_ema']:.2f}%" if model_ema is not None else "",
                 stats["epoch_time"])
        if outputs is not None:
            saved = checkpoint.save(args.output_dir, epoch, model_without_ddp, optimizer, lr_scheduler, scaler,
                                    model_ema, vars(args), train_set.classes, max_accuracy,
                                    test["acc1"] if is_best else None)
            outputs.write_epoch(stats)
            stop.latest = (f"the latest checkpoint is {saved} (end of epoch {epoch}); "
                           f"{how_to_continue(args, explicit_resume)}")
    total = str(datetime.timedelta(seconds=int(time.time() - t_start)))
    log.info("training time %s, best top-1 %.2f%%", total, max_accuracy)
    if outputs is not None:
        outputs.close()
    return stats


def run_entry(args, info: DistInfo, resumed, changes: dict[str, tuple]) -> dict:
    """This start's entry of ``args.json``."""
    return {"started": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
            "command": shlex.join([sys.executable, *sys.argv]), "host": socket.gethostname(),
            "processes": info.world_size,
            "resumed_from": (f"{args.resume} (epoch {resumed.start_epoch}, step {resumed.start_step})"
                             if resumed else None),
            "changed_options": {k: list(v) for k, v in changes.items()},
            "options": checkpoint.plain(vars(args))}


def main(argv: list[str] | None = None) -> None:
    """Parse the options (config file, then command line) and run; the process group is always closed."""
    try:
        run(parse_with_config(get_parser(), argv))
    finally:
        cleanup()
    print(f"rank {os.environ.get('RANK', '0')} finished", flush=True)


if __name__ == "__main__":
    sys.exit(run_main(main, prog="main.py"))
