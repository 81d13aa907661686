"""``torchrun`` whose own process ends interruptions cleanly: ``python -m wavemsa.torchrun`` takes torchrun's
arguments and runs torch's launcher (``torch.distributed.run``) with two differences:

* SIGUSR1 (a cluster scheduler's warning) is forwarded to the workers like SIGINT and SIGTERM (torchrun's
  ``--signals-to-handle`` gets SIGUSR1 added; plain torchrun ends itself on it, leaving its workers behind);
* when the launcher is signalled, or when the workers end with an interruption (exit status 128 + a stop signal)
  or a known problem (exit status 2, each having said so in one line, :mod:`wavemsa.errors`), the launcher adds one
  line instead of torch's traceback and exits with the workers' status (workers that torch's launcher ended itself
  once a peer had stopped do not count as crashes).

    python -m wavemsa.torchrun --nproc_per_node=8 image_classification/main.py --config CONFIG ...

Anything else (a worker's crash) is reported by torch as torchrun does.
"""
from __future__ import annotations

import sys

from .errors import signal_name
from .runs import STOP_SIGNALS

__all__ = ["main"]

CLEAN_EXITS = {2} | {128 + int(s) for s in STOP_SIGNALS}


def main(argv: list[str] | None = None) -> int:
    from torch.distributed.elastic.multiprocessing.api import SignalException
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.run import parse_args, run

    args = parse_args(argv)
    handled = [s.strip() for s in args.signals_to_handle.split(",") if s.strip()]
    if "SIGUSR1" not in handled:
        args.signals_to_handle = ",".join([*handled, "SIGUSR1"])
    try:
        run(args)
    except SignalException as err:
        signum = int(err.sigval)
        print(f"torchrun: {signal_name(signum)} passed on to the workers; the launcher stopped", file=sys.stderr,
              flush=True)
        return 128 + signum
    except ChildFailedError as err:
        codes = {failure.exitcode for failure in err.failures.values()}
        # a negative status is a worker the launcher itself ended (SIGTERM) once a peer had stopped
        if not codes & CLEAN_EXITS or any(c >= 0 and c not in CLEAN_EXITS for c in codes):
            raise
        code = max(codes & CLEAN_EXITS)
        what = f"interrupted ({signal_name(code - 128)})" if code > 128 else "stopped on a known problem"
        print(f"torchrun: the workers {what}, exit status {code}", file=sys.stderr, flush=True)
        return code
    return 0


if __name__ == "__main__":
    sys.exit(main())
