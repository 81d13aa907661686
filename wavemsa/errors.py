"""The one exception type for known bad input, and the entry-point wrapper that prints it.

Every entry point of the project (classification ``main.py``, the detection and segmentation
``tools/*.py``, ``datasets/make_*.py``, ``tools/*.py``) follows one rule:

* options are checked when they are parsed (argparse types from :mod:`wavemsa.cli`: positive sizes,
  ranges, files that exist), so argparse itself reports them (usage line + one ``error:`` line, exit 2);
* known problems found later (bad data, a bad checkpoint, a bad config key) raise :class:`InputError`,
  whose message names the file, key or option; :func:`run_main` prints it as one line
  ``PROG: error: MESSAGE`` on stderr and exits with status 2;
* an interrupted run (SIGINT, SIGTERM, the scheduler's SIGUSR1; :mod:`wavemsa.runs`) raises
  :class:`Interrupted`, which :func:`run_main` prints as one line ``PROG: MESSAGE`` (what was interrupted, the
  latest checkpoint, how to continue) with the conventional exit status 128 + the signal's number; a Ctrl-C
  that arrives before an entry point handles it (``KeyboardInterrupt``) is one line too, exit status 130;
* anything else is a bug and keeps its traceback.
"""
from __future__ import annotations

import os
import signal
import sys
from collections.abc import Callable, Iterable
from typing import Any

__all__ = ["InputError", "Interrupted", "first_few", "own_message", "run_main", "signal_name"]


class InputError(ValueError):
    """Known bad input: missing or corrupt data, a bad option value, a checkpoint that does not fit,
    an unknown config key. The message names the file, key or option and says what was expected.

    ``every_rank=True`` marks an error that every process of a distributed run raises alike (e.g. a run folder
    that is locked): only rank 0 prints it. It derives from ``ValueError`` so library callers that catch
    ``ValueError`` keep working."""

    def __init__(self, *args: Any, every_rank: bool = False) -> None:
        super().__init__(*args)
        self.every_rank = every_rank


class Interrupted(BaseException):
    """A run stopped by a signal: ``signum`` (SIGINT, SIGTERM, SIGUSR1, ...) and a one-line ``message`` saying
    what was interrupted, which checkpoint is the latest and how to continue. Every rank of a distributed run
    raises it alike; rank 0 prints it. A ``BaseException`` (as ``KeyboardInterrupt``), so that no
    ``except Exception`` on the way turns it into another error."""

    def __init__(self, signum: int, message: str) -> None:
        super().__init__(message)
        self.signum = int(signum)
        self.message = message


def signal_name(signum: int) -> str:
    """``SIGTERM`` for 15, and the like."""
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


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
    """Call ``main(argv)``; an :class:`InputError` becomes one ``PROG: error: ...`` line and exit status 2, an
    :class:`Interrupted` one ``PROG: MESSAGE`` line and exit status 128 + its signal (130 for a bare Ctrl-C).

    Returns 0 on success (use as ``sys.exit(run_main(main))``). Other exceptions propagate with their
    traceback. Under ``torchrun`` an error that every rank raises alike (``every_rank``, interruptions) is
    printed by rank 0 only; one that happened on one rank is printed by that rank, with its number.
    """
    prog = prog or os.path.basename(sys.argv[0]) or "wavemsa"
    rank = os.environ.get("RANK")
    main_rank = rank in (None, "0")
    try:
        main(argv)
    except InputError as err:
        if err.every_rank and not main_rank:
            return 2
        message = " ".join(own_message(err).split("\n")) if str(err) else type(err).__name__
        prefix = "" if main_rank else f"[rank {rank}] "
        print(f"{prefix}{prog}: error: {message}", file=sys.stderr, flush=True)
        return 2
    except Interrupted as stop:
        if main_rank:
            print(f"{prog}: {stop.message}", file=sys.stderr, flush=True)
        return 128 + stop.signum
    except KeyboardInterrupt:
        if main_rank:
            print(f"{prog}: interrupted by SIGINT", file=sys.stderr, flush=True)
        return 128 + signal.SIGINT
    return 0
