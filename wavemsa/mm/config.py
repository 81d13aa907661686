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
import os
import os.path as osp
from collections.abc import Iterator, Mapping

from ..cli import existing_dir, non_negative_int, output_folder
from ..errors import InputError

__all__ = ["add_common_args", "dataset_leaves", "load_config", "set_data_root"]

WRAPPERS = ("RepeatDataset", "ClassBalancedDataset", "MultiImageMixDataset")


def cfg_options_action() -> type[argparse.Action]:
    """mmengine's ``DictAction`` for ``--cfg-options``, with a ``KEY`` lacking ``=VALUE`` reported by argparse
    (mmengine's own action fails there with a bare ValueError)."""
    from mmengine.config import DictAction

    class CfgOptionsAction(DictAction):
        def __call__(self, parser, namespace, values, option_string=None):
            bad = [v for v in values if "=" not in v]
            if bad:
                parser.error(f"argument {option_string}: expected KEY=VALUE, got {bad[0]!r}")
            super().__call__(parser, namespace, values, option_string)

    return CfgOptionsAction


def add_common_args(parser: argparse.ArgumentParser) -> None:
    """Options shared by ``tools/train.py`` and ``tools/test.py`` of both task folders."""
    parser.add_argument("--work-dir", type=output_folder, help="where logs, checkpoints and metrics go "
                        "(default: work_dirs/<config name>)")
    parser.add_argument("--data-root", type=existing_dir,
                        help="dataset root; replaces the config's data_root in every dataloader (and the "
                        "evaluators' ann_file)")
    parser.add_argument("--cfg-options", nargs="+", action=cfg_options_action(), metavar="KEY=VALUE",
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


def merge_cfg_options(cfg, options: Mapping | None, config: str = "config") -> None:
    """Apply ``--cfg-options`` to ``cfg`` after checking that every key extends a path the config has; then
    check the resulting backbone settings (:func:`check_backbone_cfg`, messages name ``config``)."""
    if options:
        _check_option_keys(cfg, options)
        cfg.merge_from_dict(options)
    check_backbone_cfg(cfg, config)


def check_backbone_cfg(cfg, config: str) -> None:
    """``model.backbone`` of type WaveFormer: its keys must be ``WaveFormerBackbone``'s arguments, ``arch`` a
    known arch and ``wave_stages`` in range (a typo such as ``arc=s`` was a TypeError deep in the registry)."""
    import inspect

    from ..backbone import WaveFormerBackbone
    from ..waveformer import ARCH_SETTINGS

    backbone = (cfg.get("model") or {}).get("backbone") or {}
    if backbone.get("type") not in ("WaveFormer", "WaveFormerBackbone"):
        return
    kwargs = {k: v for k, v in backbone.items() if k not in ("type", "_scope_")}
    try:
        inspect.signature(WaveFormerBackbone.__init__).bind(None, **kwargs)
    except TypeError as err:
        raise InputError(f"{config}: model.backbone: {err} (WaveFormerBackbone takes "
                         f"{', '.join(list(inspect.signature(WaveFormerBackbone.__init__).parameters)[1:])})") from None
    arch = kwargs.get("arch", "s")
    if isinstance(arch, str) and arch.lower() not in ARCH_SETTINGS:
        raise InputError(f"{config}: model.backbone.arch={arch!r}: not one of {', '.join(ARCH_SETTINGS)}")
    depths = len(ARCH_SETTINGS[arch.lower()]["depths"]) if isinstance(arch, str) else 4
    wave_stages = kwargs.get("wave_stages", 2)
    if not isinstance(wave_stages, int) or not 0 <= wave_stages <= depths:
        raise InputError(f"{config}: model.backbone.wave_stages={kwargs['wave_stages']!r}: must be in [0, {depths}]")


def default_work_dir(config: str) -> str:
    """``./work_dirs/<config name>``, mmengine's default work folder for ``config``."""
    return osp.join("./work_dirs", osp.splitext(osp.basename(config))[0])


def load_config(args: argparse.Namespace):
    """Read ``args.config`` and apply the common options (see the module docstring); returns the Config."""
    from mmengine.config import Config

    if args.launcher == "pytorch":
        os.environ.setdefault("LOCAL_RANK", str(args.local_rank))  # torch.distributed.launch without --use_env
    cfg = Config.fromfile(args.config)
    cfg.launcher = args.launcher
    merge_cfg_options(cfg, args.cfg_options, args.config)
    if args.work_dir:
        cfg.work_dir = args.work_dir
    elif cfg.get("work_dir") is None:
        cfg.work_dir = default_work_dir(args.config)
    if args.data_root:
        set_data_root(cfg, args.data_root)
    return cfg
