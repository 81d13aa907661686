"""Python config files applied over the command-line defaults.

A config is a python file of plain assignments whose names are ``main.py`` option names
(``dest`` spelling, e.g. ``drop_path = 0.1``, ``clip_grad = None``, ``output_dir = 'checkpoints/s'``),
optionally over base configs named by ``_base_`` (OpenMMLab style).
Precedence: argparse defaults < config file < options given explicitly on the command line. Config values
are checked by the same argparse types as the command line (a bad value is an ``InputError`` naming the
file and the key).
"""
from __future__ import annotations

import argparse
import runpy
import types
from pathlib import Path
from typing import Any

from wavemsa.errors import InputError


def load_config(path: str | Path, _seen: tuple[Path, ...] = ()) -> dict[str, Any]:
    """Execute the config file and return its public, non-module, non-function assignments, over those of
    the files named by its ``_base_`` (a path or a list of paths, relative to the config's folder, applied
    in order), as OpenMMLab configs do."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"config file '{path}' does not exist")
    if path.resolve() in _seen:
        raise InputError(f"config file '{path}' includes itself through _base_")
    try:
        ns = runpy.run_path(str(path))
    except Exception as e:  # a syntax or name error inside the user's config
        raise InputError(f"config file '{path}' could not be executed: {type(e).__name__}: {e}") from e
    bases = ns.get("_base_", [])
    bases = [bases] if isinstance(bases, str) else bases
    if not isinstance(bases, (list, tuple)) or not all(isinstance(b, str) for b in bases):
        raise InputError(f"config file '{path}': _base_ = {bases!r}: expected a path or a list of paths")
    cfg: dict[str, Any] = {}
    for base in bases:
        cfg.update(load_config(path.parent / base, (*_seen, path.resolve())))
    cfg.update({k: v for k, v in ns.items()
                if not k.startswith("_") and not isinstance(v, (types.ModuleType, types.FunctionType, type))})
    return cfg


def check_config_values(parser: argparse.ArgumentParser, cfg: dict[str, Any], path: str) -> None:
    """Run every config value through its option's argparse ``type`` (each element for ``nargs`` options)
    and ``choices``; argparse does not check defaults, and config values become defaults."""
    actions = {a.dest: a for a in parser._actions}
    for key, value in cfg.items():
        action = actions[key]
        if value is None:
            continue
        if isinstance(action, (argparse._StoreTrueAction, argparse._StoreFalseAction,
                               argparse.BooleanOptionalAction)):  # a switch
            if not isinstance(value, bool):
                raise InputError(f"config file '{path}': {key} = {value!r}: expected True or False")
            continue
        if action.nargs in ("+", "*") or (isinstance(action.nargs, int) and action.nargs > 0):  # a list option
            if not isinstance(value, (list, tuple)) or (isinstance(action.nargs, int) and len(value) != action.nargs):
                count = action.nargs if isinstance(action.nargs, int) else "one or more"
                raise InputError(f"config file '{path}': {key} = {value!r}: expected a list of {count} values")
            values = value
        else:
            values = [value]
        for v in values:
            try:
                if action.type is not None:
                    action.type(str(v))
            except (argparse.ArgumentTypeError, TypeError, ValueError) as e:
                raise InputError(f"config file '{path}': {key} = {value!r}: {e}") from None
            if action.choices is not None and v not in action.choices:
                raise InputError(f"config file '{path}': {key} = {value!r}: expected one of "
                                 f"{', '.join(map(repr, action.choices))}")


def parse_with_config(parser: argparse.ArgumentParser, argv: list[str] | None = None) -> argparse.Namespace:
    """Parse ``argv``; when ``--config`` is given, its values replace the parser defaults before the
    final parse, so explicit command-line options still win. Unknown config keys and values the options'
    types reject raise ``InputError``."""
    args, _ = parser.parse_known_args(argv)
    if getattr(args, "config", None):
        cfg = load_config(args.config)
        known = {a.dest for a in parser._actions if not isinstance(a, argparse._HelpAction)}
        unknown = sorted(set(cfg) - known)
        if unknown:
            raise InputError(f"config file '{args.config}': unknown key(s) {', '.join(repr(k) for k in unknown)}; "
                             "keys must be main.py option names (see main.py --help)")
        check_config_values(parser, cfg, args.config)
        parser.set_defaults(**cfg)
    return parser.parse_args(argv)
