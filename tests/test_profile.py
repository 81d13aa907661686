"""tools/profile_step.py and tools/benchmarking/profiling.py: every module gets the right part, profiler events
(forward and backward) land in the part of the module that ran them, and the report is written.

No timing is asserted: only where the time is attributed and that the outputs exist and are consistent.
"""
import json
import re
import sys
from pathlib import Path

import pytest
import timm
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tools"))

import profile_step  # noqa: E402
from benchmarking.models import Spec, build_models, prepare  # noqa: E402
from benchmarking.profiling import KV, PARTS, PartScopes, assign_parts, attribute  # noqa: E402
from benchmarking.runners import TrainBenchmarkRunner, make_inputs  # noqa: E402

import wavemsa  # noqa: E402,F401

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
WBB_PARTS = {"WBB reduce", "WBB DWT", "WBB filter", "WBB IDWT", "WBB resume"}
COMMON_PARTS = {"stem", "downsample", KV, "attention", "FFN", "norms", "head"}


def test_parts_of_waveformer_and_pvt_modules():
    wf = timm.create_model("wavemsa_t", num_classes=10)
    parts = assign_parts(wf)
    blk = wf.stages[0].blocks[0]
    finer = next(m for m in blk.attn.modules() if type(m).__name__.startswith("FrequencyFiner"))
    expected = {wf.stages[0].embed: "stem", wf.stages[0].embed.conv[1]: "stem", wf.stages[1].embed: "downsample",
                blk.attn.wbb.reduce: "WBB reduce", blk.attn.wbb.reduce[0].dwt: "WBB reduce",
                blk.attn.wbb.dwt: "WBB DWT", blk.attn.wbb.filter[1]: "WBB filter", blk.attn.wbb.idwt: "WBB IDWT",
                blk.attn.wbb.resume: "WBB resume", blk.attn.wbb: "WBB residual", finer: KV,
                blk.attn.kv_embed: KV, blk.attn.kv[0]: KV, blk.attn.kv[1]: "attention", blk.attn.q: "attention",
                blk.attn.proj: "attention", wf.stages[2].blocks[0].attn.kv: "attention", blk.mlp: "FFN",
                blk.mlp.dwconv: "FFN", blk.norm1: "norms", wf.stages[3].norm: "norms", wf.post_blocks[0].attn: "head",
                wf.norm: "head", wf.head: "head", blk: "other", wf: "other"}
    assert {m: parts[m] for m in expected} == expected
    pvt = timm.create_model("pvt_v2_b0", num_classes=10)
    parts = assign_parts(pvt)
    blk = pvt.stages[0].blocks[0]
    expected = {pvt.patch_embed: "stem", pvt.patch_embed.norm: "stem", pvt.stages[1].downsample: "downsample",
                blk.attn.sr: KV, blk.attn.norm: KV, blk.attn.q: "attention", blk.attn.kv: "attention",
                blk.mlp: "FFN", blk.norm1: "norms", pvt.stages[0].norm: "norms", pvt.head: "head"}
    assert {m: parts[m] for m in expected} == expected
    assert not WBB_PARTS & set(parts.values())


