"""The OpenMMLab runtime shared by detection and segmentation (wavemsa/mm/): config options, CPU fall-backs,
checkpoint checks, metrics / curves outputs, and the one-line error style of the entry points. The launchers
around it: test_launchers.py."""
from __future__ import annotations

import json
import os
import sys
from functools import partial
from pathlib import Path

import pytest
import torch
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
DET_DEMO = ROOT / "object_detection" / "configs" / "demo" / "mask_rcnn_wavemsa_t_fpn_digits.py"
SEG_DEMO = ROOT / "semantic_segmentation" / "configs" / "demo" / "upernet_wavemsa_t_128x128_digits.py"


mmengine = pytest.importorskip("mmengine", reason="the OpenMMLab stack is not installed (make install)")

from wavemsa.errors import InputError, run_main  # noqa: E402
from wavemsa.mm import checkpoint as mm_checkpoint  # noqa: E402
from wavemsa.mm import evaluate  # noqa: E402
from wavemsa.mm.config import add_common_args, load_config  # noqa: E402
from wavemsa.mm.device import adapt_to_device, enable_amp, slurm_environment  # noqa: E402
from wavemsa.mm.outputs import plot_training, write_json_atomic  # noqa: E402


def _config(path: Path, *options: str, launcher: str = "none"):
    import argparse

    p = argparse.ArgumentParser()
    p.add_argument("config")
    add_common_args(p)
    return load_config(p.parse_args([str(path), "--launcher", launcher, *options]))


def test_cfg_options_must_extend_existing_keys(tmp_path):
    cfg = _config(DET_DEMO, "--cfg-options", "train_cfg.max_epochs=1", "model.backbone.wave_stages=3",
                  "param_scheduler.0.end=7", "--data-root", str(tmp_path))
    assert cfg.train_cfg.max_epochs == 1 and cfg.model.backbone.wave_stages == 3
    assert cfg.param_scheduler[0].end == 7
    assert cfg.work_dir.endswith("work_dirs/mask_rcnn_wavemsa_t_fpn_digits")
    assert cfg.train_dataloader.dataset.data_root == f"{tmp_path}/"  # --data-root repoints data and evaluators
    assert cfg.val_evaluator.ann_file == f"{tmp_path}/annotations/instances_val.json"
    for config, option, message in [
            (DET_DEMO, "train_cgf.max_epochs=1", r"--cfg-options train_cgf\.max_epochs: the config has no 'train_cgf'"),
            (SEG_DEMO, "model.bakbone.arch=s", r"the config has no 'model\.bakbone'"),
            (DET_DEMO, "model.backbone.init_cfg.use_ema=True", r"'model\.backbone\.init_cfg' is None in the config"),
            # the backbone's settings after the options (inside the registry: a TypeError / ValueError)
            (DET_DEMO, "model.backbone.arc=s", r"model\.backbone: got an unexpected keyword argument 'arc'"),
            (SEG_DEMO, "model.backbone.arch=x", r"model\.backbone\.arch='x': not one of t, s, b, l"),
            (SEG_DEMO, "model.backbone.wave_stages=5", r"model\.backbone\.wave_stages=5: must be in \[0, 4\]")]:
        with pytest.raises(InputError, match=message):
            _config(config, "--cfg-options", option)


def test_prediction_outputs_are_checked_before_inference():
    from wavemsa.mm.task import get_task

    cfg = _config(DET_DEMO)
    with pytest.raises(InputError, match=r"--out preds\.json: detection predictions are saved as one \.pkl"):
        get_task("detection").set_out(cfg, "preds.json")  # was mmengine's ValueError after loading everything
    seg = _config(SEG_DEMO)
    with pytest.raises(InputError, match=r"--out .*README\.md: a file; segmentation predictions are saved into"):
        get_task("segmentation").set_out(seg, str(ROOT / "README.md"))


@pytest.mark.skipif(torch.cuda.is_available(), reason="the fall-backs apply to machines without CUDA")
def test_gpu_settings_fall_back_on_the_cpu():
    cfg = _config(SEG_DEMO, "--cfg-options", "model.decode_head.norm_cfg.type=SyncBN")
    enable_amp(cfg)
    assert cfg.optim_wrapper.type == "AmpOptimWrapper" and cfg.optim_wrapper.loss_scale == "dynamic"
    with pytest.warns(UserWarning, match="AmpOptimWrapper .fp16. replaced by OptimWrapper"):
        adapt_to_device(cfg)
    assert cfg.optim_wrapper.type == "OptimWrapper" and "loss_scale" not in cfg.optim_wrapper
    assert cfg.model.decode_head.norm_cfg.type == "BN" and cfg.env_cfg.dist_cfg.backend == "gloo"
    with pytest.raises(InputError, match="--launcher mpi needs CUDA"):
        adapt_to_device(_config(SEG_DEMO, launcher="mpi"))


