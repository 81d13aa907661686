"""tools/export.py and the export paths: ONNX checked with onnxruntime, torch.export, timm model folders."""
import json
import sys
from pathlib import Path

import pytest
import timm
import torch
from safetensors.torch import load_file
from timm.models import save_for_hf

import wavemsa
from wavemsa.backbone import WaveFormerBackbone
from wavemsa.errors import run_main

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))
import export  # noqa: E402  (tools/export.py)

SIZES = [(224, 224), (256, 320), (225, 193)]  # the last one needs padding inside the layers


def _model(name: str, num_classes: int = 10, seed: int = 0) -> wavemsa.WaveFormer:
    """A model with non-trivial BatchNorm statistics (so fusing really changes weights), in eval mode."""
    return export.build_model(name, num_classes, None, seed)


def test_model_folder_round_trip(tmp_path):
    """timm's save_for_hf writes config.json + model.safetensors (the channels_last depth-wise weights included);
    local-dir:, pretrained_cfg_overlay and the detection backbone load them with identical results."""
    model = _model("wavemsa_t")
    folder = tmp_path / "wavemsa_t"
    save_for_hf(model, str(folder), safe_serialization=True)
    assert sorted(p.name for p in folder.iterdir()) == ["config.json", "model.safetensors"]
    assert set(load_file(folder / "model.safetensors")) == set(model.state_dict())
    assert json.loads((folder / "config.json").read_text())["architecture"] == "wavemsa_t"
    x = torch.randn(2, 3, 75, 90)
    with torch.no_grad():
        ref = model(x)
        local = timm.create_model(f"local-dir:{folder}", pretrained=True).eval()
        torch.testing.assert_close(local(x), ref, rtol=0, atol=0)
        overlay = timm.create_model("wavemsa_t", pretrained=True, num_classes=10, pretrained_cfg_overlay=dict(
            file=str(folder / "model.safetensors"), num_classes=10)).eval()
        torch.testing.assert_close(overlay(x), ref, rtol=0, atol=0)
        for checkpoint in (folder / "model.safetensors", folder):  # the file, or the folder itself
            backbone = WaveFormerBackbone("t", drop_path_rate=0.0, init_cfg=dict(type="Pretrained",
                                                                                checkpoint=str(checkpoint)))
            backbone.init_weights()
            taps = model.forward_intermediates(x, norm=True, intermediates_only=True)
            for got, want in zip(backbone.eval()(x), taps):
                torch.testing.assert_close(got, want, rtol=0, atol=0)


def test_folder_of_another_model_is_a_clear_error(tmp_path):
    other = tmp_path / "resnet10t"
    save_for_hf(timm.create_model("resnet10t", num_classes=10), str(other), safe_serialization=True)
    weights = other / "model.safetensors"
    with pytest.raises(ValueError, match=r"resnet10t.*does not fit WaveFormer.*missing: "):
        timm.create_model("wavemsa_t", pretrained=True, pretrained_cfg_overlay=dict(file=str(weights)))
    backbone = WaveFormerBackbone("t", init_cfg=dict(type="Pretrained", checkpoint=str(other)))
    with pytest.raises(ValueError, match=r"resnet10t.*does not fit"):
        backbone.init_weights()
    with pytest.raises(FileNotFoundError, match="not a timm model folder"):
        wavemsa.load_state_dict(tmp_path)


@pytest.mark.slow
def test_onnx_fused_and_unfused_equal_pytorch_at_three_sizes_from_one_file(tmp_path):
    """One ONNX file per variant (dynamic batch, height, width), run by onnxruntime at 224x224, 256x320 and 225x193:
    within 1e-4 of PyTorch's logits. WaveFormer-T: the modules of every variant, in fewer blocks."""
    inputs = export._inputs(SIZES, 1, seed=0)
    model = _model("wavemsa_t", num_classes=1000)
    fused = _model("wavemsa_t", num_classes=1000).fuse()
    for variant, net in (("unfused", model), ("fused", fused)):
        result = export.export_onnx(net, tmp_path / f"{variant}.onnx", inputs, opset=18, threads=1)
        diffs = {size: r["max_abs_diff"] for size, r in result["sizes"].items()}
        assert set(diffs) == {"224x224", "256x320", "225x193"}
        assert max(diffs.values()) <= 1e-4, (variant, diffs)


@pytest.mark.slow
def test_export_cli_torch_export_of_the_fused_model_folder_and_record(tmp_path):
    """torch.export of the fused model (one program, dynamic batch and size) within 1e-4 at the three sizes; the
    model folder; the report and the run record (ONNX is the test above)."""
    out, record = tmp_path / "out", tmp_path / "record.json"
    report = export.main(["wavemsa_t", "--num-classes", "10", "--out", str(out), "--skip", "onnx", "--threads", "1",
                          "--record", str(record)])
    assert report["passed"] and json.loads((out / "export.json").read_text()) == report
    assert (out / "wavemsa_t_fused.pt2").is_file()
    torch_export = report["torch_export"]["fused"]["sizes"]
    assert set(torch_export) == {"224x224", "256x320", "225x193"}
    assert max(r["max_abs_diff"] for r in torch_export.values()) <= 1e-4
    assert report["folder"]["local_dir_max_abs_diff"] == 0.0
    assert json.loads(record.read_text())["metrics"]["max_abs_diff"] == report["max_abs_diff"]


def test_export_cli_errors(tmp_path, capsys):
    assert run_main(export.main, ["resnet50", "--out", str(tmp_path)], prog="export.py") == 2
    assert "export.py: error: model 'resnet50': expected one of" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        export.main(["wavemsa_t", "--sizes", "16x16"])
    assert exit_info.value.code == 2 and "H, W > 32" in capsys.readouterr().err
    bad = tmp_path / "bad.pth"
    torch.save({"model": timm.create_model("wavemsa_t", num_classes=3).state_dict()}, bad)
    assert run_main(export.main, ["wavemsa_t", "--checkpoint", str(bad), "--out", str(tmp_path)], prog="x") == 2
    assert "bad.pth" in capsys.readouterr().err