def test_profiled_training_step_lands_in_the_parts_forward_and_backward():
    spec = Spec("wavemsa_t")
    model = build_models([spec], (64, 64), num_classes=10)["wavemsa_t"]
    x, target = make_inputs(2, (64, 64), 10)
    runner = TrainBenchmarkRunner("wavemsa_t", prepare(spec, model, "train"), x, target)
    runner.step()
    with PartScopes(runner.model), torch.profiler.profile() as prof:
        runner.step()
    assert not runner.model._forward_hooks and not runner.model.stages[0].embed._forward_pre_hooks  # removed
    parts = attribute(prof.events())
    ops = {name: set(pt.by_name) for name, pt in parts.items()}
    # backward kernels follow their forward module through the autograd sequence numbers
    assert {"aten::mkldnn_convolution", "aten::convolution_backward"} <= ops["WBB filter"]
    assert {"aten::native_batch_norm", "aten::native_batch_norm_backward"} <= ops["WBB reduce"]
    assert {"aten::gelu", "aten::gelu_backward"} <= ops["FFN"]
    assert "aten::native_layer_norm_backward" in ops["norms"]
    assert any("scaled_dot_product" in op and "backward" in op for op in ops["attention"])
    # the folded Frequency Finer's conv (no module of its own) and its backward go to the kv reduction
    assert {"aten::mkldnn_convolution", "aten::convolution_backward"} <= ops[KV]
    # copies are named with the module part they happened in
    copies = {tuple(op.split(" @ ")) for op in ops["layout copies"]}
    assert {op for op, _ in copies} <= {"aten::copy_", "aten::clone", "aten::contiguous", "aten::empty_like",
                                        "aten::empty", "aten::empty_strided", "aten::resize_", "aten::as_strided",
                                        "aten::_unsafe_view", "aten::view", "aten::reshape"}
    assert ("aten::copy_", "stem") in copies and {where for _, where in copies} <= set(PARTS)
    assert "Optimizer.step#AdamW.step" in ops["optimizer"] and "aten::nll_loss_forward" in ops["loss"]
    # the class-attention block sits in a ModuleList (never called itself): it still gets its scope
    assert {"aten::mm", "aten::_scaled_dot_product_flash_attention_for_cpu_backward"} <= ops["head"]
    # what is left over is glue: residual adds, views, the mean token; no matmul or convolution
    assert not {"aten::mm", "aten::addmm", "aten::mkldnn_convolution", "aten::convolution_backward"} & ops["other"]
    assert all(pt.ms >= 0 for pt in parts.values())


@pytest.mark.slow
def test_profile_step_writes_side_by_side_table_json_png_and_record(tmp_path):
    out = tmp_path / "prof"
    report = profile_step.main(["--models", "wavemsa_t", "pvt_v2_b0", "--img-size", "64", "--batch-size", "2",
                                "--num-classes", "10", "--warmup", "1", "--dtype", "bfloat16",
                                "--out", str(out), "--record", str(tmp_path / "record.json")])
    data = json.loads(out.with_suffix(".json").read_text())
    assert data == json.loads(json.dumps(report))
    assert data["meta"]["precision"] == "bfloat16 autocast" and data["meta"]["device"] == "cpu"
    got = {(p["model"], p["mode"]): p for p in data["profiles"]}
    assert set(got) == {(m, mode) for m in ("wavemsa_t", "pvt_v2_b0") for mode in ("infer", "train")}
    for (model, mode), p in got.items():
        expected = COMMON_PARTS | (WBB_PARTS if model == "wavemsa_t" else set()) | (
            {"loss", "optimizer"} if mode == "train" else set())
        nonzero = {k for k, v in p["parts"].items() if v["ms"] > 0}
        assert expected <= nonzero, (model, mode, expected - nonzero)
        if model == "pvt_v2_b0":
            assert not WBB_PARTS & set(p["parts"])
        total = sum(v["ms"] for v in p["parts"].values())
        assert 0.3 * p["profiled_step_ms"] < total <= 1.01 * p["profiled_step_ms"]  # same window, self times
        assert p["step_ms"] > 0 and p["top"] and all(r["part"] in p["parts"] for r in p["top"])
    assert "dtype casts" in got[("wavemsa_t", "train")]["parts"]  # autocast's casts are a part of their own
    md = out.with_suffix(".md").read_text()
    assert "| part | wavemsa_t ms | share | pvt_v2_b0 ms | share |" in md
    assert len(re.findall(r"^\| WBB filter \| [\d.]+ \| [\d.]+% \| - \| - \|$", md, re.M)) == 2  # infer, train
    assert md.count("**sum of parts**") == 2 and "| WBB filter | `WaveletBottleneckBooster.filter`" in md  # legend
    assert out.with_suffix(".png").read_bytes()[:8] == PNG_MAGIC
    record = json.loads((tmp_path / "record.json").read_text())
    assert record["name"] == "profile" and record["metrics"]["profiles"] == data["profiles"]
    assert record["command"].startswith("python tools/profile_step.py --models wavemsa_t")
