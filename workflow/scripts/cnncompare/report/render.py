"""The HTML report: one self-contained file built from summary.csv,
history.csv and each run's metrics.json, confusion.csv and misclassified.npz.

build_page() gathers what the template shows (text, numbers, SVG); render()
writes the page and its figures, each to a temporary file renamed into place
only once everything rendered, so a failure leaves the last good report. The
page loads nothing from anywhere; every string from the data passes through
Jinja2's autoescaping. The partial report after a failed invocation is in
partial_report.py.
"""

from __future__ import annotations

import logging
import shutil
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from cnncompare.fileio import atomic_path
from cnncompare.plan.report_files import RUN_FIGURES, comparison_figure, run_figure, run_figures_dir
from cnncompare.plan.runs import run_label
from cnncompare.report import comparisons, figures, findings, labels, paper_table, ranking, sweep_report, tables, timing
from cnncompare.report.numbers import fmt, pct, share, significant
from cnncompare.report.halving import read_halving
from cnncompare.report.report_data import read_rows, read_run_files
from cnncompare.report.stats import describe
from cnncompare.report.study import Study

log = logging.getLogger(__name__)

GALLERY_SIZE = 8  # misclassified thumbnails per run (or per group of seeds)


# --- figures --------------------------------------------------------------------------------------------


def curve_series(study: Study) -> list[dict]:
    """One series per (data set, split, model); several seeds are drawn as mean and band."""
    series = []
    for group in study.groups:
        histories = [h for h in map(study.history, group.runs) if h]
        if histories:
            label = (run_label(group.runs[0]) if len(group.runs) == 1 else
                     f"{group.name} (mean of {len(histories)} seeds)")
            series.append({"dataset": group.dataset, "split": group.split, "model": group.model, "label": label,
                           "histories": histories})
    return series


def tradeoff_points(study: Study, value, timed: bool = False) -> list[dict]:
    """Per model group of completed runs: mean test accuracy against the mean of `value(row)`, with stds.
    `timed`: the cost is a training time, whose hover says how many of the runs ran on a busy machine."""
    points = []
    for group in study.completed.groups:
        x, y = describe(group.values(value)), group.stat("test_acc")
        if x["mean"] is not None and y["mean"] is not None:
            seeds = f", mean of {len(group.runs)} seeds" if len(group.runs) > 1 else ""
            busy = sum(bool(r.get("busy_machine")) for r in group.runs) if timed else 0
            if busy:
                seeds += f"; {busy} of {len(group.runs)} timed on a busy machine"
            points.append({"dataset": group.dataset, "split": group.split, "model": group.model, "label": group.name,
                           "x": x["mean"], "y": y["mean"], "xerr": x["std"], "yerr": y["std"],
                           "tip": f"{group.name}: {pct(y['mean'], y['std'])} at {significant(x['mean'])}{seeds}"})
    return points


def comparison_figures(study: Study, colors) -> dict[str, str]:
    chance = {d: level for d in study.datasets
              if (level := tables.chance_level([r for r in study.rows if r["dataset"] == d])) is not None}
    series = curve_series(study)
    markers = figures.model_markers(list(colors), colors)
    return {
        "accuracy": figures.curves_figure(series, "acc", colors, chance, "accuracy", markers),
        "loss": figures.curves_figure(series, "loss", colors, None, "cross-entropy loss (log scale)", markers),
        "tradeoff_time": figures.tradeoff_figure(tradeoff_points(study, timing.robust_train_seconds, timed=True),
                                                 "training time (s, median epoch × epochs)", colors, markers),
        "tradeoff_params": figures.tradeoff_figure(tradeoff_points(study, lambda r: r.get("params_trainable")),
                                                   "trainable parameters", colors, markers),
    }


# --- per run, grouped over seeds --------------------------------------------------------------------------


def _gallery(items: list[dict]) -> list[dict]:
    return [{"uri": figures.png_data_uri(g["image"]), "true": g["true"], "predicted": g["predicted"],
             "index": g["index"], "seed": g.get("seed")} for g in items]


def _run_section(row: dict, history: list[dict], files: dict, color: str) -> dict:
    label = run_label(row)
    section = {"label": label, "row": row, "status": row.get("status"), "curves": None, "confusion": None,
               "per_class": None, "data": tables.row_data(row, True)}
    if history:
        section["curves"] = figures.run_panels(history, label, color)
    if files.get("matrix") is not None:
        section["confusion"] = figures.confusion_figure(files["matrix"], files["classes"], f"{label}: test set")
        section["per_class"] = tables.per_class_table(files["matrix"], files["classes"])
    return section


