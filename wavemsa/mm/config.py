"""Config loading and the options every detection / segmentation entry point shares.

    p = argparse.ArgumentParser(...)
    p.add_argument("config", type=existing_file)
    add_common_args(p)
    cfg = load_config(p.parse_args(argv))

``load_config`` reads the config (importing its ``custom_imports``: the plug-in), merges ``--cfg-options``
(a key whose parent the config lacks is an :class:`~wavemsa.errors.InputError`: a typo is never silently
added), sets the launcher and the work dir, and repoints the data with ``--data-root``.
"""
from __future__ import annotations

import argparse
import os.path as osp
from collections.abc import Iterator, Mapping

from ..cli import existing_dir, non_negative_int
from ..errors import InputError

__all__ = ["add_common_args", "dataset_leaves", "load_config", "set_data_root"]

WRAPPERS = ("RepeatDataset", "ClassBalancedDataset", "MultiImageMixDataset")


def add_common_args(parser: argparse.ArgumentParser) -> None:
    """Options shared by ``tools/train.py`` and ``tools/test.py`` of both task folders."""
    from mmengine.config import DictAction

    parser.add_argument("--work-dir", help="where logs, checkpoints and metrics go "
                        "(default: work_dirs/<config name>)")
    parser.add_argument("--data-root", type=existing_dir,
                        help="dataset root; replaces the config's data_root in every dataloader (and the "
                        "evaluators' ann_file)")
    parser.add_argument("--no-data-check", action="store_true",
                        help="skip the up-front checks of annotation files and label maps")
    parser.add_argument("--cfg-options", nargs="+", action=DictAction, metavar="KEY=VALUE",
                        help="override config settings, e.g. train_cfg.max_epochs=1 (mmengine style)")
    parser.add_argument("--launcher", choices=["none", "pytorch", "slurm", "mpi"], default="none",
                        help="job launcher (dist_*.sh: pytorch, slurm_*.sh: slurm)")
    # torch.distributed.launch passes --local-rank / --local_rank; torchrun sets LOCAL_RANK
    parser.add_argument("--local_rank", "--local-rank", type=non_negative_int, default=0, help=argparse.SUPPRESS)


def dataset_leaves(ds: Mapping) -> Iterator[Mapping]:
    """The leaf dataset configs of a (possibly wrapped or concatenated) dataset config."""
    if ds.get("type") == "ConcatDataset":
        for sub in ds.get("datasets", []):
            yield from dataset_leaves(sub)
    elif ds.get("type") in WRAPPERS:
        yield from dataset_leaves(ds["dataset"])
    else:
        yield ds


def set_data_root(cfg, root: str) -> None:
    """Point every dataloader's datasets at ``root`` and every evaluator's ``ann_file`` into it."""
    root = root.rstrip("/") + "/"
    for split in ("train", "val", "test"):
        loader = cfg.get(f"{split}_dataloader")
        if not loader:
            continue
        leaves = list(dataset_leaves(loader["dataset"]))
        for ds in leaves:
            ds["data_root"] = root
        evaluators = cfg.get(f"{split}_evaluator")
        for ev in evaluators if isinstance(evaluators, list) else [evaluators] if evaluators else []:
            if ev.get("ann_file") and leaves and leaves[0].get("ann_file"):
                ev["ann_file"] = osp.join(root, leaves[0]["ann_file"])


def _check_option_keys(cfg, options: Mapping) -> None:
    """Every ``--cfg-options`` key must extend a path the config has (``a.b.c=1`` needs ``a.b``)."""
    tree = cfg.to_dict()
    for key in options:
        node, parts = tree, key.split(".")
        for depth, part in enumerate(parts[:-1]):
            if isinstance(node, (list, tuple)) and part.isdigit() and int(part) < len(node):
                node = node[int(part)]
            elif isinstance(node, Mapping) and node.get(part) is not None:
                node = node[part]
            elif isinstance(node, Mapping) and part in node:
                raise InputError(f"--cfg-options {key}: '{'.'.join(parts[:depth + 1])}' is None in the config")
            else:
                raise InputError(f"--cfg-options {key}: the config has no '{'.'.join(parts[:depth + 1])}'")


def merge_cfg_options(cfg, options: Mapping | None) -> None:
    """Apply ``--cfg-options`` to ``cfg`` after checking that every key extends a path the config has."""
    if options:
        _check_option_keys(cfg, options)
        cfg.merge_from_dict(options)


def default_work_dir(config: str) -> str:
    """``./work_dirs/<config name>``, mmengine's default work folder for ``config``."""
    return osp.join("./work_dirs", osp.splitext(osp.basename(config))[0])


def load_config(args: argparse.Namespace):
    """Read ``args.config`` and apply the common options (see the module docstring); returns the Config."""
    from mmengine.config import Config

    cfg = Config.fromfile(args.config)
    cfg.launcher = args.launcher
    merge_cfg_options(cfg, args.cfg_options)
    if args.work_dir:
        cfg.work_dir = args.work_dir
    elif cfg.get("work_dir") is None:
        cfg.work_dir = default_work_dir(args.config)
    if args.data_root:
        set_data_root(cfg, args.data_root)
    return cfg
