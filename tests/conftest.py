"""Shared pytest set-up: a fixed seed for every test, and torch's threads shared out among the processes that
run tests at once (pytest-xdist's workers: ``make test`` runs ``-n 2``), so that two workers on a 2-core machine
do not each start a thread per core."""
import os

WORKERS = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
CORES = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
os.environ.setdefault("OMP_NUM_THREADS", str(max(1, min(2, CORES // WORKERS))))

import pytest  # noqa: E402
import torch  # noqa: E402


@pytest.fixture(autouse=True)
def _seed_everything():
    torch.manual_seed(0)
    yield


def pytest_collection_modifyitems(config, items):
    """The tests marked slow first (in their files' order), so that the workers of ``-n 2`` start on the longest
    runs and end together instead of one finishing a long run alone."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)
