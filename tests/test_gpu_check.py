"""tools/gpu_check.sh --smoke: the prepared GPU run goes through every phase on the CPU (tiny models) and leaves every
JSON, run record and the summary in one folder. Also the equivalence check's verdicts can fail."""
import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
import torch
from torch import nn

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tools"))

from benchmarking.checks import _entry, _grad_entries  # noqa: E402


@pytest.mark.slow
def test_gpu_check_smoke_runs_every_phase_on_the_cpu(tmp_path):
    out, back = tmp_path / "gpu_check", tmp_path / "back"
    env = dict(os.environ, GPU_CHECK_DIR=str(out), OUT=str(back), PYTHON=sys.executable)
    proc = subprocess.run(["bash", str(REPO / "tools" / "gpu_check.sh"), "--smoke"], capture_output=True, text=True,
                          env=env, timeout=1800)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    # what the device tool brings back (a few files): the whole folder packed, and the summary beside it
    assert sorted(p.name for p in back.iterdir()) == ["gpu_check.tar.gz", "phases.tsv", "summary.json", "summary.md"]
    with tarfile.open(back / "gpu_check.tar.gz") as tar:
        packed = set(tar.getnames())
    assert {f"gpu_check/{p.relative_to(out)}" for p in out.rglob("*") if p.is_file()} <= packed
    phases = [line.split("\t") for line in (out / "phases.tsv").read_text().splitlines()[1:]]
    assert [p[0] for p in phases] == ["equivalence", "eager_b2", "compiled_bfloat16_b2", "profile",
                                      "equivalence_compiled", "compiled_others"]
    assert all(p[1] == "ok" for p in phases), phases
    for name in ("equivalence", "equivalence_compiled"):
        eq = json.loads((out / f"{name}.json").read_text())
        assert eq["ok"] and eq["device"] == "cpu" and eq["entries"]
        assert json.loads((out / f"{name}.record.json").read_text())["metrics"]["entries"] == eq["entries"]
    names = {e["name"].split(":")[0] + ":" + e["name"].split(":")[1] for e in
             json.loads((out / "equivalence.json").read_text())["entries"]}
    assert {"train: worst gradient, library vs reference", "eval: fused vs unfused library"} <= names
    eager = json.loads((out / "eager_b2.json").read_text())
    assert {(r["model"], r["mode"], r["precision"]) for r in eager["results"]} == {
        (m, mode, "bfloat16 autocast") for m in ("wavemsa_t", "pvt_v2_b0", "wavemsa_t:reference")
        for mode in ("infer", "train")}
    assert eager["output_check"]["wavemsa_t vs wavemsa_t:reference @ 64x64"] < 1e-4
    compiled = json.loads((out / "compiled_bfloat16_b2.json").read_text())
    assert compiled["meta"]["compile"] and compiled["dynamo"]["unique_graphs"] >= 1
    stats = {(r["model"], r["mode"]): r["compile"] for r in compiled["results"]}
    assert stats[("wavemsa_t", "train")]["graphs"] == 1 and stats[("wavemsa_t", "train")]["graph_breaks"] == 0
    assert all(s["graphs"] >= 1 and s["recompiles"] == 0 for s in stats.values())
    diffs = {k: v for k, v in compiled["output_check"].items() if "compiled vs eager" in k}
    # bfloat16 keeps 8 significant bits: compiled and eager may round differently (the eager CPU fast path
    # and the compiled plain code order their sums differently); allow 4 bf16 ulps of the output's scale
    assert len(diffs) == 2 and all(v <= 2 ** -6 for v in diffs.values()), diffs
    others = json.loads((out / "compiled_others.json").read_text())
    assert {(r["model"], r["mode"]) for r in others["results"]} == {("wavemsa_t:reference", "infer"),
                                                                     ("pvt_v2_b0", "infer")}
    profile = json.loads((out / "profile_b2.json").read_text())
    assert {(p["model"], p["mode"]) for p in profile["profiles"]} == {
        (m, mode) for m in ("wavemsa_t", "pvt_v2_b0") for mode in ("infer", "train")}
    summary = json.loads((out / "summary.json").read_text())
    assert {(r["batch_size"], r["mode"]) for r in summary["ratios"]} == {(2, "infer"), (2, "train")}
    assert all("eager" in r and "compiled" in r for r in summary["ratios"])
    assert set(summary["equivalence"]) == {"equivalence", "equivalence_compiled"}
    assert "| 2 | bfloat16 autocast | train |" in (out / "summary.md").read_text()
    assert (out / "env.json").exists() and (out / "logs" / "profile.log").exists()


def test_gpu_check_skips_what_does_not_fit_the_budget(tmp_path):
    """A budget smaller than every phase's estimate skips them all and still writes the summary."""
    out = tmp_path / "gpu_check"
    env = dict(os.environ, GPU_CHECK_DIR=str(out), PYTHON=sys.executable, GPU_CHECK_BUDGET_S="5")
    env.pop("OUT", None)
    proc = subprocess.run(["bash", str(REPO / "tools" / "gpu_check.sh")], capture_output=True, text=True, env=env,
                          timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    rows = [line.split("\t") for line in (out / "phases.tsv").read_text().splitlines()[1:]]
    assert rows and all(r[1] == "skipped (budget)" for r in rows)
    assert "eager_b64" in [r[0] for r in rows] and (out / "summary.md").exists()


def test_equivalence_verdicts_can_fail():
    a, b = nn.Linear(4, 3), nn.Linear(4, 3)
    b.load_state_dict(a.state_dict())
    assert _entry("same", 1e-7, 1.0, 1e-4)["ok"] and not _entry("differs", 1e-3, 1.0, 1e-4)["ok"]
    for model in (a, b):
        model(torch.ones(2, 4)).sum().backward()
    assert _grad_entries("grads", a, b, 1e-3)[0]["ok"]
    with torch.no_grad():
        b.bias.grad += 0.5
    (worst,) = _grad_entries("grads", a, b, 1e-3)
    assert not worst["ok"] and worst["name"] == "grads: bias"
