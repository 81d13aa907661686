"""mmengine checkpoints load with ``weights_only=True`` through the one allow-list that the detection and
segmentation entry points share (``wavemsa.checkpoint.mmengine_safe_globals``)."""
from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch

pytest.importorskip("mmengine", reason="the OpenMMLab stack is not installed (make install)")

from mmengine.logging import MessageHub  # noqa: E402
from mmengine.runner.checkpoint import _load_checkpoint, save_checkpoint  # noqa: E402

from wavemsa.checkpoint import mmengine_safe_globals  # noqa: E402


def test_mmengine_checkpoint_loads_weights_only(tmp_path):
    hub = MessageHub.get_instance("test_mmengine_checkpoint_saved")
    hub.update_scalar("train/loss", np.float32(0.5))  # a HistoryBuffer holding NumPy data
    hub.update_scalar("train/lr", 1e-4)
    hub.update_info("iter", np.int64(7))  # a NumPy scalar in runtime_info
    path = str(tmp_path / "iter_7.pth")
    save_checkpoint({"meta": {"iter": 7}, "state_dict": {"w": torch.ones(3)}, "message_hub": hub.state_dict()},
                    path)

    with pytest.raises(pickle.UnpicklingError):
        torch.load(path, weights_only=True)  # torch's default refuses the message hub's objects
    with mmengine_safe_globals():
        ckpt = _load_checkpoint(path, map_location="cpu")  # mmengine's loader, torch.load's default
    torch.testing.assert_close(ckpt["state_dict"]["w"], torch.ones(3))
    restored = MessageHub.get_instance("test_mmengine_checkpoint_restored")
    restored.load_state_dict(ckpt["message_hub"])
    assert restored.get_scalar("train/loss").current() == pytest.approx(0.5)
    assert restored.get_info("iter") == 7

    with pytest.raises(pickle.UnpicklingError):  # the allow-list holds only inside the context
        torch.load(path, weights_only=True)
