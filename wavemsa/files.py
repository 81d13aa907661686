"""Atomic file writes: every file the project writes for a user (checkpoints, logs' JSON companions, label maps,
records, metrics) goes through :func:`atomic_write`, so a crash, a kill or a full disk leaves either the old file
or the new one, never half of one.

    atomic_write(path, lambda tmp: torch.save(state, tmp))
    write_json(path, {"top1": 97.3})
    write_text(path, "...")
    with replace_folder(out) as tmp:      # a whole folder (a built data set): written aside, then put in place
        ...

A write that fails because the disk (or the user's quota, or the process's file-size limit) is full raises
:class:`~wavemsa.errors.InputError` naming the file and the free space; the previous file is kept.
"""
from __future__ import annotations

import errno
import json
import os
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from .errors import InputError

__all__ = ["append_text", "atomic_write", "replace_folder", "write_json", "write_text"]

# errnos and texts of a write that ran out of room: the disk, a quota, RLIMIT_FSIZE; torch.save's zip writer
# reports it as a RuntimeError ("[enforce fail at inline_container.cc:...] . unexpected pos ...")
_FULL_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}
_FULL_TEXTS = ("unexpected pos", "file write failed", "No space left on device")


def _is_full(err: BaseException) -> bool:
    if isinstance(err, OSError) and err.errno in _FULL_ERRNOS:
        return True
    return isinstance(err, RuntimeError) and any(t in str(err) for t in _FULL_TEXTS)


def _free_space(folder: Path) -> str:
    try:
        return f"{shutil.disk_usage(folder).free / 2**20:.1f} MiB free"
    except OSError:
        return "free space unknown"


def atomic_write(path: str | os.PathLike, write: Callable[[str], Any], sync: bool = True) -> Path:
    """Call ``write(tmp)`` with a temporary path in ``path``'s folder, then rename it over ``path``.

    The folder is created when missing. If ``write`` fails the temporary file is removed and ``path`` keeps its
    previous content; a full disk becomes an :class:`InputError` naming ``path`` and the free space. ``sync=False``
    skips the ``fsync`` before the rename (many small files that a re-run can rebuild: a power loss may then leave
    one of them empty). Returns ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        write(str(tmp))
        if sync:
            fd = os.open(tmp, os.O_RDONLY)
            try:
                os.fsync(fd)  # the data is on disk before the name points to it
            finally:
                os.close(fd)
        os.replace(tmp, path)
    except BaseException as err:
        tmp.unlink(missing_ok=True)
        if _is_full(err):
            kept = "the previous file is kept" if path.exists() else "nothing was written"
            raise InputError(f"cannot write '{path}': the disk is full or a size limit was reached "
                             f"({_free_space(path.parent)} in '{path.parent}'); {kept}") from None
        raise
    return path


def write_text(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    return atomic_write(path, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))


def append_text(path: str | os.PathLike, text: str) -> Path:
    """Append ``text`` (UTF-8) to ``path`` (a log: one line at a time); a full disk is an :class:`InputError`
    naming ``path`` and the free space."""
    path = Path(path)
    try:
        with open(path, "a", encoding="utf-8") as f:
            f.write(text)
    except OSError as err:
        if _is_full(err):
            raise InputError(f"cannot write '{path}': the disk is full or a size limit was reached "
                             f"({_free_space(path.parent)} in '{path.parent}')") from None
        raise
    return path


def write_json(path: str | os.PathLike, obj: Any, indent: int | None = 2) -> Path:
    """Write ``obj`` as JSON (``default=str`` for paths and the like) to ``path`` atomically."""
    return write_text(path, json.dumps(obj, indent=indent, default=str) + "\n")


@contextmanager
def replace_folder(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a new temporary folder beside ``path``; when the block succeeds, the folder that was at ``path`` (if
    any) is removed and the temporary one renamed to ``path``; when it fails, the temporary folder is removed and
    ``path`` is left as it was. A full disk while writing is an :class:`InputError` naming ``path``."""
    final = Path(path).resolve()  # '.' has no name to build a sibling from
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.with_name(f".{final.name}.{os.getpid()}.tmp")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    try:
        yield tmp
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
    except BaseException as err:
        shutil.rmtree(tmp, ignore_errors=True)
        if _is_full(err):
            raise InputError(f"cannot write '{final}': the disk is full or a size limit was reached "
                             f"({_free_space(final.parent)} in '{final.parent}'); nothing was replaced") from None
        raise