def per_run_groups(study: Study, colors) -> list[dict]:
    """One collapsible group per (dataset, split, model): its runs' curves and
    confusion matrices, and the misclassified images (taken across its seeds in
    turn when it has several). With several seeds the group also shows the
    confusion matrix pooled over them."""
    groups = []
    for group in study.groups:
        key, runs = group.key, group.runs
        files = [study.files(r) for r in runs]
        sections = [_run_section(r, study.history(r), f, colors[r["model"]]) for r, f in zip(runs, files)]
        galleries = [[{**g, "seed": r["seed"]} for g in f.get("gallery", [])] for r, f in zip(runs, files)]
        picked = [g for turn in range(GALLERY_SIZE) for gallery in galleries if turn < len(gallery)
                  for g in [gallery[turn]]][:GALLERY_SIZE]
        done = study.completed.group_of(*key)
        found = {"label": group.name, "runs": sections, "gallery": _gallery(picked),
                 "data": tables.row_data(runs[0]), "n": len(runs), "pooled": None, "pooled_per_class": None,
                 "accuracy": pct(done.accuracy["mean"] if done else None),
                 "statuses": ", ".join(sorted({str(r.get("status")) for r in runs}))}
        matrices = [f["matrix"] for f in files if f.get("matrix") is not None]
        if len(runs) > 1 and matrices and all(m.shape == matrices[0].shape for m in matrices):
            classes = next(f["classes"] for f in files if f.get("classes"))
            pooled = np.sum(matrices, axis=0)
            found["pooled"] = figures.confusion_figure(pooled, classes,
                                                       f"{group.name}: test set, pooled over "
                                                       f"{len(matrices)} seeds")
            found["pooled_per_class"] = tables.per_class_table(pooled, classes)
        groups.append(found)
    return groups


# --- the models and what ran --------------------------------------------------------------------------------


def model_table(study: Study, colors: dict[str, str]) -> list[dict]:
    found = {}
    for r in study.rows:
        if r["model"] in found:
            continue
        block = study.models.get(r["model"]) or {}
        description = block.get("description") or ""
        reference = block.get("reference") or {}
        found[r["model"]] = {
            "model": r["model"], "color": colors[r["model"]], "arch": r.get("arch"), "init": r.get("init"),
            "image_size": r.get("image_size"),
            "params": f"{fmt(r.get('params_trainable'), 'count')} / {fmt(r.get('params_total'), 'count')}",
            "description": description,
            "mismatch": labels.description_mismatch(description, r.get("init")),
            "reference": (f"on {reference['dataset']}: " if reference.get("dataset") and paper_table.reference_text(
                reference) else "") + paper_table.reference_text(reference),
            "reference_source": reference.get("source") or "",
            "data": {"data-model": r["model"]},
        }
    return list(found.values())


def provenance(study: Study, workflow: dict | None) -> dict:
    runs, settings = [], {}
    for r in study.rows:
        info = study.files(r).get("info", {})
        runs.append({
            "label": run_label(r), "device": info.get("device") or r.get("device"),
            "started_at": info.get("started_at"), "weights": info.get("weights"),
            "versions": info.get("versions") or {}, "data": tables.row_data(r, True),
        })
        text, unused = labels.settings_text(info.get("config"))
        if text:
            entry = settings.setdefault((r["model"], text), {"model": r["model"], "text": text, "unused": unused,
                                                            "runs": [], "data": {"data-model": r["model"]}})
            entry["runs"].append(run_label(r))
    versions = []
    for run in runs:
        if run["versions"] and run["versions"] not in versions:
            versions.append(run["versions"])
    workflow = {"commit": None, "uncommitted_changes": False, **(workflow or {})}
    return {"workflow": workflow, "runs": runs, "versions": versions, "settings": list(settings.values())}


# --- the page ---------------------------------------------------------------------------------------------


def build_page(rows: list[dict], history: list[dict], run_files: dict[str, dict], models: dict | None = None,
               workflow: dict | None = None, notice: str | None = None, banner: str | None = None,
               halved: dict | None = None) -> dict:
    """Everything the template shows, as text, numbers and SVG.

    `models`: {name: {"description", "reference", "sweep"}}, the render rule's texts of each model;
    `halved`: the halved sweeps' rungs (halving.read_halving), when the plan halves a sweep."""
    study = Study.build(rows, history, run_files, models)
    rows = study.rows
    colors = figures.model_colors(study.model_names)
    several_seeds = study.several_seeds
    sweeps = sweep_report.sweep_section(study, halved)
    # The overview and the best-model table rank each swept block by its chosen variant only.
    ranked = sweep_report.chosen_rows(study, sweeps)
    return {
        "banner": banner or None,
        "notice": notice,
        "runs": [run_label(r) for r in rows],
        "generated": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "filters": {
            "datasets": study.datasets,
            "splits": study.splits,
            "models": [{"name": m, "color": c} for m, c in colors.items()],
        },
        "overview": findings.overview(ranked, study),
        "results": paper_table.results_table(study),
        "best": findings.best_per_setting(ranked),
        "ranking": ranking.ranking_section(ranked),
        "sweeps": sweeps,
        "datasets": tables.dataset_tables(study),
        "models": model_table(study, colors),
        "figures": comparison_figures(study, colors),
        "several_seeds": several_seeds,
        "metrics": tables.run_table(rows, tables.METRIC_COLUMNS),
        "costs": tables.run_table(rows, tables.COST_COLUMNS),
        "metrics_grouped": tables.group_table(study, tables.METRIC_COLUMNS) if several_seeds else None,
        "costs_grouped": tables.group_table(study, tables.COST_COLUMNS) if several_seeds else None,
        "flagged": [{"run": run_label(r), "flags": "; ".join(r["flags"])} for r in rows if r["flags"]],
        "per_run": per_run_groups(study, colors),
        "splits": findings.split_comparison(study),
        "seeds": findings.seed_comparison(study),
        "comparison_methods": {"alpha": comparisons.ALPHA, "lines": comparisons.METHODS},
        "not_completed": findings.not_completed(study),
        "provenance": provenance(study, workflow),
        "busy_share": share(timing.BUSY_CPU_SHARE),
    }


