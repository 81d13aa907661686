"""tools/benchmark.py runs end to end on tiny settings and writes valid JSON, markdown and PNG charts.

No timing is asserted: only that the measurements exist, are consistent, and that the output check
really compares the fast model with the reference.
"""
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tools"))

import benchmark  # noqa: E402
from benchmarking import runners  # noqa: E402

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_benchmark_classifier_side_by_side(tmp_path):
    out = tmp_path / "bench"
    report = benchmark.main([
        "--models", "wavemsa_t", "pvt_v2_b0", "wavemsa_t:reference", "wavemsa_t:nofuse",
        "--img-size", "64", "--batch-size", "2", "--warmup", "0", "--repeats", "1", "--threads", "2",
        "--num-classes", "10", "--check", "--out", str(out), "--plot", "--plot-dir", str(tmp_path / "asset"),
        "--baseline", "pvt_v2_b0",
    ])
    data = json.loads(out.with_suffix(".json").read_text())
    assert data == json.loads(json.dumps(report))
    assert data["meta"]["threads"] == 2 and data["meta"]["batch_size"] == 2 and data["meta"]["device"] == "cpu"
    assert data["meta"]["command"].startswith("python tools/benchmark.py --models wavemsa_t")
    rows = {(r["model"], r["mode"]) for r in data["results"]}
    labels = ["wavemsa_t", "pvt_v2_b0", "wavemsa_t:reference", "wavemsa_t:nofuse"]
    assert rows == {(m, mode) for m in labels for mode in ("infer", "train")} - {("wavemsa_t:nofuse", "train")}
    for r in data["results"]:
        assert len(r["times_s"]) == 1 and all(t > 0 for t in r["times_s"])
        assert r["img_size"] == [64, 64]
        assert r["img_per_s"] == pytest.approx(2 / r["median_s"])
    # same weights: the fused model, the unfused one and the published formulation agree
    checks = data["output_check"]
    assert set(checks) == {"wavemsa_t vs wavemsa_t:reference @ 64x64", "wavemsa_t vs wavemsa_t:nofuse @ 64x64"}
    assert all(0 <= v < 1e-4 for v in checks.values())
    md = out.with_suffix(".md").read_text()
    assert "| model | mode | size | img/s |" in md and "vs pvt_v2_b0" in md
    assert md.count("| pvt_v2_b0 | infer | 64x64 |") == 1 and "| 1.00x |" in md
    png = tmp_path / "asset" / "benchmark_throughput.png"
    assert png.read_bytes()[:8] == PNG_MAGIC


def test_benchmark_scaling_backbone_with_memory(tmp_path):
    out = tmp_path / "scaling"
    benchmark.main([
        "--models", "wavemsa_t", "pvt_v2_b0", "--backbone-only", "--modes", "infer",
        "--img-size", "64", "64x96", "--batch-size", "1", "--warmup", "0", "--repeats", "1",
        "--memory", "--out", str(out), "--plot", "--plot-dir", str(tmp_path), "--plot-prefix", "scal",
    ])
    data = json.loads(out.with_suffix(".json").read_text())
    assert data["meta"]["backbone_only"] is True
    assert sorted((r["model"], tuple(r["img_size"])) for r in data["results"]) == [
        ("pvt_v2_b0", (64, 64)), ("pvt_v2_b0", (64, 96)), ("wavemsa_t", (64, 64)), ("wavemsa_t", (64, 96))]
    assert all(isinstance(r["peak_mem_mb"], float) and r["peak_mem_mb"] >= 0 for r in data["results"])
    assert (tmp_path / "scal_scaling_infer.png").read_bytes()[:8] == PNG_MAGIC


def test_malloc_keep_is_applied_and_reported(tmp_path):
    """--malloc keep changes the whole process's allocator, so it runs in a subprocess of its own."""
    out = tmp_path / "keep"
    proc = subprocess.run([sys.executable, str(REPO / "tools" / "benchmark.py"), "--models", "wavemsa_t",
                           "pvt_v2_b0", "--modes", "infer", "--img-size", "64", "--batch-size", "1", "--warmup", "0",
                           "--repeats", "1", "--malloc", "keep", "--memory", "--out", str(out)],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    data = json.loads(out.with_suffix(".json").read_text())
    assert data["meta"]["malloc"] == "keep"
    assert all(r["peak_mem_mb"] is not None for r in data["results"])  # the memory probes ran with it too
    assert "malloc keeps freed memory" in out.with_suffix(".md").read_text()
    assert benchmark.parse_args([]).malloc == "default"


@pytest.mark.parametrize("keep", [False, True])
def test_keep_freed_memory_keeps_a_freed_block_resident(keep):
    """By default glibc unmaps a freed 256 MiB block (the resident set shrinks); after keep_freed_memory()
    the block stays in the heap for reuse (it does not)."""
    script = f"""
import sys; sys.path.insert(0, {str(REPO / "tools")!r})
import torch, benchmark
assert benchmark.keep_freed_memory() if {keep} else True
def rss(): return benchmark._proc_status_mb("VmRSS")
x = torch.ones(64 * 2**20); before_free = rss(); del x
print(before_free - rss())
"""
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    released_mb = float(proc.stdout.split()[-1])
    assert (released_mb < 16) if keep else (released_mb > 200)


def test_bad_arguments_are_rejected():
    with pytest.raises(ValueError, match="NAME:reference"):
        benchmark.Spec.parse("wavemsa_s:fast")
    with pytest.raises(ValueError, match="wavemsa_"):
        benchmark.Spec.parse("resnet18:reference")
    assert benchmark.parse_size("800x1333") == (800, 1333) and benchmark.parse_size("224") == (224, 224)
    proc = subprocess.run([sys.executable, str(REPO / "tools" / "benchmark.py"), "--img-size", "big"],
                          capture_output=True, text=True)
    assert proc.returncode == 2 and "image size must be N or HxW" in proc.stderr


# ---- the parts: runners and precision ---------------------------------------------------------------
def _tiny_classifier() -> torch.nn.Module:
    return torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, stride=2), torch.nn.BatchNorm2d(8), torch.nn.ReLU(),
                               torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(8, 5))


