"""Reports of a benchmark run: a markdown table, PNG charts, the JSON file and the run record."""
from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

__all__ = ["markdown", "plot", "write_reports", "write_text_atomic"]


def _fmt_size(size: Sequence[int]) -> str:
    return f"{size[0]}x{size[1]}"


def _precisions(results: Sequence[dict]) -> list[str]:
    return list(dict.fromkeys(r.get("precision", "float32") for r in results))


def describe(meta: dict) -> str:
    """One line: machine, threads, batch, precision and options of a run."""
    return (f"{meta['device_name']} ({meta['device']}), {meta['threads']} threads, batch {meta['batch_size']}, "
            f"{', '.join(meta['precisions'])}"
            f"{', channels_last' if meta['channels_last'] else ''}"
            f"{', torch.compile (' + meta['compile_backend'] + ')' if meta['compile'] else ''}"
            f"{', malloc keeps freed memory' if meta.get('malloc') == 'keep' else ''}, "
            f"median of {meta['repeats']} interleaved repeats; torch {meta['torch']}, timm {meta['timm']}"
            f"{'; load average ' + ', '.join(map(str, meta['load_average'])) if meta.get('load_average') else ''}")


def markdown(report: dict, baseline: str | None) -> str:
    """A markdown table: one row per (model, mode, size[, precision]): throughput, latency, peak memory and the
    ratio to ``baseline`` in the same mode, size and precision; then the output checks."""
    meta, results = report["meta"], report["results"]
    show_precision = _precisions(results) != ["float32"]
    base = {(r["mode"], tuple(r["img_size"]), r.get("precision")): r["img_per_s"]
            for r in results if r["model"] == baseline}
    prec_head, prec_rule = (" precision |", "---|") if show_precision else ("", "")
    lines = [f"`{meta['command']}`", "", describe(meta), "",
             f"| model | mode | size |{prec_head} img/s | latency (ms) | peak mem (MiB) | vs {baseline or '-'} |",
             f"|---|---|---|{prec_rule}---:|---:|---:|---:|"]
    for r in results:
        ref = base.get((r["mode"], tuple(r["img_size"]), r.get("precision")))
        ratio = f"{r['img_per_s'] / ref:.2f}x" if ref else "-"
        mem = f"{r['peak_mem_mb']:.0f}" if r["peak_mem_mb"] is not None else "-"
        prec = f" {r.get('precision', 'float32')} |" if show_precision else ""
        lines.append(f"| {r['model']} | {r['mode']} | {_fmt_size(r['img_size'])} |{prec} {r['img_per_s']:.2f} | "
                     f"{r['latency_ms']:.0f} | {mem} | {ratio} |")
    if report.get("output_check"):
        scales = report.get("output_scale", {})
        lines += ["", "| outputs compared at inference (same weights, same input) | max abs difference | "
                      "max abs output |", "|---|---:|---:|"]
        lines += [f"| {k} | {v:.2e} | {scales[k]:.2e} |" if k in scales else f"| {k} | {v:.2e} | - |"
                  for k, v in report["output_check"].items()]
    compiled = [r for r in results if r.get("compile")]
    if compiled:
        lines += ["", "| compiled | mode | precision | graphs | graph breaks | first step (s, compiling) | "
                      "recompilations after it |", "|---|---|---|---:|---:|---:|---:|"]
        for r in compiled:
            c = r["compile"]
            lines.append(f"| {r['model']} | {r['mode']} | {r['precision']} | {c['graphs']} | {c['graph_breaks']} | "
                         f"{c['first_step_s']:.1f} | {c['recompiles']} |")
    return "\n".join(lines) + "\n"


