"""The HTML report: one self-contained file built from summary.csv, history.csv
and each run's metrics.json, confusion.csv and misclassified.npz.

Figures are matplotlib SVG written into the page (and, for Snakemake's own
report, into files); thumbnails are PNG data URIs. The page loads nothing from
anywhere. Every string from the data passes through Jinja2's autoescaping.
"""

from __future__ import annotations

import csv
import json
import logging
import re
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from cnncompare import figures, findings, tables
from cnncompare.aggregate import read_benchmark, summary_row
from cnncompare.columns import RUN_KEYS
from cnncompare.fileio import atomic_path, read_csv, read_json
from cnncompare.report_files import comparison_figure, run_figure
from cnncompare.stats import describe, group_label, group_runs
from cnncompare.runs import run_label

log = logging.getLogger(__name__)


# --- reading ------------------------------------------------------------------------------


def number(text):
    """A CSV cell as a number when it is one ('' -> None); other text stays text."""
    if text in ("", None):
        return None
    try:
        value = float(text)
    except ValueError:
        return text
    return int(value) if value.is_integer() and re.fullmatch(r"-?\d+", text.strip()) else value


def read_rows(path) -> list[dict]:
    """summary.csv or history.csv with numbers as numbers; the run keys but the seed stay text."""
    return [{k: v if k in RUN_KEYS[:3] else number(v) for k, v in row.items()} for row in read_csv(path)]


def read_confusion(path) -> tuple[list[str], np.ndarray]:
    with open(path, newline="") as fh:
        rows = list(csv.reader(fh))
    if not rows or len(rows[0]) < 2:
        raise ValueError(f"{path}: empty confusion matrix")
    classes = rows[0][1:]
    return classes, np.array([[int(v) for v in row[1:]] for row in rows[1:]], dtype=np.int64)


def read_run_files(metrics: str, confusion: str | None = None, misclassified: str | None = None) -> dict:
    """What the report shows of one run beyond summary.csv: its settings and
    versions (metrics.json), test confusion matrix and gallery images."""
    info = read_json(metrics)
    found = {"label": run_label(info), "info": info, "classes": None, "matrix": None, "gallery": []}
    if confusion:
        found["classes"], found["matrix"] = read_confusion(confusion)
    if misclassified:
        with np.load(misclassified, allow_pickle=False) as npz:
            for image, true, predicted, index in zip(npz["images"], npz["true"], npz["predicted"], npz["index"]):
                names = found["classes"] or []
                found["gallery"].append({
                    "uri": figures.png_data_uri(image),
                    "true": names[true] if true < len(names) else str(true),
                    "predicted": names[predicted] if predicted < len(names) else str(predicted),
                    "index": int(index),
                })
    return found


# --- building the page ----------------------------------------------------------------------


def _curve_series(rows: list[dict], history: list[dict]) -> list[tuple[str, str, list[list[dict]]]]:
    """(data set, label, histories) per model group; several seeds are drawn as mean and band."""
    series = []
    for key, runs in group_runs(rows).items():
        histories = [[h for h in history if run_label(h) == run_label(r)] for r in runs]
        histories = [h for h in histories if h]
        if histories:
            label = group_label(key) if len(runs) > 1 else run_label(runs[0])
            series.append((key[0], label, histories))
    return series


def _tradeoff_points(rows: list[dict], column: str) -> list[dict]:
    """Per model group of completed runs: mean test accuracy against the mean of `column`, with stds."""
    points = []
    several_datasets = len({r["dataset"] for r in rows}) > 1
    for key, runs in group_runs(findings.completed(rows)).items():
        x, y = describe([r.get(column) for r in runs]), describe([r["test_acc"] for r in runs])
        if x["mean"] is not None and y["mean"] is not None:
            label = group_label(key if several_datasets else key[1:])
            points.append({"label": label, "dataset": key[0], "x": x["mean"], "y": y["mean"],
                           "xerr": x["std"], "yerr": y["std"]})
    return points


