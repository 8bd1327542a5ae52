"""The HTML report: one self-contained file built from summary.csv and history.csv.

Figures are matplotlib SVG written straight into the page; the page loads
nothing from anywhere. Every string from the data passes through Jinja2's
autoescaping.
"""

from __future__ import annotations

import io
import math
from datetime import datetime, timezone
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from jinja2 import Environment, FileSystemLoader, select_autoescape  # noqa: E402

from cnncompare.columns import RUN_KEYS  # noqa: E402
from cnncompare.fileio import atomic_path, read_csv  # noqa: E402

plt.rcParams.update({"svg.fonttype": "none", "figure.dpi": 100, "font.size": 9})


def run_label(row: dict) -> str:
    return "{dataset}/{split}/{model}/seed{seed}".format(**row)


def _number(text: str):
    if text in ("", None):
        return None
    try:
        value = float(text)
    except ValueError:
        return text
    return int(value) if value.is_integer() and "." not in text and "e" not in text.lower() else value


def _rows(path) -> list[dict]:
    return [{k: _number(v) if k not in RUN_KEYS[:3] else v for k, v in row.items()} for row in read_csv(path)]


def _svg(fig) -> str:
    buffer = io.StringIO()
    # No RDF metadata block: no date (the same data give the same page) and no
    # third-party namespace URIs in a page that must reference nothing outside.
    no_metadata = {"Date": None, "Creator": None, "Format": None, "Type": None}
    fig.savefig(buffer, format="svg", bbox_inches="tight", metadata=no_metadata)
    plt.close(fig)
    text = buffer.getvalue()
    return text[text.index("<svg"):]  # drop the XML prolog and DOCTYPE


def curves_figure(history: list[dict], runs: list[str], metric: str, ylabel: str) -> str:
    """Train (solid) and val (dashed) `metric` per epoch, every run on one axis."""
    fig, ax = plt.subplots(figsize=(7.5, 4))
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, run in enumerate(runs):
        rows = [r for r in history if run_label(r) == run]
        epochs = [r["epoch"] for r in rows]
        color = colors[i % len(colors)]
        ax.plot(epochs, [r[f"train_{metric}"] for r in rows], color=color, linestyle="-", label=f"{run} train")
        ax.plot(epochs, [r[f"val_{metric}"] for r in rows], color=color, linestyle="--", label=f"{run} val")
    ax.set_xlabel("epoch")
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5))
    return _svg(fig)


def _fmt(value, digits: int = 4) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        if not math.isfinite(value):
            return str(value)
        return f"{value:.{digits}f}"
    return str(value)


def _cell(value, digits: int = 4, scale: float = 1.0, unit: str = "") -> dict:
    """A table cell: its text and the exact summary.csv value behind it."""
    shown = value * scale if isinstance(value, (int, float)) and scale != 1.0 else value
    return {"text": _fmt(shown, digits) + (unit if value is not None else ""), "value": "" if value is None else value}


def metric_table(summary: list[dict]) -> dict:
    header = [
        "run", "status", "initialisation", "tested epoch", "train acc", "val acc", "test acc",
        "train loss", "val loss", "test loss",
    ]
    rows = []
    for r in summary:
        rows.append([
            _cell(run_label(r)), _cell(r["status"]), _cell(r["init"]), _cell(r["tested_epoch"]),
            _cell(r["train_acc"]), _cell(r["val_acc"]), _cell(r["test_acc"]),
            _cell(r["train_loss"]), _cell(r["val_loss"]), _cell(r["test_loss"]),
        ])
    return {"header": header, "rows": rows}


def cost_table(summary: list[dict]) -> dict:
    header = [
        "run", "training time (s)", "time per epoch (s)", "images/s", "epochs", "peak RAM (MB)",
        "peak GPU memory (MB)", "checkpoint (MB)", "parameters", "trainable", "frozen", "image size", "device",
    ]
    rows = []
    for r in summary:
        per_epoch = r["train_seconds"] / r["epochs_run"] if r["epochs_run"] else None
        rows.append([
            _cell(run_label(r)), _cell(r["train_seconds"], 1), _cell(per_epoch, 2),
            _cell(r["images_per_second"], 0), _cell(r["epochs_run"]), _cell(r["peak_rss_mb"], 0),
            _cell(r["peak_gpu_mem_mb"], 0), _cell(r["checkpoint_bytes"], 2, scale=1 / 2**20),
            _cell(r["params_total"]), _cell(r["params_trainable"]), _cell(r["params_frozen"]),
            _cell(r["image_size"]), _cell(r["device"]),
        ])
    return {"header": header, "rows": rows}


def overview(summary: list[dict]) -> list[str]:
    """A few sentences written from the data, so the answer comes first."""
    done = [r for r in summary if isinstance(r.get("test_acc"), float) and math.isfinite(r["test_acc"])]
    lines = []
    if done:
        best = max(done, key=lambda r: r["test_acc"])
        lines.append(f"Highest test accuracy: {run_label(best)}, {best['test_acc']:.2%} "
                     f"(weights of epoch {best['tested_epoch']}), after {best['train_seconds']:.0f} s of training.")
        fastest = min(done, key=lambda r: r["train_seconds"])
        if fastest is not best:
            ratio = best["train_seconds"] / max(fastest["train_seconds"], 1e-9)
            lines.append(f"Fastest to train: {run_label(fastest)}, {fastest['train_seconds']:.0f} s "
                         f"({ratio:.1f}x less than the most accurate run), test accuracy {fastest['test_acc']:.2%}.")
        if len({r["params_trainable"] for r in done}) > 1:
            smallest = min(done, key=lambda r: r["params_trainable"])
            lines.append(f"Fewest trainable parameters: {run_label(smallest)}, {smallest['params_trainable']:,}.")
    others = [r for r in summary if r not in done or r["status"] != "completed"]
    for r in others:
        lines.append(f"Run {run_label(r)} ended with status '{r['status']}' after epoch {r['epochs_run']}.")
    return lines


def model_table(summary: list[dict], descriptions: dict[str, str]) -> list[dict]:
    """One row per model in the runs: its arch, how it starts, its size, and the config's description."""
    rows = {}
    for r in summary:
        rows.setdefault(r["model"], {
            "model": r["model"], "arch": r["arch"], "init": r["init"], "image_size": r["image_size"],
            "params": f"{r['params_trainable']:,} / {r['params_total']:,}",
            "description": descriptions.get(r["model"], ""),
        })
    return list(rows.values())


def render(summary_path, history_path, template_path, out_path, descriptions=None) -> None:
    summary, history = _rows(summary_path), _rows(history_path)
    runs = [run_label(r) for r in summary]
    template_path = Path(template_path)
    env = Environment(
        loader=FileSystemLoader(template_path.parent),
        autoescape=select_autoescape(default=True, default_for_string=True),
    )
    figures = {
        "accuracy": curves_figure(history, runs, "acc", "accuracy"),
        "loss": curves_figure(history, runs, "loss", "cross-entropy loss"),
    }
    first = summary[0] if summary else {}
    html = env.get_template(template_path.name).render(
        runs=runs,
        summary=summary,
        overview=overview(summary),
        figures=figures,
        models=model_table(summary, descriptions or {}),
        metrics=metric_table(summary),
        costs=cost_table(summary),
        generated=datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        versions={k.removeprefix("version_"): v for k, v in first.items() if k.startswith("version_")},
    )
    with atomic_path(out_path) as tmp:
        tmp.write_text(html)
