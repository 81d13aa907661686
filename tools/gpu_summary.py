#!/usr/bin/env python
"""Summarise a ``tools/gpu_check.sh`` folder: the issue-15 ratios, the checks, the compile counts, the phases.

Reads every benchmark report (``*.json`` with ``meta`` and ``results``), the equivalence reports, the profile
and ``phases.tsv`` in FOLDER; writes FOLDER/summary.md and FOLDER/summary.json::

    python tools/gpu_summary.py output/gpu_check --candidate wavemsa_s --baseline pvt_v2_b2

The ratio table has one row per (batch, precision, mode): candidate / baseline throughput measured side by side
in one process, eager and compiled (each model in the same mode in a ratio), and the issue's targets (training
>= 0.9x, inference >= 1.0x): a row meets its target when either mode's ratio does.
"""
from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from wavemsa.cli import existing_dir  # noqa: E402
from wavemsa.errors import run_main  # noqa: E402

TARGETS = {"train": 0.9, "infer": 1.0}


def _load(folder: Path) -> dict[str, dict]:
    reports = {}
    for path in sorted(folder.glob("*.json")):
        if path.name.endswith(".record.json") or path.name in ("summary.json", "env.json"):
            continue
        try:
            reports[path.stem] = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as err:
            print(f"[gpu_summary] skipping {path}: {err}", file=sys.stderr)
    return reports


def ratios(reports: dict[str, dict], candidate: str, baseline: str) -> list[dict]:
    """Per (batch, precision, mode): candidate/baseline img/s for eager and compiled runs, other models vs baseline."""
    rows: dict[tuple, dict] = {}
    for name, rep in reports.items():
        if "results" not in rep:
            continue
        kind = "compiled" if rep["meta"].get("compile") else "eager"
        speed = {(r["model"], r["mode"], r.get("precision", "float32")): r["img_per_s"] for r in rep["results"]}
        for (model, mode, prec), ips in speed.items():
            base = speed.get((baseline, mode, prec))
            if base is None or model == baseline:
                continue
            key = (rep["meta"]["batch_size"], prec, mode)
            row = rows.setdefault(key, dict(batch_size=key[0], precision=prec, mode=mode, target=TARGETS[mode]))
            label = "" if model == candidate else f"{model} "
            row[f"{label}{kind}"] = ips / base
            row.setdefault("sources", []).append(name)
    out = []
    for key in sorted(rows):
        row = rows[key]
        best = max((row[k] for k in ("eager", "compiled") if k in row), default=None)
        row["met"] = None if best is None else bool(best >= row["target"])
        out.append(row)
    return out


def summarize(folder: Path, candidate: str, baseline: str) -> dict:
    reports = _load(folder)
    phases = []
    tsv = folder / "phases.tsv"
    if tsv.exists():
        for line in tsv.read_text().splitlines()[1:]:
            name, status, seconds = line.split("\t")
            phases.append(dict(phase=name, status=status, seconds=int(seconds)))
    checks = {name: dict(ok=rep["ok"], failed=[e["name"] for e in rep["entries"] if not e["ok"]],
                         worst=max(rep["entries"], key=lambda e: e["rel"] / e["tol"])["name"])
              for name, rep in reports.items() if "entries" in rep}
    output_checks = {f"{name}: {k}": v for name, rep in reports.items() for k, v in rep.get("output_check", {}).items()}
    dynamo = {f"{name}: {r['model']} {r['mode']} {r['precision']}": r["compile"]
              for name, rep in reports.items() for r in rep.get("results", []) if r.get("compile")}
    profiles = {name: [dict(model=p["model"], mode=p["mode"], step_ms=p["step_ms"],
                            parts={k: v["ms"] for k, v in p["parts"].items()}) for p in rep["profiles"]]
                for name, rep in reports.items() if "profiles" in rep}
    return dict(candidate=candidate, baseline=baseline, ratios=ratios(reports, candidate, baseline), phases=phases,
                equivalence=checks, output_checks=output_checks, dynamo=dynamo, profiles=profiles)


def markdown(s: dict) -> str:
    lines = [f"# GPU check: {s['candidate']} vs {s['baseline']}", "",
             "| batch | precision | mode | eager | compiled | target | met |", "|---:|---|---|---:|---:|---:|---|"]
    for r in s["ratios"]:
        cell = {k: f"{r[k]:.2f}x" if k in r else "-" for k in ("eager", "compiled")}
        lines.append(f"| {r['batch_size']} | {r['precision']} | {r['mode']} | {cell['eager']} | {cell['compiled']} | "
                     f">= {r['target']}x | {'yes' if r['met'] else 'no' if r['met'] is not None else '-'} |")
    others = sorted({k for r in s["ratios"] for k in r if k.endswith((" eager", " compiled"))})
    if others:
        lines += ["", f"Other models vs {s['baseline']}:", "", "| batch | precision | mode | model | ratio |",
                  "|---:|---|---|---|---:|"]
        lines += [f"| {r['batch_size']} | {r['precision']} | {r['mode']} | {k} | {r[k]:.2f}x |"
                  for r in s["ratios"] for k in others if k in r]
    lines += ["", "| equivalence check | ok | failed | closest to its tolerance |", "|---|---|---|---|"]
    lines += [f"| {k} | {v['ok']} | {', '.join(v['failed']) or '-'} | {v['worst']} |"
              for k, v in s["equivalence"].items()]
    if s["output_checks"]:
        lines += ["", "| benchmark output check | max abs difference |", "|---|---:|"]
        lines += [f"| {k} | {v:.2e} |" for k, v in s["output_checks"].items()]
    if s["dynamo"]:
        lines += ["", "| compiled row | graphs | graph breaks | first step (s) | recompilations |",
                  "|---|---:|---:|---:|---:|"]
        lines += [f"| {k} | {v['graphs']} | {v['graph_breaks']} | {v['first_step_s']:.1f} | {v['recompiles']} |"
                  for k, v in s["dynamo"].items()]
    lines += ["", "| phase | status | seconds |", "|---|---|---:|"]
    lines += [f"| {p['phase']} | {p['status']} | {p['seconds']} |" for p in s["phases"]]
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> dict:
    p = argparse.ArgumentParser(prog="gpu_summary.py", description=__doc__.split("\n\n")[0])
    p.add_argument("folder", type=existing_dir)
    p.add_argument("--candidate", default="wavemsa_s")
    p.add_argument("--baseline", default="pvt_v2_b2")
    args = p.parse_args(argv)
    folder = Path(args.folder)
    summary = summarize(folder, args.candidate, args.baseline)
    (folder / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    text = markdown(summary)
    (folder / "summary.md").write_text(text)
    print(text)
    return summary


if __name__ == "__main__":
    sys.exit(run_main(main, prog="gpu_summary.py"))
