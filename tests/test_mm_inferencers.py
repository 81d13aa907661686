"""The frameworks' own tools on this project's configs and checkpoints, with nothing but the installed packages:
``DetInferencer`` / ``MMSegInferencer`` and the ``tools/test.py`` / ``tools/analysis_tools/get_flops.py`` shipped
inside mmdet and mmseg (``.mim/tools``), run on the demo configs with checkpoints written by the project's own
training, in a subprocess whose environment has no PYTHONPATH and whose working directory is outside the
repository. Every ``torch.load`` there keeps ``weights_only`` (no unrestricted unpickling). (mmseg 1.2.2's
``get_flops.py`` fails for every config with an upstream bug; the test accepts exactly that error.)

The subprocess uses the plug-ins ``make install`` installed. When the installed ``wavemsa`` is another checkout's
(a shared environment whose editable install points elsewhere), the test is skipped, not faked.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("mmdet", reason="the OpenMMLab stack is not installed (make install)")
pytest.importorskip("mmseg", reason="the OpenMMLab stack is not installed (make install)")

ROOT = Path(__file__).resolve().parents[1]
DET_DEMO = ROOT / "object_detection" / "configs" / "demo" / "mask_rcnn_wavemsa_t_fpn_digits.py"
SEG_DEMO = ROOT / "semantic_segmentation" / "configs" / "demo" / "upernet_wavemsa_t_128x128_digits.py"
sys.path.insert(0, str(ROOT / "datasets"))

pytestmark = pytest.mark.slow

NO_WORKERS = [f"{split}_dataloader.{k}" for split in ("train", "val", "test")
              for k in ("num_workers=0", "persistent_workers=False")]


def clean_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH" and not k.startswith(("RANK", "WORLD_SIZE"))}
    return dict(env, OMP_NUM_THREADS="1")


def run_clean(code: str, *args: str, cwd: Path) -> dict:
    """Run ``code`` in a fresh interpreter without PYTHONPATH; return the JSON of its last output line."""
    proc = subprocess.run([sys.executable, "-c", code, *args], cwd=cwd, env=clean_env(), capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, f"{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}"
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> None:
    where = run_clean("import importlib.util as u, json; print(json.dumps({m: getattr(u.find_spec(m), 'origin', "
                      "None) for m in ('wavemsa', 'wavemsa_det', 'wavemsa_seg')}))",
                      cwd=tmp_path_factory.mktemp("where"))
    if where["wavemsa"] is None or not Path(where["wavemsa"]).is_relative_to(ROOT):
        pytest.skip(f"the installed wavemsa is not this checkout's ({where['wavemsa']}): run `make install` here")
    for plugin in ("wavemsa_det", "wavemsa_seg"):
        assert where[plugin] and Path(where[plugin]).is_relative_to(ROOT), f"make install did not install {plugin}"


COMMON = """
import json, os, runpy, sys
import torch
loads, real_load = [], torch.load
def spy(*args, **kwargs):
    loads.append(kwargs.get("weights_only"))
    return real_load(*args, **kwargs)
torch.load = spy
def run_tool(package, path, *args):
    tools = os.path.join(os.path.dirname(__import__(package).__file__), ".mim", "tools")
    sys.argv = [path, *args]
    runpy.run_path(os.path.join(tools, path), run_name="__main__")
def loaded_weights(model, ckpt):
    state = real_load(ckpt, weights_only=True)["state_dict"]
    own = model.state_dict()
    return sum(k in state and torch.equal(v.cpu(), state[k]) for k, v in own.items()), len(own)
"""

DET = COMMON + """
config, ckpt, image, data, work = sys.argv[1:]
from mmdet.apis import DetInferencer
inferencer = DetInferencer(model=config, weights=ckpt, device="cpu")
pred = inferencer(image)["predictions"][0]
equal, total = loaded_weights(inferencer.model, ckpt)
data_options = [f"test_dataloader.dataset.data_root={data}/", f"val_dataloader.dataset.data_root={data}/",
                f"test_evaluator.ann_file={data}/annotations/instances_val.json", "test_dataloader.num_workers=0",
                "test_dataloader.persistent_workers=False", "val_dataloader.num_workers=0",
                "val_dataloader.persistent_workers=False", "visualizer.name=mmdet_tools_test"]
