#!/usr/bin/env python
"""Export a WaveFormer three ways and check each export against the PyTorch model.

* **ONNX** (``NAME.onnx`` unfused and ``NAME_fused.onnx`` after ``model.fuse()``; opset ``--opset``, batch,
  height and width dynamic), run with onnxruntime on the CPU at every ``--sizes`` entry from that one file:
  maximum absolute difference to PyTorch's logits, and the time of one run of each (after one warm-up run),
  same input, same number of threads.
* **torch.export** of the fused model (``NAME_fused.pt2``, batch, height and width dynamic), saved, loaded
  back and run at every size.
* **A timm model folder** (``NAME/config.json`` + ``NAME/model.safetensors``, written by timm's own
  ``save_for_hf``), loaded back three ways with identical logits: ``timm.create_model('local-dir:FOLDER')``,
  ``timm.create_model(NAME, pretrained=True, pretrained_cfg_overlay=dict(file=FOLDER/model.safetensors,
  num_classes=N))``, and
  the detection/segmentation backbone ``WaveFormerBackbone(init_cfg=dict(type='Pretrained', checkpoint=...))``
  (its feature maps against the classifier's).

Everything it measured goes to ``OUT/export.json`` and, with ``--record``, to a run record. Any difference above
``--tolerance`` (1e-4) is an error (exit status 1) after the report is written.

    python tools/export.py wavemsa_s --out output/export --record asset/records/export.json
    python tools/export.py wavemsa_s --checkpoint output/wavemsa_s/best.pth --num-classes 1000 --out output/export
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import timm  # noqa: E402

from wavemsa.backbone import WaveFormerBackbone  # noqa: E402
from wavemsa.checkpoint import SAFETENSORS_NAME, load_state_dict, load_weights  # noqa: E402
from wavemsa.cli import existing_file, output_dir, positive_float, positive_int  # noqa: E402
from wavemsa.errors import InputError, run_main  # noqa: E402
from wavemsa.records import write_record  # noqa: E402
from wavemsa.waveformer import ARCH_SETTINGS, MIN_INPUT_SIZE, WaveFormer  # noqa: E402

DEFAULT_SIZES = ((224, 224), (256, 320), (225, 193))  # the last one needs padding inside the layers


def image_size(text: str) -> tuple[int, int]:
    """``HxW`` (or ``S`` for SxS) with both sides >= the model's total stride."""
    parts = text.lower().split("x")
    try:
        h, w = (int(parts[0]), int(parts[0])) if len(parts) == 1 else (int(parts[0]), int(parts[1]))
    except (ValueError, IndexError):
        raise argparse.ArgumentTypeError(f"expected HxW such as 224x224, got {text!r}") from None
    if len(parts) > 2 or min(h, w) <= MIN_INPUT_SIZE:
        raise argparse.ArgumentTypeError(f"expected HxW with H, W > {MIN_INPUT_SIZE} (the torch.export program "
                                         f"leaves out the one-token map of {MIN_INPUT_SIZE}x{MIN_INPUT_SIZE}), "
                                         f"got {text!r}")
    return h, w


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="export.py", description=__doc__.split("\n\n")[0])
    p.add_argument("model", help="a registered WaveFormer: wavemsa_t, wavemsa_s, wavemsa_b or wavemsa_l")
    p.add_argument("--checkpoint", type=existing_file, help="weights to export (trainer checkpoint, state dict or "
                   ".safetensors); random weights if omitted")
    p.add_argument("--num-classes", type=positive_int, default=1000)
    p.add_argument("--out", type=output_dir, default=Path("output/export"), help="folder for the exported files")
    p.add_argument("--sizes", type=image_size, nargs="+", default=list(DEFAULT_SIZES), metavar="HxW",
                   help="input sizes checked from each exported file (default: 224x224 256x320 225x193)")
    p.add_argument("--batch-size", type=positive_int, default=1)
    p.add_argument("--opset", type=positive_int, default=18, help="ONNX opset (default 18)")
    p.add_argument("--threads", type=positive_int, default=2, help="CPU threads of PyTorch and onnxruntime")
    p.add_argument("--tolerance", type=positive_float, default=1e-4, help="largest accepted |difference|")
    p.add_argument("--skip", nargs="+", default=[], choices=["onnx", "torch-export", "folder"])
    p.add_argument("--record", type=Path, help="also write a run record (wavemsa.records) here")
    p.add_argument("--seed", type=int, default=0)
    return p.parse_args(argv)