def test_slurm_environment_maps_srun_variables():
    env = {"SLURM_PROCID": "3", "SLURM_NTASKS": "8", "SLURM_LOCALID": "1", "SLURM_NNODES": "1",
           "SLURM_NODELIST": "node7"}
    assert slurm_environment(env) == {"RANK": "3", "WORLD_SIZE": "8", "LOCAL_RANK": "1",
                                      "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": "29500"}  # no scontrol here
    assert slurm_environment(dict(env, MASTER_ADDR="10.0.0.2", MASTER_PORT="1234"))["MASTER_ADDR"] == "10.0.0.2"
    with pytest.raises(InputError, match="outside a Slurm job step: SLURM_PROCID is not set"):
        slurm_environment({})


def test_metrics_json_and_training_curves(tmp_path):
    path = write_json_atomic({"mIoU": 51.5}, str(tmp_path / "out" / "metrics.json"))
    assert json.loads(Path(path).read_text()) == {"mIoU": 51.5} and os.listdir(tmp_path / "out") == ["metrics.json"]
    run = tmp_path / "work" / "20250101_000000" / "vis_data"
    run.mkdir(parents=True)
    records = [{"iter": i, "step": i, "lr": 0.1, "loss": 2.0 / i, "decode.loss_ce": 1.0 / i} for i in (1, 2, 3)]
    records.append({"step": 3, "mIoU": 40.0, "aAcc": 80.0, "mAcc": 50.0})
    (run / "scalars.json").write_text("\n".join(json.dumps(r) for r in records))
    png = plot_training(str(tmp_path / "work"), ("mIoU", "mAcc", "aAcc"))
    assert png and Path(png).stat().st_size > 10_000
    assert plot_training(str(tmp_path / "empty"), ("mIoU",)) is None


class _Toy(nn.Module):
    def __init__(self, classes: int = 3) -> None:
        super().__init__()
        self.backbone = nn.Linear(4, 4)
        self.head = nn.Linear(4, classes)


def test_checkpoint_must_cover_the_model(tmp_path):
    model = _Toy()
    good = tmp_path / "good.pth"
    torch.save({"meta": {}, "state_dict": {f"module.{k}": v for k, v in model.state_dict().items()}}, good)
    assert set(mm_checkpoint.check_checkpoint_fits(model, good)) == set(model.state_dict())

    truncated = tmp_path / "truncated.pth"
    truncated.write_bytes(good.read_bytes()[:300])
    with pytest.raises(InputError, match=r"truncated\.pth: not a readable PyTorch checkpoint"):
        mm_checkpoint.check_checkpoint_fits(model, truncated)
    with pytest.raises(InputError, match=r"checkpoint not found: .*absent\.pth"):
        mm_checkpoint.check_checkpoint_fits(model, tmp_path / "absent.pth")

    classifier = tmp_path / "cls.pth"
    torch.save({"model": {"stages.0.w": torch.ones(1), "norm.weight": torch.ones(1)}}, classifier)
    with pytest.raises(InputError, match=r"cls\.pth holds none of the 4 weights of _Toy .*classification "
                                         r"checkpoint: give it as the backbone's pretrained weights"):
        mm_checkpoint.check_checkpoint_fits(model, classifier)

    partial = tmp_path / "partial.pth"
    torch.save({"state_dict": {k: v for k, v in model.state_dict().items() if k.startswith("backbone")}}, partial)
    with pytest.raises(InputError, match=r"partial\.pth does not fit _Toy: 2 of 4 weights missing: head\.bias, "
                                         r"head\.weight .*scratch_modules"):
        mm_checkpoint.check_checkpoint_fits(model, partial)
    mm_checkpoint.check_checkpoint_fits(model, partial, scratch_modules=["head"])  # declared: fine

    other = tmp_path / "other.pth"
    torch.save({"state_dict": _Toy(classes=5).state_dict()}, other)
    with pytest.raises(InputError, match=r"2 shape mismatch\(es\): head\.bias \(5,\) vs \(3,\)"):
        mm_checkpoint.check_checkpoint_fits(model, other)


def test_known_bad_input_is_one_line_with_exit_status_2(tmp_path, capsys):
    """A truncated checkpoint given to the detection test.py (CheckpointFitHook reads it), through the tool's
    ``run`` in this process (test_entry_points.py runs the tool itself as a process)."""
    sys.path.insert(0, str(ROOT / "datasets"))
    from make_coco import make_coco

    make_coco(tmp_path / "coco", num_train=1, num_val=4, seed=3, min_size=96, max_size=128, max_objects=3)
    bad = tmp_path / "epoch_4.pth"
    bad.write_bytes(b"PK\x03\x04 truncated")
    capsys.readouterr()
    code = run_main(partial(evaluate.main, task="detection"), [str(DET_DEMO), str(bad), "--work-dir",
                                                               str(tmp_path / "w"), "--data-root",
                                                               str(tmp_path / "coco")], prog="test.py")
    err = capsys.readouterr().err
    last = err.strip().splitlines()[-1]
    assert code == 2, err[-3000:]
    assert last.startswith("test.py: error: ") and f"{bad}: not a readable PyTorch checkpoint" in last
    assert "Traceback" not in err