def render_page(page: dict, template_path) -> str:
    template_path = Path(template_path)
    env = Environment(
        loader=FileSystemLoader(template_path.parent),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,  # a name the template misspells fails the job, not the reader
    )
    return env.get_template(template_path.name).render(**page)


def figure_files(page: dict, figures_dir) -> tuple[dict[str, str], dict[str, dict[str, str]]]:
    """The page's figures for Snakemake's report: ({path: SVG} of the comparison
    figures, {folder: {path inside it: SVG}} of the runs' figures, one folder
    per kind). A run that has no such figure is skipped."""
    files = {comparison_figure(figures_dir, name): text for name, text in page["figures"].items()}
    folders = {run_figures_dir(figures_dir, name): {} for name in RUN_FIGURES}
    for group in page["per_run"]:
        for section in group["runs"]:
            for name in RUN_FIGURES:
                if section[name]:
                    folder = run_figures_dir(figures_dir, name)
                    path = run_figure(figures_dir, section["row"], name)
                    folders[folder][path[len(folder) + 1:]] = section[name]
    return files, folders


def write_files(texts: dict[str, str]) -> None:
    """Each file through a temporary file renamed into place: a reader never sees half a file."""
    for path, text in texts.items():
        with atomic_path(path) as tmp:
            tmp.write_text(text, encoding="utf-8")


def replace_folder(folder, texts: dict[str, str]) -> None:
    """The folder's whole content written beside it, then swapped in: figures of
    runs no longer planned leave with the old folder, and a failure while
    writing leaves the old one as it was."""
    folder = Path(folder)
    fresh, old = folder.with_name(folder.name + ".new"), folder.with_name(folder.name + ".old")
    for leftover in (fresh, old):
        shutil.rmtree(leftover, ignore_errors=True)
    for relative, text in texts.items():
        path = fresh / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    fresh.mkdir(parents=True, exist_ok=True)
    if folder.exists():
        folder.rename(old)
    fresh.rename(folder)
    shutil.rmtree(old, ignore_errors=True)


def render(summary: list[dict], history: list[dict], run_files: list[dict], template_path, out_path,
           figures_dir=None, models=None, workflow=None, notice=None, banner=None, halved=None) -> dict:
    """Write report.html (and, given figures_dir, its figures as files); returns the page.

    The whole page and every figure are rendered in memory first: a template
    error or bad data raises before any file is touched."""
    page = build_page(summary, history, {f["label"]: f for f in run_files}, models, workflow, notice, banner,
                      halved)
    html = render_page(page, template_path)
    if figures_dir is not None:
        files, folders = figure_files(page, figures_dir)
        for folder, texts in folders.items():
            replace_folder(folder, texts)
        write_files(files)
    write_files({str(out_path): html})  # the report last, once its figures are in place
    log.info("wrote %s (%d bytes, %d runs)", out_path, len(html.encode()), len(summary))
    return page


def render_files(summary_path, history_path, template_path, out_path, *, metrics=(), confusion=(),
                 misclassified=(), predictions=None, figures_dir=None, models=None, workflow=None,
                 banner=None, halving=None) -> dict:
    """The rule's entry: the per-run lists are in the same run order (predictions: None reads none;
    halving: the path of sweeps/halving.json when the plan halves a sweep)."""
    predictions = [None] * len(metrics) if predictions is None else list(predictions)
    if not len(metrics) == len(confusion) == len(misclassified) == len(predictions):
        raise ValueError("one confusion.csv, misclassified.npz and predictions.csv per metrics.json is needed")
    run_files = [read_run_files(*paths) for paths in zip(metrics, confusion, misclassified, predictions)]
    halved = read_halving(halving) if halving else None
    return render(read_rows(summary_path), read_rows(history_path), run_files, template_path, out_path,
                  figures_dir, models, workflow, banner=banner, halved=halved)
