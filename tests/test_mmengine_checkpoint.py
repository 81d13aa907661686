"""mmengine checkpoints load with ``weights_only=True``: the plug-ins every config imports (``wavemsa_det``,
``wavemsa_seg``) add exactly mmengine's classes to torch's allow-list (``wavemsa.mm.checkpoint``), so the
frameworks' own loaders read the project's checkpoints while anything else stays refused."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

pytest.importorskip("mmengine", reason="the OpenMMLab stack is not installed (make install)")

from mmengine.logging import MessageHub  # noqa: E402
from mmengine.runner.checkpoint import _load_checkpoint, save_checkpoint  # noqa: E402

from wavemsa.mm.checkpoint import allow_mmengine_checkpoints, read_weights  # noqa: E402


class _Exploit:
    """Unpickles as a call of an arbitrary function (here a harmless one)."""

    def __reduce__(self):
        return (os.getcwd, ())


def _mmengine_checkpoint(path: Path, name: str) -> Path:
    hub = MessageHub.get_instance(name)
    hub.update_scalar("train/loss", np.float32(0.5))  # a HistoryBuffer holding NumPy data
    hub.update_scalar("train/lr", 1e-4)
    hub.update_info("iter", np.int64(7))  # a NumPy scalar in runtime_info
    save_checkpoint({"meta": {"iter": 7}, "state_dict": {"w": torch.ones(3)}, "message_hub": hub.state_dict()},
                    str(path))
    return path


def test_an_mmengine_checkpoint_given_as_backbone_weights_is_named_as_such(tmp_path):
    """convert_checkpoint on a detection training checkpoint: without the plug-ins' allow-list (the tool does
    not import them) it is refused, and the message says what the file is (it used to say 'not a readable
    PyTorch checkpoint' with torch's terminal colour codes). A subprocess, as a user runs it: the plug-ins
    imported by other tests extend this process's allow-list."""
    path = _mmengine_checkpoint(tmp_path / "epoch_1.pth", "named")
    proc = subprocess.run([sys.executable, "object_detection/tools/convert_checkpoint.py", str(path),
                           str(tmp_path / "out.pth")], cwd=Path(__file__).resolve().parents[1], capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
    assert "epoch_1.pth: an mmengine (detection / segmentation) training checkpoint" in proc.stderr
    assert "\x1b" not in proc.stderr


def test_mmengine_checkpoint_loads_weights_only(tmp_path):
    path = _mmengine_checkpoint(tmp_path / "iter_7.pth", "test_mmengine_checkpoint_saved")
    allow_mmengine_checkpoints()  # what the plug-ins do on import
    ckpt = _load_checkpoint(str(path), map_location="cpu")  # mmengine's loader, torch.load's default
    torch.testing.assert_close(ckpt["state_dict"]["w"], torch.ones(3))
    restored = MessageHub.get_instance("test_mmengine_checkpoint_restored")
    restored.load_state_dict(ckpt["message_hub"])
    assert restored.get_scalar("train/loss").current() == pytest.approx(0.5)
    assert restored.get_info("iter") == 7


CHECK = """
import pickle, sys, torch
from torch.serialization import get_safe_globals
path, exploit, plugin = sys.argv[1:]
try:
    torch.load(path, weights_only=True)
    sys.exit("read before the plug-in was imported")
except pickle.UnpicklingError:
    pass
before = set(map(id, get_safe_globals()))
__import__(plugin)
from wavemsa.mm.checkpoint import mmengine_checkpoint_globals
# what the import added besides torch's own (torch.distributed registers DTensor & co. when imported)
added = {id(g) for g in get_safe_globals() if not getattr(g, "__module__", "").startswith("torch")} - before
assert added == set(map(id, mmengine_checkpoint_globals())), "the plug-in allowed more than mmengine's classes"
ckpt = torch.load(path, weights_only=True)
assert ckpt["message_hub"]["log_scalars"]["train/loss"].current() == 0.5
try:
    torch.load(exploit, weights_only=True)
    sys.exit("an arbitrary callable was unpickled")
except pickle.UnpicklingError as err:
    assert "getcwd" in str(err), err
print("ok")
"""


@pytest.mark.parametrize("plugin", ["wavemsa_det", "wavemsa_seg"])
def test_plugin_allows_exactly_mmengine_classes(tmp_path, plugin):
    path = _mmengine_checkpoint(tmp_path / "iter_7.pth", f"test_plugin_{plugin}")
    exploit = tmp_path / "exploit.pth"
    torch.save({"state_dict": {"w": torch.ones(1)}, "payload": _Exploit()}, exploit)
    proc = subprocess.run([sys.executable, "-c", CHECK, str(path), str(exploit), plugin], capture_output=True,
                          text=True, cwd=tmp_path, timeout=300)
    assert proc.returncode == 0 and proc.stdout.strip().endswith("ok"), proc.stderr[-3000:]


def test_read_weights_takes_the_weights_of_an_mmengine_checkpoint(tmp_path):
    """What CheckpointFitHook compares with the model: the state dict, read with weights_only=True."""
    path = _mmengine_checkpoint(tmp_path / "iter_7.pth", "test_read_weights")
    allow_mmengine_checkpoints()
    weights = read_weights(path)
    assert list(weights) == ["w"]
    torch.testing.assert_close(weights["w"], torch.ones(3))
