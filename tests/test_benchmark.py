"""tools/benchmark.py and tools/gpu_check.sh on tiny models (WaveFormer-T vs PVTv2-B0, 64x64, batch 2): the tables,
the JSON report, the chart and the run record are written; operator counts are exact and land in the right parts.

No timing is asserted: only that the measurements exist and are consistent.
"""
import json
import mmap
import os
import subprocess
import sys
from pathlib import Path

import pytest
import timm
import torch
from torch import nn

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tools"))

import benchmark  # noqa: E402

TINY = ["--img-size", "64", "--batch-size", "2", "--num-classes", "10", "--threads", "1"]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def run_tool(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    """The tool as a user runs it (a process of its own: it sets the process's allocator up)."""
    return subprocess.run([sys.executable, str(REPO / "tools" / "benchmark.py"), *args], capture_output=True,
                          text=True, cwd=REPO, env={**os.environ, **(env or {})})


def test_side_by_side_run_writes_tables_json_chart_and_record(tmp_path):
    out, record = tmp_path / "bench", tmp_path / "record.json"
    proc = run_tool("--models", "wavemsa_t", "wavemsa_t:fused", "pvt_v2_b0", *TINY, "--warmup", "0", "--repeats",
                    "2", "--check", "--ops", "--profile", "--profile-steps", "2", "--out", str(out), "--plot",
                    "--record", str(record),
                    env={"WAVEMSA_CPU_ALLOCATOR": "default"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(out.with_suffix(".json").read_text())
    meta = report["meta"]
    assert meta["allocator"] == "default" and meta["baseline"] == "pvt_v2_b0" and meta["batch_size"] == 2
    assert meta["command"].startswith("WAVEMSA_CPU_ALLOCATOR=default python tools/benchmark.py --models wavemsa_t ")
    rows = {(r["model"], r["mode"]): r for r in report["results"]}
    # a fused model has no training step
    assert set(rows) == {("wavemsa_t", "infer"), ("wavemsa_t:fused", "infer"), ("pvt_v2_b0", "infer"),
                         ("wavemsa_t", "train"), ("pvt_v2_b0", "train")}
    for (_, mode), r in rows.items():
        assert r["img_per_s"] == pytest.approx(2000 / r["latency_ms"], rel=0.01)
        assert r["spread_ms"][0] <= r["latency_ms"] <= r["spread_ms"][1]
        assert r["vs_baseline"] == pytest.approx(r["img_per_s"] / rows["pvt_v2_b0", mode]["img_per_s"], rel=0.01)
        assert r["peak_mib"] >= 0 and r["cpu_ms"] > 0 and r["faulted_mib"] >= 0
    # same weights: the unfused model is the reference itself, the fused one differs by float rounding only
    assert rows["wavemsa_t", "infer"]["max_abs_diff"] == 0
    assert 0 <= rows["wavemsa_t:fused", "infer"]["max_abs_diff"] < 1e-4 * rows["wavemsa_t", "infer"]["max_abs"]
    assert "max_abs_diff" not in rows["wavemsa_t", "train"]
    ops = report["ops"]
    assert set(ops["infer"]) == {"wavemsa_t", "wavemsa_t:fused", "pvt_v2_b0"} and set(ops["train"]) == {
        "wavemsa_t", "pvt_v2_b0"}
    for mode, per_model in ops.items():
        for model, counted in per_model.items():
            parts = counted["parts"]
            assert counted["total"] == sum(n for p, n in parts.items() if p != "optimizer")
            assert ("WBB" in parts) == model.startswith("wavemsa")
            assert {"stem", "attention", "FFN", "head"} <= set(parts)
            assert ({"loss", "optimizer"} <= set(parts)) == (mode == "train")
    # folding BatchNorm and the channel-wavelet convs removes operators
    assert ops["infer"]["wavemsa_t:fused"]["parts"]["WBB"] < ops["infer"]["wavemsa_t"]["parts"]["WBB"]
    for per_model in report["profile"].values():
        for prof in per_model.values():
            parts = {p: v["ms"] for p, v in prof["parts"].items() if p != "total"}
            assert prof["parts"]["total"]["ms"] == pytest.approx(sum(parts.values()), abs=0.05)
            assert {"stem", "attention", "FFN"} <= set(parts) and prof["profiled_step_ms"] > 0
    md = out.with_suffix(".md").read_text()
    assert md.startswith(f"`{meta['command']}`") and "allocator: default" in md
    assert "| model | mode | img/s | latency ms (min-max) | CPU ms | faulted MiB | peak MiB | vs pvt_v2_b0 |" in md
    assert "| pvt_v2_b0 | infer |" in md and "| 1.00x |" in md
    total = ops["infer"]["wavemsa_t"]["total"], ops["infer"]["pvt_v2_b0"]["total"]
    assert f"| total | {total[0]} |" in md and f"{total[0] / total[1]:.2f}x" in md
    assert "| optimizer (not in total) |" in md and "Time per part of one train step" in md
    assert out.with_suffix(".png").read_bytes()[:8] == PNG_MAGIC
    rec = json.loads(record.read_text())
    assert rec["name"] == "benchmark" and rec["metrics"] == report and rec["command"] == meta["command"]
    assert "commit" in rec and "machine" in rec


class AddOne(nn.Module):
    """``model(x) + 1``, with views around it that must not count."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (self.model(x).t() + 1).t().reshape(x.shape[0], -1)


def _counts(model: nn.Module, mode: str) -> dict:
    x, target = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(0)), torch.tensor([1, 2])
    runner = benchmark.Runner("m", mode, model.train(mode == "train"), x, target, "float32", None, None)
    return benchmark.count_ops(runner)


def test_operator_counts_are_exact():
    torch.manual_seed(0)
    model = timm.create_model("wavemsa_t", num_classes=10)
    for mode in ("infer", "train"):
        counted = _counts(model, mode)
        again = _counts(timm.create_model("wavemsa_t", num_classes=10), mode)  # another build, other weights
        assert again == counted
        plus_one = _counts(AddOne(timm.create_model("wavemsa_t", num_classes=10)), mode)
        extra = {p: n - counted["parts"].get(p, 0) for p, n in plus_one["parts"].items()}
        # the add and, in training, nothing more: its backward passes the gradient on unchanged
        assert {p: n for p, n in extra.items() if n} == {"other": 1}, extra
        assert plus_one["total"] == counted["total"] + 1


def test_backward_operators_land_in_the_part_of_their_forward_module():
    model = timm.create_model("pvt_v2_b0", num_classes=10)
    x = torch.randn(2, 3, 64, 64)
    with benchmark.PartTracker(model) as tracker, benchmark.OpCounter(tracker) as counter:
        torch.nn.functional.cross_entropy(model(x), torch.tensor([1, 2])).backward()
    names = {(part, name) for part, name in counter.names}
    # the patch embedding's conv, the FFN's depth-wise conv and the attention's spatial-reduction conv
    for part in ("stem", "FFN", "attention"):
        assert {(part, "convolution"), (part, "convolution_backward")} <= names, part
    assert {("norm", "native_layer_norm"), ("norm", "native_layer_norm_backward")} <= names
    assert ("FFN", "gelu_backward") in names and ("head", "addmm") in names and ("head", "mm") in names
    assert not any(name.startswith(("convolution", "addmm", "native_layer_norm")) for part, name in names
                   if part == "other")


def test_parts_of_waveformer_and_pvt_modules():
    wf = timm.create_model("wavemsa_t", num_classes=10)
    blk = wf.stages[0].blocks[0]
    parts = benchmark.part_modules(wf)
    assert {wf.stages[0].embed: "stem", wf.stages[1].embed: "downsample", blk.attn: "attention",
            blk.attn.wbb: "WBB", blk.attn.q: None, blk.attn.kv_embed: None, blk.attn.wbb.dwt: None,
            blk.mlp: "FFN", blk.norm1: "norm", wf.stages[0].norm: "norm", wf.post_blocks[0]: "head",
            wf.post_blocks[0].attn: None, wf.norm: "head", wf.head: "head", wf.stages[2].blocks[0].attn: "attention",
            } == {m: parts.get(m) for m in (wf.stages[0].embed, wf.stages[1].embed, blk.attn, blk.attn.wbb,
                                             blk.attn.q, blk.attn.kv_embed, blk.attn.wbb.dwt, blk.mlp, blk.norm1,
                                             wf.stages[0].norm, wf.post_blocks[0], wf.post_blocks[0].attn, wf.norm,
                                             wf.head, wf.stages[2].blocks[0].attn)}
    pvt = timm.create_model("pvt_v2_b0", num_classes=10)
    blk = pvt.stages[0].blocks[0]
    parts = benchmark.part_modules(pvt)
    assert parts[pvt.patch_embed] == "stem" and parts[pvt.stages[1].downsample] == "downsample"
    assert parts[blk.attn] == "attention" and blk.attn.sr not in parts and blk.attn.norm not in parts
    assert parts[blk.mlp] == "FFN" and parts[blk.norm1] == "norm" and parts[pvt.head] == "head"
    assert "WBB" not in parts.values()


def test_peak_rss_of_a_step():
    peak = benchmark.peak_rss_mib(lambda: torch.ones(16 * 2**20).mul(2))  # two 64 MiB tensors at once
    assert 100 < peak < 400


def test_faulted_memory_counts_fresh_pages():
    size = 64 * 2**20
    with mmap.mmap(-1, size) as fresh:  # anonymous memory that no page backs yet, whatever malloc has kept
        fresh.madvise(mmap.MADV_NOHUGEPAGE)  # base pages: one fault each
        before = benchmark.faulted_mib()
        fresh[::mmap.PAGESIZE] = b"\x01" * (size // mmap.PAGESIZE)  # touch every page
        faulted = benchmark.faulted_mib() - before
    assert 60 < faulted < 100


@pytest.mark.parametrize("args, message", [
    (["--models", "wavemsa_t:fast"], "the only suffix is ':fused'"),
    (["--models", "no_such_model"], "no timm model of that name"),
    (["--models", "wavemsa_t", "--baseline", "pvt_v2_b0"], "is not one of --models"),
    (["--compile-mode", "reduce-overhead", "--device", "cpu"], "needs --device cuda"),
    (["--plot"], "needs --out"),
])
def test_bad_options_are_one_line_errors(args, message, capsys):
    with pytest.raises(SystemExit) as exc:
        benchmark.parse_args(args)
    assert exc.value.code == 2 and message in capsys.readouterr().err


@pytest.mark.slow
def test_gpu_check_smoke_on_the_cpu(tmp_path):
    folder, out = tmp_path / "gpu_check", tmp_path / "out"
    proc = subprocess.run(["bash", str(REPO / "tools" / "gpu_check.sh"), "--smoke"], capture_output=True, text=True,
                          env={**os.environ, "GPU_CHECK_DIR": str(folder), "OUT": str(out),
                               "PYTHON": sys.executable}, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert sorted(p.name for p in out.iterdir()) == ["compiled.log", "compiled.record.json", "eager.log",
                                                     "eager.record.json", "summary.md"]
    eager = json.loads((out / "eager.record.json").read_text())["metrics"]
    compiled = json.loads((out / "compiled.record.json").read_text())["metrics"]
    assert eager["ops"] and eager["profile"] and not eager["meta"]["compile"]
    assert compiled["meta"]["compile"] == "eager, mode default" and len(compiled["results"]) == 5
    assert all(r["max_abs_diff"] < 1e-4 * r["max_abs"] for r in compiled["results"] if r["mode"] == "infer")
    summary = (out / "summary.md").read_text()
    assert summary.count("| model | mode | img/s |") == 2 and "Operators per train step" in summary