def build_model(name: str, num_classes: int, checkpoint: str | None, seed: int) -> WaveFormer:
    """The WaveFormer ``name`` in eval mode, with ``checkpoint``'s weights when given."""
    if name not in timm.list_models("wavemsa_*"):
        raise InputError(f"model {name!r}: expected one of {timm.list_models('wavemsa_*')}")
    torch.manual_seed(seed)
    model = timm.create_model(name, num_classes=num_classes)
    if checkpoint:
        try:
            load_weights(model, load_state_dict(checkpoint), ignore=(), source=f"checkpoint '{checkpoint}'")
        except (ValueError, KeyError, FileNotFoundError) as err:
            raise InputError(str(err)) from err
    if not checkpoint:  # non-trivial BatchNorm statistics, so that fusing them is really checked
        model.train()
        with torch.no_grad():
            for _ in range(2):
                model(torch.randn(4, 3, 96, 96))
    return model.eval()


def _inputs(sizes, batch_size: int, seed: int) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {f"{h}x{w}": torch.randn(batch_size, 3, h, w, generator=g) for h, w in sizes}


def _timed(fn, *args):
    start = time.perf_counter()
    out = fn(*args)
    return out, time.perf_counter() - start


def _max_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a.float() - b.float()).abs().max())


def _dynamic_example(batch_size: int) -> torch.Tensor:
    # batch 2 and a size that needs padding in every WaveMSA stage: export keeps batch, height and width symbolic
    # (a dimension of size 1, or sizes where no padding happens, would be taken as fixed)
    return torch.randn(max(batch_size, 2), 3, 225, 193)


def export_onnx(model: torch.nn.Module, path: Path, inputs: dict[str, torch.Tensor], opset: int,
                threads: int) -> dict:
    """Export to ONNX (dynamic batch, height, width) and compare onnxruntime with PyTorch eager per input."""
    import onnxruntime as ort

    start = time.perf_counter()
    torch.onnx.export(model, (_dynamic_example(next(iter(inputs.values())).shape[0]),), str(path), dynamo=True,
                      opset_version=opset, input_names=["image"], output_names=["logits"],
                      dynamic_shapes={"x": {0: "batch", 2: "height", 3: "width"}}, verbose=False)
    result = {"file": str(path), "opset": opset, "export_s": round(time.perf_counter() - start, 1), "sizes": {}}
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    for key, x in inputs.items():
        with torch.inference_mode():
            model(x)  # warm-up
            ref, torch_s = _timed(model, x)
        feed = {"image": x.numpy()}
        session.run(None, feed)  # warm-up
        out, ort_s = _timed(session.run, None, feed)
        result["sizes"][key] = {"max_abs_diff": _max_diff(torch.from_numpy(out[0]), ref),
                                "onnxruntime_s": round(ort_s, 4), "torch_eager_s": round(torch_s, 4)}
    return result


def export_program(model: torch.nn.Module, path: Path, inputs: dict[str, torch.Tensor]) -> dict:
    """torch.export (dynamic batch, height, width), saved and loaded back, compared with the model per input."""
    start = time.perf_counter()
    auto = torch.export.Dim.AUTO
    program = torch.export.export(model, (_dynamic_example(next(iter(inputs.values())).shape[0]),),
                                  dynamic_shapes={"x": {0: auto, 2: auto, 3: auto}})
    torch.export.save(program, str(path))
    result = {"file": str(path), "export_s": round(time.perf_counter() - start, 1), "sizes": {}}
    loaded = torch.export.load(str(path)).module()
    for key, x in inputs.items():
        with torch.inference_mode():
            result["sizes"][key] = {"max_abs_diff": _max_diff(loaded(x), model(x))}
    return result