def _per_run_sections(rows: list[dict], history: list[dict], run_files: dict[str, dict]) -> list[dict]:
    sections = []
    for r in rows:
        label = run_label(r)
        files = run_files.get(label, {})
        own_history = [h for h in history if run_label(h) == label]
        section = {"label": label, "row": r, "status": r.get("status"), "curves": None, "confusion": None,
                   "per_class": None, "gallery": files.get("gallery", [])}
        if own_history:
            section["curves"] = figures.run_panels(own_history, label)
        if files.get("matrix") is not None:
            section["confusion"] = figures.confusion_figure(files["matrix"], files["classes"], f"{label}: test set")
            section["per_class"] = tables.per_class_table(files["matrix"], files["classes"])
        sections.append(section)
    return sections


def _provenance(rows: list[dict], run_files: dict[str, dict], workflow: dict | None) -> dict:
    runs = []
    for r in rows:
        info = run_files.get(run_label(r), {}).get("info", {})
        runs.append({
            "label": run_label(r),
            "device": info.get("device") or r.get("device"),
            "started_at": info.get("started_at"),
            "weights": info.get("weights"),
            "versions": info.get("versions") or {},
            "config": json.dumps(info.get("config"), indent=2, sort_keys=True) if info.get("config") else None,
        })
    versions = sorted({json.dumps(run["versions"], sort_keys=True) for run in runs if run["versions"]})
    workflow = {"commit": None, "uncommitted_changes": False, **(workflow or {})}
    return {"workflow": workflow, "runs": runs, "versions": [json.loads(v) for v in versions]}


def build_page(rows: list[dict], history: list[dict], run_files: dict[str, dict],
               descriptions: dict | None = None, workflow: dict | None = None, notice: str | None = None) -> dict:
    """Everything the template shows, as text, numbers and SVG."""
    several_seeds = tables.has_several_seeds(rows)
    series = _curve_series(rows, history)
    figs = {
        "accuracy": figures.curves_figure(series, "acc", "accuracy"),
        "loss": figures.curves_figure(series, "loss", "cross-entropy loss"),
        "tradeoff_time": figures.tradeoff_figure(_tradeoff_points(rows, "train_seconds"), "training time (s)"),
        "tradeoff_params": figures.tradeoff_figure(_tradeoff_points(rows, "params_trainable"),
                                                   "trainable parameters"),
    }
    models = {}
    for r in rows:
        models.setdefault(r["model"], {
            "model": r["model"], "arch": r.get("arch"), "init": r.get("init"), "image_size": r.get("image_size"),
            "params": f"{tables.fmt(r.get('params_trainable'), thousands=True)} / "
                      f"{tables.fmt(r.get('params_total'), thousands=True)}",
            "description": (descriptions or {}).get(r["model"], ""),
        })
    return {
        "notice": notice,
        "runs": [run_label(r) for r in rows],
        "generated": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "overview": findings.overview(rows),
        "best": findings.best_per_metric(rows),
        "models": list(models.values()),
        "figures": figs,
        "several_seeds": several_seeds,
        "metrics": tables.run_table(rows, tables.METRIC_COLUMNS),
        "costs": tables.run_table(rows, tables.COST_COLUMNS),
        "metrics_grouped": tables.group_table(rows, tables.METRIC_COLUMNS) if several_seeds else None,
        "costs_grouped": tables.group_table(rows, tables.COST_COLUMNS) if several_seeds else None,
        "per_run": _per_run_sections(rows, history, run_files),
        "splits": findings.split_comparison(rows, history),
        "seeds": findings.seed_comparison(rows),
        "not_completed": findings.not_completed(rows),
        "provenance": _provenance(rows, run_files, workflow),
    }


def render_page(page: dict, template_path) -> str:
    template_path = Path(template_path)
    env = Environment(
        loader=FileSystemLoader(template_path.parent),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,  # a name the template misspells fails the job, not the reader
    )
    return env.get_template(template_path.name).render(**page)


def write_figure_files(page: dict, figures_dir) -> list[str]:
    """The page's figures as SVG files, for Snakemake's report (figures of a run that has none are skipped)."""
    written = []

    def write(path, text):
        with atomic_path(path) as tmp:
            tmp.write_text(text)
        written.append(path)

    for name, text in page["figures"].items():
        write(comparison_figure(figures_dir, name), text)
    for section in page["per_run"]:
        for name in ("curves", "confusion"):
            if section[name]:
                write(run_figure(figures_dir, section["row"], name), section[name])
    return written


