"""The one exception type for known bad input, and the entry-point wrapper that prints it.

Every entry point of the project (classification ``main.py``, the detection and segmentation
``tools/*.py``, ``datasets/make_*.py``, ``tools/*.py``) follows one rule:

* options are checked when they are parsed (argparse types from :mod:`wavemsa.cli`: positive sizes,
  ranges, files that exist), so argparse itself reports them (usage line + one ``error:`` line, exit 2);
* known problems found later (bad data, a bad checkpoint, a bad config key) raise :class:`InputError`,
  whose message names the file, key or option; :func:`run_main` prints it as one line
  ``PROG: error: MESSAGE`` on stderr and exits with status 2;
* anything else is a bug and keeps its traceback.
"""
from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterable
from typing import Any

__all__ = ["InputError", "first_few", "own_message", "run_main"]


class InputError(ValueError):
    """Known bad input: missing or corrupt data, a bad option value, a checkpoint that does not fit,
    an unknown config key. The message names the file, key or option and says what was expected.

    It derives from ``ValueError`` so library callers that catch ``ValueError`` keep working."""


def first_few(items: Iterable[Any], limit: int = 5, sort: bool = False) -> str:
    """``"a, b, c ... (+N more)"``: the first ``limit`` items of a list in an error message."""
    items = [str(i) for i in items]
    if sort:
        items.sort()
    more = f" ... (+{len(items) - limit} more)" if len(items) > limit else ""
    return ", ".join(items[:limit]) + more


def own_message(err: BaseException) -> str:
    """The message of ``err`` without a worker's traceback: a DataLoader worker's exception comes back with the
    worker's whole traceback in its text, ending in ``ErrorClass: message``; keep that message."""
    text = str(err)
    if "Traceback (most recent call last)" in text:
        last = [line for line in text.strip().splitlines() if line.strip()][-1]
        name, sep, rest = last.partition(": ")
        text = rest if sep and name.replace(".", "").isidentifier() else last
    return text


def run_main(main: Callable[..., Any], argv: list[str] | None = None, prog: str | None = None) -> int:
    """Call ``main(argv)``; an :class:`InputError` becomes one ``PROG: error: ...`` line and exit status 2.

    Returns 0 on success (use as ``sys.exit(run_main(main))``). Other exceptions propagate with their
    traceback. Under ``torchrun`` only one rank prints the message (the others exit with 2 silently),
    unless the error happened on that rank alone.
    """
    prog = prog or os.path.basename(sys.argv[0]) or "wavemsa"
    try:
        main(argv)
    except InputError as err:
        message = " ".join(own_message(err).split("\n")) if str(err) else type(err).__name__
        rank = os.environ.get("RANK")
        prefix = f"[rank {rank}] " if rank not in (None, "0") else ""
        print(f"{prefix}{prog}: error: {message}", file=sys.stderr, flush=True)
        return 2
    return 0
