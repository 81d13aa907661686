#!/usr/bin/env python
"""Train or evaluate WaveFormer (any timm model) on an ImageNet-layout folder: DeiT's recipe, or the
originals' (Wave-ViT / WaveFormer) with token labelling (``--token-label``, configs/wavemsa/wavemsa_*.py).

Single process:   python image_classification/main.py --config CONFIG --data-path DATA
Several:          torchrun --nproc_per_node=8 image_classification/main.py --config CONFIG --data-path DATA
(or the original  python -m torch.distributed.launch --nproc_per_node=8 --use_env image_classification/main.py)
Evaluate:         python image_classification/main.py --config CONFIG --data-path DATA --eval --resume CKPT
"""
from __future__ import annotations

import argparse
import datetime
import json
import logging
import math
import os
import sys
import time
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
from image_classification.data import (  # noqa: E402
    build_datasets,
    build_loaders,
    check_same_classes,
    epoch_seed,
    seed_all,
)
from image_classification.distributed import DistInfo, average_bn_statistics, cleanup, init_distributed  # noqa: E402
from image_classification.engine import evaluate, train_one_epoch  # noqa: E402
from image_classification.outputs import RunOutputs, read_log  # noqa: E402
from image_classification.report import per_class_report, write_report  # noqa: E402
from image_classification.token_label import TokenLabelCrossEntropy, TrainForward  # noqa: E402
from wavemsa.cli import (  # noqa: E402
    device,
    existing_file,
    fraction,
    non_negative_float,
    non_negative_int,
    output_folder,
    positive_float,
    positive_int,
    probability,
)
from wavemsa.errors import InputError, run_main  # noqa: E402

log = logging.getLogger("image_classification")

SCHEDULERS = ("constant", "cosine", "multistep", "plateau", "poly", "rsqrt", "step", "tanh")  # create_scheduler_v2


def optimizer_name(text: str) -> str:
    """A timm optimizer name (``create_optimizer_v2``: a registered name, optionally ``lookahead_NAME``)."""
    from timm.optim import list_optimizers

    if text.lower().split("_")[-1] not in list_optimizers():
        raise argparse.ArgumentTypeError(f"'{text}' is not a timm optimizer (timm.optim.list_optimizers(): "
                                         "adamw, sgd, lamb, ...)")
    return text


def aa_policy(text: str) -> str:
    """A timm auto-augment policy string ('' for none), checked by building it as ``create_transform`` does."""
    if not text:
        return text
    from timm.data.auto_augment import augment_and_mix_transform, auto_augment_transform, rand_augment_transform

    build = (rand_augment_transform if text.startswith("rand") else
             augment_and_mix_transform if text.startswith("augmix") else auto_augment_transform)
    try:
        build(text, {"translate_const": 100, "img_mean": (124, 116, 104)})
    except (AssertionError, ValueError, KeyError, IndexError) as e:
        raise argparse.ArgumentTypeError(f"'{text}' is not a timm auto-augment policy such as "
                                         f"'rand-m9-mstd0.5-inc1' or 'original' ({type(e).__name__}: {e})") from None
    return text


def optional_output_dir(text: str) -> str:
    """``--output_dir``: '' (save nothing) or a folder that is not an existing file."""
    return output_folder(text) if text else ""