def render(summary: list[dict], history: list[dict], run_files: list[dict], template_path, out_path,
           figures_dir=None, descriptions=None, workflow=None, notice=None) -> dict:
    """Write report.html (and, given figures_dir, its figures as files); returns the page."""
    by_label = {f["label"]: f for f in run_files}
    page = build_page(summary, history, by_label, descriptions, workflow, notice)
    html = render_page(page, template_path)
    with atomic_path(out_path) as tmp:
        tmp.write_text(html)
    if figures_dir is not None:
        write_figure_files(page, figures_dir)
    log.info("wrote %s (%d bytes, %d runs)", out_path, len(html.encode()), len(summary))
    return page


def render_files(summary_path, history_path, template_path, out_path, *, metrics=(), confusion=(),
                 misclassified=(), figures_dir=None, descriptions=None, workflow=None) -> dict:
    """The rule's entry: the per-run lists are in the same run order."""
    if not len(metrics) == len(confusion) == len(misclassified):
        raise ValueError("one confusion.csv and misclassified.npz per metrics.json is needed")
    run_files = [read_run_files(*paths) for paths in zip(metrics, confusion, misclassified)]
    return render(read_rows(summary_path), read_rows(history_path), run_files, template_path, out_path,
                  figures_dir, descriptions, workflow)


# --- a partial report when jobs failed ------------------------------------------------------------


def failed_run_row(run: dict, run_dir) -> dict:
    """A summary row for a run without metrics.json: 'failed' when its training
    or evaluation started (a log is there), else 'not run'; the last epoch its
    training log reached; the last error line of its logs as a note."""
    run_dir = Path(run_dir)
    row = {**run, "seed": int(run["seed"]), "status": "not run", "epochs_run": 0, "note": ""}
    for name in ("train.log", "evaluate.log"):
        path = run_dir / name
        if not path.is_file():
            continue
        row["status"] = "failed"
        text = path.read_text(errors="replace")
        epochs = re.findall(r"epoch (\d+)/(\d+)", text)
        if name == "train.log" and epochs:
            row["epochs_run"], row["epochs_planned"] = int(epochs[-1][0]), int(epochs[-1][1])
        errors = [line for line in text.splitlines() if re.search(r"\b(CRITICAL|ERROR)\b", line)]
        if errors:
            row["note"] = f"{name}: {errors[-1][:300]}"
    return row


def write_partial_report(planned: list[dict], run_dir_of, template_path, out_path,
                         descriptions=None, workflow=None) -> dict | None:
    """After a failed invocation: a report of the runs that finished, listing
    every planned run that did not with its status and last epoch. Reads only
    the files that exist; None (and nothing written) when no run finished."""
    summary, history, run_files, missing = [], [], [], []
    for run in planned:
        run_dir = Path(run_dir_of(run))
        metrics = run_dir / "metrics.json"
        if not metrics.is_file():
            missing.append(failed_run_row(run, run_dir))
            continue
        info = read_json(metrics)
        benchmarks = {job: read_benchmark(run_dir / f"{job}.benchmark.tsv") for job in ("train", "evaluate")
                      if (run_dir / f"{job}.benchmark.tsv").is_file()}
        summary.append(summary_row(info, benchmarks))
        history += [{**{k: info[k] for k in RUN_KEYS}, **{k: number(v) for k, v in h.items()}}
                    for h in read_csv(run_dir / "history.csv")]
        existing = [str(run_dir / n) if (run_dir / n).is_file() else None
                    for n in ("confusion.csv", "misclassified.npz")]
        run_files.append(read_run_files(str(metrics), *existing))
    if not summary or not missing:
        return None
    notice = (f"Partial report: {len(missing)} of {len(planned)} planned runs have no results (listed under "
              "'Runs that did not complete'). report.html is made again once every run has finished.")
    return render(summary + missing, history, run_files, template_path, out_path, None, descriptions, workflow,
                  notice)
