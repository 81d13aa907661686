"""argparse value types shared by every entry point: a bad option value is reported by argparse itself
(usage line + ``error: argument --NAME: ...``, exit status 2) when the command line is parsed.

    p.add_argument("--batch-size", type=positive_int)
    p.add_argument("--crop-pct", type=fraction)           # 0 < x <= 1
    p.add_argument("--config", type=existing_file)
"""
from __future__ import annotations

import argparse
import os
from pathlib import Path

from .errors import InputError

__all__ = ["check_replaceable", "device", "device_or_auto", "existing_dir", "existing_file", "fraction", "image_side",
           "non_negative_float", "non_negative_int", "output_dir", "output_file", "output_folder", "positive_float",
           "positive_int", "probability"]


def _number(text: str, kind: type) -> int | float:
    try:
        return kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {'an integer' if kind is int else 'a number'}, "
                                         f"got {text!r}") from None


def positive_int(text: str) -> int:
    """An integer >= 1 (sizes, counts, epochs)."""
    value = _number(text, int)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {value}")
    return value


def non_negative_int(text: str) -> int:
    """An integer >= 0 (workers, warm-up epochs, seeds)."""
    value = _number(text, int)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return value


def positive_float(text: str) -> float:
    """A finite number > 0 (learning rates, decays)."""
    value = _number(text, float)
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text}")
    return value


def non_negative_float(text: str) -> float:
    """A finite number >= 0 (weight decay, mixup alpha, smoothing)."""
    value = _number(text, float)
    if not 0 <= value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be a number >= 0, got {text}")
    return value


def probability(text: str) -> float:
    """A number in [0, 1]."""
    value = _number(text, float)
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"must be in [0, 1], got {text}")
    return value


def fraction(text: str) -> float:
    """A number in (0, 1] (crop fractions)."""
    value = _number(text, float)
    if not 0 < value <= 1:
        raise argparse.ArgumentTypeError(f"must be in (0, 1], got {text}")
    return value


def existing_file(text: str) -> str:
    """The path of a file that exists."""
    if not os.path.isfile(text):
        raise argparse.ArgumentTypeError(f"file '{text}' does not exist")
    return text


def existing_dir(text: str) -> str:
    """The path of a folder that exists."""
    if not os.path.isdir(text):
        raise argparse.ArgumentTypeError(f"folder '{text}' does not exist")
    return text


def output_dir(text: str) -> Path:
    """A folder to write into: absent (created later) or a folder, never an existing file."""
    if os.path.exists(text) and not os.path.isdir(text):
        raise argparse.ArgumentTypeError(f"'{text}' is a file, not a folder")
    return Path(text)


def output_folder(text: str) -> str:
    """:func:`output_dir` as a string (for values that go into configs)."""
    output_dir(text)
    return text


def output_file(text: str) -> str:
    """A file to write: absent (created later) or a file, never an existing folder."""
    if os.path.isdir(text):
        raise argparse.ArgumentTypeError(f"'{text}' is a folder, not a file")
    return text


def image_side(text: str) -> int:
    """An image side in pixels, at least the WaveFormer's total stride (32)."""
    from .waveformer import MIN_INPUT_SIZE

    value = positive_int(text)
    if value < MIN_INPUT_SIZE:
        raise argparse.ArgumentTypeError(f"must be >= {MIN_INPUT_SIZE} (the WaveFormer's total stride), got {value}")
    return value


def _cpu_or_cuda(text: str, expected: str) -> str:
    import torch

    try:
        kind = torch.device(text).type
    except RuntimeError:
        kind = None
    if kind not in ("cpu", "cuda"):
        raise argparse.ArgumentTypeError(f"expected {expected}, got '{text}'")
    return text


def device(text: str) -> str:
    """A torch device string of type cpu or cuda (``cpu``, ``cuda``, ``cuda:1``)."""
    return _cpu_or_cuda(text, "cpu, cuda or cuda:N")


def device_or_auto(text: str) -> str:
    """:func:`device`, or ``auto`` (cuda when present)."""
    return text if text == "auto" else _cpu_or_cuda(text, "auto, cpu, cuda or cuda:N")


def check_replaceable(folder: Path, marker: str, option: str = "--out") -> None:
    """A script that rebuilds ``folder`` as a whole may delete it only when it is empty or an earlier output of
    the script (it holds ``marker``); anything else is an ``InputError``, so a mistyped ``--out`` deletes nothing."""
    if folder.is_dir() and any(folder.iterdir()) and not (folder / marker).is_file():
        raise InputError(f"{option} {folder}: a folder with other content (no {marker} of an earlier build); "
                         "give a new or empty folder, nothing was deleted")