def get_parser() -> argparse.ArgumentParser:
    """DeiT's options (same names), the originals' token-labelling options, plus ``--config``, ``--amp``,
    ``--auto-resume`` and ``--compile``. Values are checked when parsed (``wavemsa.cli`` types)."""
    p = argparse.ArgumentParser(prog="main.py", description="WaveFormer ImageNet training and evaluation",
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    add = p.add_argument
    add("--config", type=existing_file, default=None,
        help="python config file of option assignments (e.g. configs/wavemsa/wavemsa_s.py)")
    add("--batch-size", type=positive_int, default=128, help="images per process and step")
    add("--epochs", type=positive_int, default=300)
    add("--stop-epoch", type=positive_int, default=None,
        help="train only the first N epochs of the --epochs schedule (a later --auto-resume continues it)")
    # model
    add("--model", default="wavemsa_s", help="timm model name (wavemsa_t/s/b/l or any timm model)")
    add("--input-size", type=positive_int, default=224, help="image side")
    add("--drop", type=probability, default=0.0, help="dropout before the classifier")
    add("--drop-path", type=probability, default=0.1, help="stochastic depth rate")
    add("--model-ema", action=argparse.BooleanOptionalAction, default=False,
        help="keep an EMA of the weights (off in the originals; DeiT turns it on)")
    add("--model-ema-decay", type=probability, default=0.99996)
    add("--model-ema-force-cpu", action="store_true", help="keep the EMA copy on the CPU")
    # optimiser
    add("--opt", type=optimizer_name, default="adamw", help="timm optimizer name")
    add("--opt-eps", type=positive_float, default=1e-8)
    add("--opt-betas", type=probability, nargs=2, default=None, metavar=("BETA1", "BETA2"))
    add("--clip-grad", type=positive_float, default=None, help="gradient clipping threshold (none when unset)")
    add("--clip-mode", default="norm", choices=["norm", "value", "agc"])
    add("--momentum", type=probability, default=0.9)
    add("--weight-decay", type=non_negative_float, default=0.05)
    # schedule
    add("--sched", default="cosine", choices=SCHEDULERS, help="timm scheduler name")
    add("--lr", type=positive_float, default=5e-4, help="learning rate for a global batch of --lr-base-size")
    add("--lr-base-size", type=non_negative_int, default=512,
        help="the lr is scaled by (batch size x processes) / this; 0 uses --lr as given")
    add("--warmup-lr", type=non_negative_float, default=1e-6)
    add("--min-lr", type=non_negative_float, default=1e-5)
    add("--warmup-epochs", type=non_negative_int, default=5)
    add("--cooldown-epochs", type=non_negative_int, default=0,
        help="epochs at --min-lr after the schedule (added to --epochs)")
    add("--decay-epochs", type=positive_float, default=30, help="step schedulers: epochs between decays")
    add("--decay-rate", type=positive_float, default=0.1)
    add("--sched-on-updates", action="store_true", help="update the lr every step instead of every epoch")
    # augmentation
    add("--color-jitter", type=non_negative_float, default=0.4)
    add("--aa", type=aa_policy, default="rand-m9-mstd0.5-inc1", help="timm auto-augment policy ('' for none)")
    add("--smoothing", type=probability, default=0.1, help="label smoothing")
    add("--train-interpolation", default="bicubic",
        choices=["bicubic", "bilinear", "nearest", "lanczos", "box", "hamming", "random"])
    add("--repeated-aug", action=argparse.BooleanOptionalAction, default=True)
    add("--scale", type=fraction, nargs=2, default=(0.08, 1.0), help="RandomResizedCrop area range")
    add("--hflip", type=probability, default=0.5, help="horizontal flip probability")
    add("--crop-pct", type=fraction, default=0.96, help="evaluation: centre crop of input_size / crop_pct")
    add("--reprob", type=probability, default=0.25, help="random erasing probability")
    add("--remode", default="pixel", choices=["const", "rand", "pixel"])
    add("--recount", type=positive_int, default=1)
    add("--mixup", type=non_negative_float, default=0.8, help="mixup alpha (0 disables)")
    add("--cutmix", type=non_negative_float, default=1.0, help="cutmix alpha (0 disables)")
    add("--cutmix-minmax", type=fraction, nargs=2, default=None)
    add("--mixup-prob", type=probability, default=1.0)
    add("--mixup-switch-prob", type=probability, default=0.5)
    add("--mixup-mode", default="batch", choices=["batch", "pair", "elem"])
    # token labelling (the originals' names and defaults)
    add("--token-label", action=argparse.BooleanOptionalAction, default=False,
        help="train with dense label maps: auxiliary head, MixToken, token-labelling loss (Mixup/CutMix off)")
    add("--token-label-data", default="", metavar="DIR", help="label maps, one file per training image")
    add("--token-label-size", type=positive_int, default=None,
        help="token-label grid side; must equal the model's last-stage grid (default: that grid)")
    add("--dense-weight", type=non_negative_float, default=0.5, help="weight of the token (dense) loss")
    add("--cls-weight", type=non_negative_float, default=1.0, help="weight of the class loss")
    # data, run
    add("--finetune", default="", help="start from these weights: a checkpoint, a .safetensors file or a "
        "timm model folder (classifier dropped when the classes differ)")
    add("--data-path", default="datasets/imagenet1k", help="folder with train/ and val/ class folders")
    add("--output_dir", "--output-dir", dest="output_dir", type=optional_output_dir, default="",
        help="where to save (nothing when empty)")
    add("--device", type=device, default="cuda", help="cuda (falls back to cpu without a GPU) or cpu")
    add("--amp", default="auto", choices=["auto", "none", "bf16", "fp16"],
        help="torch.amp autocast dtype; auto: fp16 on CUDA, none on the CPU")
    add("--compile", action="store_true", help="run the training step through torch.compile (inductor)")
    add("--seed", type=non_negative_int, default=0)
    add("--resume", default="", help="checkpoint to resume training from (or to evaluate with --eval)")
    add("--auto-resume", action="store_true", help="resume from OUTPUT_DIR/checkpoint.pth when it exists")
    add("--eval", action="store_true",
        help="evaluate the --resume checkpoint, write eval.json and the per-class report, and exit")
    add("--num_workers", "--num-workers", dest="num_workers", type=non_negative_int, default=10)
    add("--pin-mem", action=argparse.BooleanOptionalAction, default=True)
    add("--print-freq", type=positive_int, default=50, help="steps between log lines when there is no progress bar")
    add("--local-rank", "--local_rank", dest="local_rank", type=non_negative_int, default=None,
        help="set by torch.distributed.launch without --use_env; LOCAL_RANK wins when present")
    return p


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


def check_options(args) -> None:
    """Checks that involve several options (single values are checked by their argparse types)."""
    if args.scale[0] > args.scale[1]:
        raise InputError(f"--scale {args.scale[0]} {args.scale[1]}: the minimum is above the maximum")
    if args.eval and not args.resume:
        raise InputError("--eval needs --resume CHECKPOINT")
    if args.eval:
        return
    if args.token_label and not args.token_label_data:
        raise InputError("--token-label needs --token-label-data DIR (one label map per training image; make them "
                         "with image_classification/make_token_labels.py, see datasets/README.md)")
    if args.token_label_data and not args.token_label:
        raise InputError(f"--token-label-data '{args.token_label_data}' is read only with --token-label")
    if args.token_label and not Path(args.token_label_data).is_dir():
        raise InputError(f"--token-label-data '{args.token_label_data}' is not a folder")
    if args.token_label and (args.mixup > 0 or args.cutmix > 0 or args.cutmix_minmax is not None):
        log.info("token labelling: Mixup/CutMix off (MixToken takes their place, as in the originals)")
        args.mixup, args.cutmix, args.cutmix_minmax = 0.0, 0.0, None


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
        (out_dir / "eval.json").write_text(json.dumps(
            {"checkpoint": args.resume, "checkpoint_epoch": ckpt.get("epoch"), "model": args.model,
             "input_size": args.input_size, "crop_pct": args.crop_pct, "data_path": args.data_path, **stats},
            indent=1) + "\n")
        log.info("per-class precision / recall / F1 and confusion matrix: %s, %s", json_path, png_path)
    return stats


def run(args) -> dict:
    """The whole job; returns the last evaluation statistics."""
    info = init_distributed(args.device, args.local_rank)
    device = info.device
    setup_logging(info, args.output_dir)
    dtype = amp_dtype(args.amp, device)
    if args.auto_resume and not args.resume and args.output_dir:
        last = Path(args.output_dir) / "checkpoint.pth"
        args.resume = str(last) if last.is_file() else ""
    check_options(args)
    log.info("%s", json.dumps(vars(args), default=str))
    log.info("world size %d, device %s, autocast %s", info.world_size, device, dtype)

    seed_all(args.seed + info.rank)
    train_set, val_set = build_datasets(args, token_labels=args.token_label and not args.eval)
    num_classes = len(train_set.classes)
    log.info("data %s: %d train / %d val images, %d classes", args.data_path, len(train_set), len(val_set),
             num_classes)

    eval_ckpt = checkpoint.read_checkpoint(args.resume) if args.eval else None
    if eval_ckpt is not None and "classes" in eval_ckpt:  # class index i must mean the same class
        check_same_classes(eval_ckpt["classes"], train_set.classes, f"checkpoint '{args.resume}' was trained on",
                           args.data_path)
    token_label = args.token_label or (eval_ckpt is not None and "aux_head.weight" in checkpoint.model_state(
        eval_ckpt, args.resume))
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
        step_model = torch.compile(step_model, dynamic=False)

    train_loader, val_loader = build_loaders(args, train_set, val_set, info.rank, info.world_size,
                                             pin_memory=args.pin_mem and device.type == "cuda")
    if args.eval:
        checkpoint.load_model_weights(model, checkpoint.model_state(eval_ckpt, args.resume), args.resume,
                                      args.model, eval_ckpt.get("args", {}).get("model"))
        return run_eval(args, model, val_loader, val_set, device, dtype, num_classes, info, eval_ckpt)

    global_batch = args.batch_size * info.world_size
    lr = args.lr * global_batch / args.lr_base_size if args.lr_base_size > 0 else args.lr
    opt_kwargs = {"eps": args.opt_eps} if args.opt_eps is not None else {}
    if args.opt_betas:
        opt_kwargs["betas"] = tuple(args.opt_betas)
    optimizer = create_optimizer_v2(model_without_ddp, opt=args.opt, lr=lr, weight_decay=args.weight_decay,
                                    momentum=args.momentum, **opt_kwargs)
    lr_scheduler, num_epochs = create_scheduler_v2(
        optimizer, sched=args.sched, num_epochs=args.epochs, decay_epochs=args.decay_epochs,
        decay_rate=args.decay_rate, cooldown_epochs=args.cooldown_epochs, min_lr=args.min_lr,
        warmup_lr=args.warmup_lr, warmup_epochs=args.warmup_epochs, step_on_epochs=not args.sched_on_updates,
        updates_per_epoch=len(train_loader))
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
    log.info("global batch %d, lr %.3e, %d steps per epoch, %d epochs", global_batch, lr, len(train_loader),
             num_epochs)

    start_epoch, max_accuracy = 0, 0.0
    if args.resume:
        start_epoch, max_accuracy = checkpoint.resume(args.resume, model_without_ddp, args.model, optimizer,
                                                      lr_scheduler, scaler, model_ema, train_set.classes,
                                                      args.data_path)

    outputs = RunOutputs(args.output_dir, checkpoint.plain(vars(args)), start_epoch - 1 if args.resume else None) \
        if info.is_main and args.output_dir else None
    num_updates = start_epoch * len(train_loader)
    t_start = time.time()
    stats: dict = {}
    end_epoch = min(num_epochs, args.stop_epoch or num_epochs)
    log.info("training epochs %d..%d of %d", start_epoch, end_epoch - 1, num_epochs)
    for epoch in range(start_epoch, end_epoch):
        t_epoch = time.time()
        # every random stream of this epoch derives from (seed, epoch, rank): a resumed run replays it exactly
        seed = epoch_seed(args.seed, epoch, info.rank)
        seed_all(seed)
        train_loader.generator.manual_seed(seed)
        train_loader.sampler.set_epoch(epoch)
        train_stats, num_updates = train_one_epoch(
            step_model, criterion, train_loader, optimizer, device, epoch, scaler=scaler, amp_dtype=dtype,
            clip_grad=args.clip_grad, clip_mode=args.clip_mode, model_ema=model_ema, ema_source=model_without_ddp,
            mixup_fn=mixup_fn, lr_scheduler=lr_scheduler, num_updates=num_updates, is_main=info.is_main,
            print_freq=args.print_freq)
        lr_scheduler.step(epoch + 1)
        average_bn_statistics(model_without_ddp, info.world_size)
        if model_ema is not None:
            average_bn_statistics(model_ema.module, info.world_size)
        test = evaluate(model_without_ddp, val_loader, device, dtype, num_classes, info.is_main)
        stats = {"epoch": epoch, "train_loss": train_stats["loss"], "lr": train_stats["lr"],
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
            checkpoint.save(args.output_dir, epoch, model_without_ddp, optimizer, lr_scheduler, scaler, model_ema,
                            vars(args), train_set.classes, max_accuracy, test["acc1"] if is_best else None)
            outputs.write_epoch(stats)
    total = str(datetime.timedelta(seconds=int(time.time() - t_start)))
    log.info("training time %s, best top-1 %.2f%%", total, max_accuracy)
    if outputs is not None:
        outputs.close()
    return stats


def main(argv: list[str] | None = None) -> None:
    """Parse the options (config file, then command line) and run; the process group is always closed."""
    try:
        run(parse_with_config(get_parser(), argv))
    finally:
        cleanup()
    print(f"rank {os.environ.get('RANK', '0')} finished", flush=True)


if __name__ == "__main__":
    sys.exit(run_main(main, prog="main.py"))
