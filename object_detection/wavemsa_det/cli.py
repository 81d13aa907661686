"""Config handling shared by ``train.py`` and ``test.py``: work dir, data root, CPU fallbacks, checks."""
from __future__ import annotations

import argparse
import json
import os
import os.path as osp
import warnings

import torch
from mmengine.config import Config, DictAction

from .checks import _WRAPPERS, check_dataset_cfgs


def add_common_args(parser: argparse.ArgumentParser) -> None:
    """Options shared by train.py and test.py."""
    parser.add_argument("--work-dir", help="where logs and checkpoints go (default: work_dirs/<config name>)")
    parser.add_argument("--data-root", help="COCO root holding annotations/ and the image folders; replaces "
                        "the configs' datasets/coco/ in every dataloader and evaluator")
    parser.add_argument("--no-data-check", action="store_true",
                        help="skip the up-front check of annotation files and listed images")
    parser.add_argument("--cfg-options", nargs="+", action=DictAction,
                        help="override config settings, e.g. train_cfg.max_epochs=1 (key=value, mmengine style)")
    parser.add_argument("--launcher", choices=["none", "pytorch", "slurm", "mpi"], default="none",
                        help="job launcher (dist_*.sh use pytorch: torchrun)")
    parser.add_argument("--local_rank", "--local-rank", type=int, default=0, help=argparse.SUPPRESS)


def _datasets(ds: dict):
    """Yield the leaf dataset configs of a (possibly wrapped) dataset config."""
    if ds.get("type") == "ConcatDataset":
        for sub in ds["datasets"]:
            yield from _datasets(sub)
    elif ds.get("type") in _WRAPPERS:
        yield from _datasets(ds["dataset"])
    else:
        yield ds


def set_data_root(cfg: Config, root: str) -> None:
    """Point every dataloader's dataset and every evaluator ``ann_file`` at ``root``."""
    root = root.rstrip("/") + "/"
    for split in ("train", "val", "test"):
        loader = cfg.get(f"{split}_dataloader")
        if not loader:
            continue
        leaves = list(_datasets(loader["dataset"]))
        for ds in leaves:
            ds["data_root"] = root
        ev = cfg.get(f"{split}_evaluator")
        for e in ev if isinstance(ev, list) else [ev] if ev else []:
            if e.get("ann_file") and leaves:
                e["ann_file"] = osp.join(root, leaves[0]["ann_file"])


def cpu_precision_fallback(cfg: Config) -> None:
    """fp16 configs use mmengine's AmpOptimWrapper, which needs a GPU: on a machine without CUDA, train
    in float32 with the same optimizer instead (with a warning)."""
    ow = cfg.get("optim_wrapper", {})
    if ow.get("type") == "AmpOptimWrapper" and not torch.cuda.is_available():
        warnings.warn("no CUDA device: AmpOptimWrapper (fp16) replaced by OptimWrapper (float32)", stacklevel=2)
        ow["type"] = "OptimWrapper"
        for key in ("loss_scale", "dtype", "use_fsdp"):
            ow.pop(key, None)


def cpu_distributed_fallback(cfg: Config) -> None:
    """Multi-process training without CUDA: gloo instead of nccl, and DDP without ``device_ids``.

    mmengine's ``init_dist`` calls ``torch.cuda.set_device``, so on the CPU the gloo process group is
    created here (from torchrun's environment); the runner then finds it initialised and skips its own.
    """
    if cfg.launcher == "none" or torch.cuda.is_available():
        return
    import torch.distributed as dist

    cfg.env_cfg.setdefault("dist_cfg", {})["backend"] = "gloo"
    cfg.model_wrapper_cfg = dict(type="MMDistributedDataParallel", device_ids=None, broadcast_buffers=False,
                                 find_unused_parameters=cfg.get("find_unused_parameters", False))
    if cfg.launcher != "pytorch":
        raise RuntimeError(f"launcher {cfg.launcher!r} on a machine without CUDA: use dist_train.sh (pytorch)")
    if not dist.is_initialized():
        dist.init_process_group(backend="gloo")


def load_config(args: argparse.Namespace, amp: bool = False) -> Config:
    """Read the config and apply the command-line options common to training and testing."""
    cfg = Config.fromfile(args.config)
    cfg.launcher = args.launcher
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    if args.work_dir:
        cfg.work_dir = args.work_dir
    elif cfg.get("work_dir") is None:
        cfg.work_dir = osp.join("./work_dirs", osp.splitext(osp.basename(args.config))[0])
    if args.data_root:
        set_data_root(cfg, args.data_root)
    if amp:
        cfg.optim_wrapper.type = "AmpOptimWrapper"
        cfg.optim_wrapper.setdefault("loss_scale", "dynamic")
    cpu_precision_fallback(cfg)
    return cfg


def check_data(cfg: Config, args: argparse.Namespace, splits: tuple[str, ...]) -> None:
    """Validate the datasets once per machine (local rank 0) unless ``--no-data-check``."""
    if args.no_data_check or os.environ.get("LOCAL_RANK", "0") != "0":
        return
    check_dataset_cfgs(cfg, splits)


def write_json_atomic(obj: dict, path: str) -> None:
    """Write JSON via a temporary file and ``os.replace``."""
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    tmp = f"{path}.tmp"
    with open(tmp, "w") as f:
        json.dump(obj, f, indent=2, sort_keys=True)
    os.replace(tmp, path)
