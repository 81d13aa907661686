"""Shared pytest set-up: a fixed seed for every test, no logging handler left behind by a test, and torch's
threads shared out among the processes that run tests at once (pytest-xdist's workers: ``make test`` runs
``-n 2``), so that two workers on a 2-core machine do not each start a thread per core."""
import logging
import os

WORKERS = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
CORES = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
# A user's OMP_NUM_THREADS is kept. The count this file chose is marked (CHOSEN): xdist's workers inherit the
# controlling process's environment, which set it for one process, and choose again for their number.
CHOSEN = "WAVEMSA_TEST_THREADS"
if os.environ.get("OMP_NUM_THREADS", os.environ.get(CHOSEN)) == os.environ.get(CHOSEN):
    os.environ["OMP_NUM_THREADS"] = os.environ[CHOSEN] = str(max(1, min(2, CORES // WORKERS)))

import pytest  # noqa: E402
import torch  # noqa: E402

torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))  # also when a plug-in imported torch before this file


@pytest.fixture(autouse=True)
def _seed_everything():
    torch.manual_seed(0)
    yield


@pytest.fixture(autouse=True)
def _thread_count_kept():
    """Tools called in-process set torch's thread count (tools/export.py's --threads): the next test in this
    process runs with the count shared out above again, not with two threads spinning against another worker."""
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


@pytest.fixture(autouse=True)
def _no_logging_handlers_left():
    """Entry points run in-process configure the root logger with a handler on that test's captured stdout; a later
    test in the same worker must not log into the closed stream."""
    yield
    root = logging.getLogger()
    for handler in root.handlers[:]:
        if type(handler) in (logging.StreamHandler, logging.FileHandler):  # pytest's own handlers are subclasses
            root.removeHandler(handler)
            handler.close()


def pytest_collection_modifyitems(config, items):
    """The tests marked slow first (in their files' order), so that the workers of ``-n 2`` start on the longest
    runs and end together instead of one finishing a long run alone."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)