def test_runner_classes_measure_a_tiny_model_interleaved():
    x, target = runners.make_inputs(4, (16, 16), 5)
    infer = runners.InferenceBenchmarkRunner("tiny-infer", _tiny_classifier(), x, target)
    train = runners.TrainBenchmarkRunner("tiny-train", _tiny_classifier(), x, target)
    before = {k: v.clone() for k, v in train.model.state_dict().items()}
    frozen = {k: v.clone() for k, v in infer.model.state_dict().items()}
    results = runners.measure_interleaved([infer, train], warmup=1, repeats=3)
    assert [r.model for r in results] == ["tiny-infer", "tiny-train"]
    assert [r.mode for r in results] == ["infer", "train"] and not infer.model.training and train.model.training
    for r in results:
        assert len(r.times_s) == 3 and all(t > 0 for t in r.times_s)
        assert r.img_size == (16, 16) and r.batch_size == 4 and r.img_per_s == pytest.approx(4 / r.median_s)
    # 4 training steps moved the weights (and BN statistics); inference left its model alone
    assert any(not torch.equal(before[k], v) for k, v in train.model.state_dict().items())
    assert all(torch.equal(frozen[k], v) for k, v in infer.model.state_dict().items())
    assert infer.run(warmup=0, repeats=2) is infer.result and len(infer.result.times_s) == 5


def test_precision_autocast_and_stored_dtype():
    assert benchmark.Precision.parse("float32", amp=True) == benchmark.Precision("float32", False)
    bf16 = benchmark.Precision.parse("bfloat16")
    assert bf16.label == "bfloat16 autocast" and bf16.param_dtype == torch.float32
    pure = benchmark.Precision.parse("bfloat16", amp=False)
    assert pure.label == "bfloat16" and pure.param_dtype == torch.bfloat16
    x, target = runners.make_inputs(2, (16, 16), 5)
    lin = runners.InferenceBenchmarkRunner("a", _tiny_classifier(), x, target, bf16)
    assert lin.output().dtype == torch.bfloat16 and lin.model[0].weight.dtype == torch.float32
    stored = runners.InferenceBenchmarkRunner("b", _tiny_classifier(), x, target, pure)
    assert stored.x.dtype == torch.bfloat16 and stored.model[0].weight.dtype == torch.bfloat16
    args = benchmark.parse_args([])
    assert benchmark.precisions_of(args, torch.device("cpu")) == [benchmark.Precision("float32")]
    assert benchmark.precisions_of(args, torch.device("cuda")) == [benchmark.Precision("float16", True)]


def test_bfloat16_rows_are_compared_with_float32(tmp_path):
    out = tmp_path / "bf16"
    benchmark.main(["--models", "wavemsa_t", "pvt_v2_b0", "--modes", "infer", "--dtype", "float32", "bfloat16",
                    "--img-size", "64", "--batch-size", "2", "--warmup", "0", "--repeats", "1", "--num-classes", "10",
                    "--check", "--out", str(out), "--record", str(tmp_path / "record.json")])
    data = json.loads(out.with_suffix(".json").read_text())
    assert data["meta"]["precisions"] == ["float32", "bfloat16 autocast"]
    assert {(r["model"], r["precision"]) for r in data["results"]} == {
        (m, p) for m in ("wavemsa_t", "pvt_v2_b0") for p in ("float32", "bfloat16 autocast")}
    for model in ("wavemsa_t", "pvt_v2_b0"):
        key = f"{model} bfloat16 autocast vs float32 @ 64x64"
        # really computed in bfloat16 (differs), and still the same function (close at bf16 precision)
        assert 0 < data["output_check"][key] < 0.05 * data["output_scale"][key]
    md = out.with_suffix(".md").read_text()
    assert "| model | mode | size | precision | img/s |" in md
    rows = {(r["model"], r["precision"]): r["img_per_s"] for r in data["results"]}
    table = {tuple(c.strip() for c in line.split("|")[1:-1]) for line in md.splitlines()
             if line.startswith("| wavemsa_t |") or line.startswith("| pvt_v2_b0 |")}
    for model, prec in rows:  # each row's ratio is to the baseline of its own precision
        ratio = f"{rows[model, prec] / rows['pvt_v2_b0', prec]:.2f}x"
        assert any(row[0] == model and row[3] == prec and row[-1] == ratio for row in table), (model, prec, md)
    record = json.loads((tmp_path / "record.json").read_text())
    assert record["name"] == "benchmark" and record["metrics"]["results"] == data["results"]
    assert record["command"] == data["meta"]["command"] and "commit" in record
