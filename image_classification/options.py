"""The options of ``main.py`` (DeiT's names, the originals' token-labelling options, and this trainer's own), the
checks that involve several of them, and which of them change a run's results (what a resumed run must keep)."""
from __future__ import annotations

import argparse
import logging
from pathlib import Path

from wavemsa.cli import (
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
from wavemsa.errors import InputError

log = logging.getLogger("image_classification")

SCHEDULERS = ("constant", "cosine", "multistep", "plateau", "poly", "rsqrt", "step", "tanh")  # create_scheduler_v2
COMPILE_MODES = ("default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")  # torch.compile
# torch.compile backends of --compile-backend (torch._dynamo.list_backends(), as timm's --torchcompile): inductor
# generates fused kernels; aot_eager traces the same forward and backward graphs and runs them with aten's kernels
# (for checking a model's graphs without compiling code)
COMPILE_BACKENDS = ("inductor", "aot_eager", "eager")
CUDA_GRAPH_MODES = ("reduce-overhead", "max-autotune")

# Options that do not change what a run computes (where it writes, how it loads and reports, how far it goes now):
# they may differ between a run and its resumption. Every other option does.
RUN_OPTIONS = frozenset({"config", "output_dir", "resume", "auto_resume", "allow_changed_options", "eval",
                         "num_workers", "pin_mem", "print_freq", "local_rank", "device", "stop_epoch", "compile",
                         "compile_mode", "compile_backend"})


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
    add("--compile", action="store_true", help="run the training step through torch.compile")
    add("--compile-backend", default="inductor", choices=COMPILE_BACKENDS,
        help="torch.compile backend of --compile (aot_eager: the compiled graphs on aten's kernels, no code "
        "generated)")
    add("--compile-mode", default="default", choices=COMPILE_MODES,
        help="torch.compile mode of --compile; reduce-overhead and max-autotune replay the fixed-shape training "
        "step as CUDA graphs (CUDA only)")
    add("--seed", type=non_negative_int, default=0)
    add("--resume", default="", help="checkpoint to resume training from (or to evaluate with --eval)")
    add("--auto-resume", action="store_true", help="resume from OUTPUT_DIR/checkpoint.pth when it exists")
    add("--allow-changed-options", action="store_true",
        help="resume even though options that change the results differ from the resumed run's (listed when "
        "refused); the change is recorded in args.json")
    add("--eval", action="store_true",
        help="evaluate the --resume checkpoint, write eval.json and the per-class report, and exit")
    add("--num_workers", "--num-workers", dest="num_workers", type=non_negative_int, default=10)
    add("--pin-mem", action=argparse.BooleanOptionalAction, default=True)
    add("--print-freq", type=positive_int, default=50, help="steps between log lines when there is no progress bar")
    add("--local-rank", "--local_rank", dest="local_rank", type=non_negative_int, default=None,
        help="set by torch.distributed.launch without --use_env; LOCAL_RANK wins when present")
    return p


def check_options(args, device_type: str = "cpu") -> None:
    """Checks that involve several options (single values are checked by their argparse types); ``device_type``
    is where the run goes ('cpu' or 'cuda')."""
    if args.compile_mode != "default" and not args.compile:
        raise InputError(f"--compile-mode {args.compile_mode} is a mode of --compile; add --compile")
    if args.compile_backend != "inductor" and not args.compile:
        raise InputError(f"--compile-backend {args.compile_backend} is a backend of --compile; add --compile")
    if args.compile_mode != "default" and args.compile_backend != "inductor":
        raise InputError(f"--compile-mode {args.compile_mode} is a mode of the inductor backend, not of "
                         f"--compile-backend {args.compile_backend}")
    if args.compile and args.compile_mode in CUDA_GRAPH_MODES and device_type != "cuda":
        raise InputError(f"--compile-mode {args.compile_mode} replays the training step as CUDA graphs, which need a "
                         "CUDA device; on the CPU use --compile (mode default) or --compile-mode "
                         "max-autotune-no-cudagraphs")
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


def changed_options(saved: dict, now: dict) -> dict[str, tuple]:
    """{option: (resumed run's value, this run's)} for the options that change results (all but
    :data:`RUN_OPTIONS`) and differ; options one of the two runs did not record are left out."""
    return {k: (saved[k], now[k]) for k in sorted(set(saved) & set(now))
            if k not in RUN_OPTIONS and _same_type(saved[k]) != _same_type(now[k])}


def _same_type(value):
    """Tuples as lists and integral floats as ints, as they come back from a checkpoint's ``args``."""
    if isinstance(value, (list, tuple)):
        return [_same_type(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def describe_changes(changes: dict[str, tuple]) -> str:
    """'--input-size 64 (was 32), --lr 0.002 (was 0.001)' (and '1 processes (was 2)' for the world size)."""
    def show(v) -> str:
        return " ".join(map(str, v)) if isinstance(v, (list, tuple)) else repr(v) if v in ("", None) else str(v)
    return ", ".join(f"{new} processes (was {old})" if k == "processes" else
                     f"--{k.replace('_', '-')} {show(new)} (was {show(old)})" for k, (old, new) in changes.items())
