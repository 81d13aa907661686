#!/usr/bin/env python
"""Run timm's own model tests (``tests/test_models.py`` of the installed timm's source release) on the WaveFormers.

The source release (``pip download --no-deps --no-binary :all: timm==VERSION``) is cached in
``~/.cache/wavemsa/timm`` (``$WAVEMSA_CACHE/timm``) and downloaded once; its ``tests/`` folder and its pytest
configuration (``pyproject.toml``: the markers) are unpacked into ``output/timm-tests/timm-VERSION``, next to a
``conftest.py`` that imports ``wavemsa``, and the tests that select the ``wavemsa_*`` models run as a new user
would run them::

    pytest tests/test_models.py -k wavemsa

timm's test file picks the input size of each test itself (at most 128 or 96 px for the backward, TorchScript, FX
and feature tests, the default 224 px for the forward test and the config test). Extra arguments go to pytest:

    python tools/timm_tests.py            # one process
    python tools/timm_tests.py -n 2       # make test-timm: two pytest-xdist workers
    python tools/timm_tests.py -x -k "wavemsa and fx"
"""
from __future__ import annotations

import importlib.metadata
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from wavemsa.errors import InputError, run_main  # noqa: E402

CONFTEST = '''"""Written by tools/timm_tests.py: registers the WaveFormers before timm's tests collect models; under
pytest-xdist (-n N) the cores' threads are shared out among the workers."""
import os

_workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
if _workers > 1:
    os.environ.setdefault("OMP_NUM_THREADS", str(max(1, len(os.sched_getaffinity(0)) // _workers)))

import wavemsa  # noqa: E402, F401
'''


def cache_dir() -> Path:
    return Path(os.environ.get("WAVEMSA_CACHE", Path.home() / ".cache" / "wavemsa")) / "timm"


def source_release(version: str) -> Path:
    """The cached ``timm-VERSION.tar.gz``, downloaded with pip when it is not there yet."""
    cache = cache_dir()
    archive = cache / f"timm-{version}.tar.gz"
    if archive.is_file():
        return archive
    cache.mkdir(parents=True, exist_ok=True)
    print(f"timm_tests.py: downloading the source release of timm {version} into {cache}", flush=True)
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:", f"timm=={version}",
           "-d", str(cache)]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0 or not archive.is_file():
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise InputError(f"cannot download the source release of timm {version} ({last}); offline? Put "
                         f"timm-{version}.tar.gz (from PyPI's source files) into {cache} and run again")
    return archive


def unpack_tests(archive: Path, version: str, dest: Path) -> Path:
    """Unpack ``tests/`` and ``pyproject.toml`` of the release into ``dest/timm-VERSION`` (fresh) + conftest.py."""
    root = dest / f"timm-{version}"
    shutil.rmtree(root, ignore_errors=True)
    prefix = f"timm-{version}/"
    try:
        with tarfile.open(archive) as tar:
            members = [m for m in tar.getmembers() if m.isfile() and (
                m.name.startswith(prefix + "tests/") or m.name == prefix + "pyproject.toml")]
            if not any(m.name == prefix + "tests/test_models.py" for m in members):
                raise InputError(f"{archive} has no {prefix}tests/test_models.py (not a timm source release?)")
            tar.extractall(dest, members=members, filter="data")
    except (tarfile.TarError, EOFError, OSError) as err:
        raise InputError(f"{archive}: not a readable source release ({err}); delete it and run again") from err
    (root / "conftest.py").write_text(CONFTEST)
    return root


def main(argv: list[str] | None = None) -> None:
    extra = list(sys.argv[1:] if argv is None else argv)
    version = importlib.metadata.version("timm")
    root = unpack_tests(source_release(version), version, REPO / "output" / "timm-tests")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])]))
    cmd = [sys.executable, "-m", "pytest", "tests/test_models.py", "-k", "wavemsa", "-p", "no:cacheprovider",
           "-W", "ignore::pytest.PytestUnknownMarkWarning", "-q", *extra]
    print(f"timm_tests.py: timm {version}: (cd {root} && {' '.join(cmd[1:])})", flush=True)
    status = subprocess.run(cmd, cwd=root, env=env).returncode
    if status:
        sys.exit(status)


if __name__ == "__main__":
    sys.exit(run_main(main))