def export_folder(model: WaveFormer, name: str, folder: Path, x: torch.Tensor) -> dict:
    """Write a timm model folder with ``save_for_hf`` and load it back three ways."""
    from timm.models import save_for_hf

    save_for_hf(model, str(folder), safe_serialization=True)
    weights = folder / SAFETENSORS_NAME
    with torch.inference_mode():
        ref = model(x)
        local = timm.create_model(f"local-dir:{folder}", pretrained=True).eval()
        overlay = timm.create_model(name, pretrained=True, num_classes=model.num_classes,
                                    pretrained_cfg_overlay=dict(file=str(weights), num_classes=model.num_classes))
        overlay.eval()
        result = {"folder": str(folder), "files": sorted(os.listdir(folder)),
                  "local_dir_max_abs_diff": _max_diff(local(x), ref),
                  "pretrained_cfg_overlay_max_abs_diff": _max_diff(overlay(x), ref)}
        arch = name.removeprefix("wavemsa_")
        if arch in ARCH_SETTINGS:
            backbone = WaveFormerBackbone(arch, drop_path_rate=0.0,
                                          init_cfg=dict(type="Pretrained", checkpoint=str(weights)))
            backbone.init_weights()
            feats = backbone.eval()(x)
            taps = model.forward_intermediates(x, norm=True, intermediates_only=True)
            result["backbone_max_abs_diff"] = max(_max_diff(f, t) for f, t in zip(feats, taps))
    return result


def _differences(report: dict) -> list[tuple[str, float]]:
    out = []
    for kind in ("onnx", "torch_export"):
        for variant, res in report.get(kind, {}).items():
            out += [(f"{kind}/{variant}/{size}", v["max_abs_diff"]) for size, v in res["sizes"].items()]
    for key, value in report.get("folder", {}).items():
        if key.endswith("max_abs_diff"):
            out.append((f"folder/{key}", value))
    return out


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    started = time.time()
    torch.set_num_threads(args.threads)
    model = build_model(args.model, args.num_classes, args.checkpoint, args.seed)
    fused = build_model(args.model, args.num_classes, args.checkpoint, args.seed).fuse()
    inputs = _inputs(args.sizes, args.batch_size, args.seed)
    args.out.mkdir(parents=True, exist_ok=True)
    report: dict = {"model": args.model, "checkpoint": args.checkpoint, "num_classes": args.num_classes,
                    "batch_size": args.batch_size, "threads": args.threads, "tolerance": args.tolerance,
                    "torch": torch.__version__}
    if "folder" not in args.skip:
        report["folder"] = export_folder(model, args.model, args.out / args.model, next(iter(inputs.values())))
    if "onnx" not in args.skip:
        import onnxruntime

        report["onnxruntime"] = onnxruntime.__version__
        report["onnx"] = {"unfused": export_onnx(model, args.out / f"{args.model}.onnx", inputs, args.opset,
                                                 args.threads),
                          "fused": export_onnx(fused, args.out / f"{args.model}_fused.onnx", inputs, args.opset,
                                               args.threads)}
    if "torch-export" not in args.skip:
        report["torch_export"] = {"fused": export_program(fused, args.out / f"{args.model}_fused.pt2", inputs)}
    diffs = _differences(report)
    report["max_abs_diff"] = max((d for _, d in diffs), default=0.0)
    report["passed"] = report["max_abs_diff"] <= args.tolerance
    (args.out / "export.json").write_text(json.dumps(report, indent=2) + "\n")
    width = max((len(k) for k, _ in diffs), default=10)
    for key, diff in diffs:
        print(f"{key:<{width}}  max |diff| {diff:.2e}")
    if args.record:
        write_record(args.record, metrics=report, name="export",
                     command="python tools/export.py " + " ".join(argv if argv is not None else sys.argv[1:]),
                     wall_s=round(time.time() - started, 1))
    if not report["passed"]:
        failed = [k for k, d in diffs if d > args.tolerance]
        print(f"export.py: differences above {args.tolerance:g}: {', '.join(failed)}", file=sys.stderr)
        sys.exit(1)
    return report


if __name__ == "__main__":
    sys.exit(run_main(main))
