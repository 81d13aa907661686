"""What the classification test files share: the repository on the import path, the built-in digits in small
sizes, ``main.py``'s option parsing and a subprocess environment for runs of the trainer."""
from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MAIN = ROOT / "image_classification" / "main.py"
CONFIGS = ROOT / "image_classification" / "configs" / "wavemsa"
for path in (ROOT, ROOT / "datasets"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

import digit_scenes  # noqa: E402, F401  (for the test files: the data sets' modules)
import make_classification  # noqa: E402

from image_classification import main as ic_main  # noqa: E402
from image_classification.config import parse_with_config  # noqa: E402

# one epoch of WaveFormer-T at 32 x 32 on the CPU, without loader workers
TINY_RUN = ["--model", "wavemsa_t", "--input-size", "32", "--device", "cpu", "--num_workers", "0"]


def digits(out: Path, per_class: int = 2, train_copies: int = 1) -> Path:
    """The built-in digits, ``per_class`` glyphs per class and split (10 classes), at 32 x 32."""
    make_classification.build(out, size=32, train_copies=train_copies, val_copies=1, max_per_class=per_class)
    return out


def parse(argv: list[str]):
    """``main.py``'s options (config file, then command line)."""
    return parse_with_config(ic_main.get_parser(), argv)


def subprocess_env(**extra: str) -> dict:
    """The environment of a trainer started as a user would: one thread, unbuffered, no launcher variables."""
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1", **extra)
    for key in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        env.pop(key, None)
    return env
