"""Shared pytest set-up: deterministic, single-threaded-friendly defaults for the 2-core CI machine."""
import os

import pytest
import torch

os.environ.setdefault("OMP_NUM_THREADS", "2")


@pytest.fixture(autouse=True)
def _seed_everything():
    torch.manual_seed(0)
    yield