run_tool("mmdet", "test.py", config, ckpt, "--work-dir", work, "--cfg-options", *data_options)
run_tool("mmdet", "analysis_tools/get_flops.py", config, "--num-images", "1", "--cfg-options", *data_options)
print(json.dumps(dict(keys=sorted(pred), boxes=len(pred["bboxes"]), equal=equal, total=total, loads=loads)))
"""

SEG = COMMON + """
config, ckpt, image, data, work = sys.argv[1:]
from mmseg.apis import MMSegInferencer
inferencer = MMSegInferencer(model=config, weights=ckpt, device="cpu")
pred = inferencer(image)["predictions"]
equal, total = loaded_weights(inferencer.model, ckpt)
data_options = [f"test_dataloader.dataset.data_root={data}", "test_dataloader.num_workers=0",
                "test_dataloader.persistent_workers=False", "visualizer.name=mmseg_tools_test"]
run_tool("mmseg", "test.py", config, ckpt, "--work-dir", work, "--cfg-options", *data_options)
try:
    run_tool("mmseg", "analysis_tools/get_flops.py", config, "--shape", "64", "64")
    flops_error = None
except ValueError as err:  # mmseg 1.2.2's own bug, for every config (see the test)
    flops_error = str(err)
print(json.dumps(dict(shape=list(pred.shape), classes=sorted(set(pred.flatten().tolist())), equal=equal,
                      total=total, classes_meta=list(inferencer.model.dataset_meta["classes"]), loads=loads,
                      flops_error=flops_error)))
"""


def test_det_inferencer_and_mmdet_tools_on_a_trained_checkpoint(installed, tmp_path):
    from make_coco import make_coco

    from wavemsa.mm import train

    data = tmp_path / "coco_digits"
    make_coco(data, num_train=8, num_val=4, seed=3, min_size=96, max_size=128, max_objects=3)
    work = tmp_path / "work"
    train.main([str(DET_DEMO), "--data-root", str(data), "--work-dir", str(work), "--cfg-options",
                "train_cfg.max_epochs=1", "train_dataloader.batch_size=4", *NO_WORKERS], "detection")
    ckpt = work / "epoch_1.pth"
    image = next((data / "val").glob("*.jpg"))
    out = run_clean(DET, str(DET_DEMO), str(ckpt), str(image), str(data), str(tmp_path / "mmdet_test"), cwd=tmp_path)
    assert out["keys"] == ["bboxes", "labels", "masks", "scores"]
    assert out["equal"] == out["total"] > 100  # every weight from the checkpoint, none random
    assert out["loads"] and all(w in (None, True) for w in out["loads"])  # torch's default: weights_only=True
    assert next((tmp_path / "mmdet_test").glob("*/*.log")).read_text().count("coco/bbox_mAP") >= 1


def test_mmseg_inferencer_and_mmseg_tools_on_a_trained_checkpoint(installed, tmp_path):
    import make_ade20k

    from wavemsa.mm import train

    data = make_ade20k.build(tmp_path / "ADEChallengeData2016", num_train=4, num_val=2, size=64, max_objects=2,
                             seed=2)
    work = tmp_path / "work"
    train.main([str(SEG_DEMO), "--data-root", str(data), "--work-dir", str(work), "--cfg-options",
                "train_cfg.max_iters=2", "train_cfg.val_interval=100", "train_dataloader.batch_size=2",
                *NO_WORKERS], "segmentation")
    ckpt = work / "iter_2.pth"
    image = next((data / "images" / "validation").glob("*.jpg"))
    out = run_clean(SEG, str(SEG_DEMO), str(ckpt), str(image), str(data), str(tmp_path / "mmseg_test"), cwd=tmp_path)
    assert out["shape"] == [64, 64] and set(out["classes"]) <= set(range(11))
    assert out["classes_meta"][0] == "background" and len(out["classes_meta"]) == 11  # from the checkpoint
    assert out["equal"] == out["total"] > 100
    assert out["loads"] and all(w in (None, True) for w in out["loads"])
    assert "mIoU" in next((tmp_path / "mmseg_test").glob("*/*.log")).read_text()
    # mmseg 1.2.2's get_flops.py passes both input_shape and inputs to mmengine's counter, which refuses that
    # for any config (open-mmlab/mmsegmentation#3241, fixed after 1.2.2 by #3551): it got past loading and
    # building this project's model; semantic_segmentation/tools/get_flops.py is the working tool
    assert out["flops_error"] in (None, '"input_shape" and "inputs" cannot be both set.')
