"""tools/benchmark.py runs end to end on tiny settings and writes valid JSON, markdown and PNG charts.

No timing is asserted: only that the measurements exist, are consistent, and that the output check
really compares the fast model with the reference.
"""
import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tools"))

import benchmark  # noqa: E402

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