def plot(report: dict, out_dir: Path, prefix: str) -> list[Path]:
    """Bar charts of throughput per mode (one size) or time/memory versus resolution (several sizes)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    results, meta = report["results"], report["meta"]
    models = list(dict.fromkeys(r["model"] for r in results))
    sizes = list(dict.fromkeys(tuple(r["img_size"]) for r in results))
    modes = list(dict.fromkeys(r["mode"] for r in results))
    precisions = _precisions(results)
    subtitle = (f"{meta['device_name'][:40]}, {meta['threads']} threads, batch {meta['batch_size']}, "
                f"{', '.join(meta['precisions'])}")
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    get = {(r["model"], r["mode"], tuple(r["img_size"]), r.get("precision", "float32")): r for r in results}
    if len(sizes) == 1:
        fig, axes = plt.subplots(1, len(modes), figsize=(5 * len(modes) + len(precisions) - 1, 4), squeeze=False)
        width = 0.8 / len(precisions)
        for ax, mode in zip(axes[0], modes):
            for j, prec in enumerate(precisions):
                keys = [(m, mode, sizes[0], prec) for m in models]
                vals = [get[k]["img_per_s"] if k in get else 0 for k in keys]
                xs = [i + (j - (len(precisions) - 1) / 2) * width for i in range(len(models))]
                colors = [f"C{i}" for i in range(len(models))] if len(precisions) == 1 else f"C{j}"
                bars = ax.bar(xs, vals, width, color=colors, label=prec if len(precisions) > 1 else None)
                ax.bar_label(bars, fmt="%.2f", fontsize=7)
            ax.set_xticks(range(len(models)), models, rotation=20, ha="right")
            ax.set_ylabel("images / s (higher is better)")
            ax.set_title(f"{mode}, {_fmt_size(sizes[0])}")
            if len(precisions) > 1:
                ax.legend(fontsize=8)
        fig.suptitle(subtitle, fontsize=9)
        fig.tight_layout()
        paths.append(out_dir / f"{prefix}_throughput.png")
        fig.savefig(paths[-1], dpi=120)
        plt.close(fig)
        return paths
    pixels = [h * w for h, w in sizes]
    for mode in modes:
        fig, axes = plt.subplots(1, 2, figsize=(10, 4))
        for i, (m, prec) in enumerate((m, p) for p in precisions for m in models):
            pts = [(p, get[(m, mode, s, prec)]) for p, s in zip(pixels, sizes) if (m, mode, s, prec) in get]
            label = m if len(precisions) == 1 else f"{m} {prec}"
            axes[0].plot([p for p, _ in pts], [r["latency_ms"] / r["batch_size"] for _, r in pts], "o-",
                         color=f"C{i}", label=label)
            mem = [(p, r["peak_mem_mb"]) for p, r in pts if r["peak_mem_mb"] is not None]
            if mem:
                axes[1].plot(*zip(*mem), "o-", color=f"C{i}", label=label)
        for ax, ylabel in zip(axes, ("ms per image", "peak memory (MiB)")):
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.set_xticks(pixels, [_fmt_size(s) for s in sizes], rotation=20)
            ax.minorticks_off()
            ax.set_xlabel("input size")
            ax.set_ylabel(ylabel)
            ax.grid(alpha=0.3)
            ax.legend(fontsize=8)
        fig.suptitle(f"{mode}{' (backbone only)' if meta['backbone_only'] else ''} - {subtitle}", fontsize=9)
        fig.tight_layout()
        paths.append(out_dir / f"{prefix}_scaling_{mode}.png")
        fig.savefig(paths[-1], dpi=120)
        plt.close(fig)
    return paths


def write_text_atomic(path: Path, text: str) -> Path:
    """Write ``text`` to ``path`` through a temporary file and ``os.replace``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)
    return path


def write_reports(report: dict, out: Path, markdown_text: str, plot_dir: Path | None = None,
                  prefix: str = "benchmark", record: Path | None = None, record_name: str = "benchmark"
                  ) -> list[Path]:
    """Write ``out``.json, ``out``.md, with ``plot_dir`` the PNG charts, and with ``record`` a run record
    (:mod:`wavemsa.records`) whose metrics are the report."""
    written = [write_text_atomic(out.with_suffix(".json"), json.dumps(report, indent=2) + "\n"),
               write_text_atomic(out.with_suffix(".md"), markdown_text)]
    if plot_dir is not None:
        written += plot(report, plot_dir, prefix)
    if record is not None:
        from wavemsa.records import write_record

        written.append(write_record(record, report, name=record_name, command=report["meta"]["command"]))
    return written
