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

from cnncompare.report import figures, findings, labels, paper_table, sweep_report, tables, timing
from cnncompare.fileio import atomic_path
from cnncompare.report.numbers import fmt, pct, share
from cnncompare.report.report_data import read_rows, read_run_files
from cnncompare.plan.report_files import RUN_FIGURES, comparison_figure, run_figure, run_figures_dir
from cnncompare.report.stats import describe, group_label, group_runs
from cnncompare.plan.runs import run_label

log = logging.getLogger(__name__)

GALLERY_SIZE = 8  # misclassified thumbnails per run (or per group of seeds)


def in_reading_order(rows: list[dict]) -> list[dict]:
    """Data sets and models in their first-seen (config) order; three splits before two, the headline first."""
    datasets = list(dict.fromkeys(r["dataset"] for r in rows))
    models = list(dict.fromkeys(r["model"] for r in rows))
    return sorted(rows, key=lambda r: (datasets.index(r["dataset"]), r["split"] != "three", models.index(r["model"]),
                                       int(r["seed"])))


# --- facts of each run the tables add to summary.csv's -----------------------------------------------


def with_run_facts(rows: list[dict], history_of: dict[str, list[dict]], run_files: dict[str, dict]) -> list[dict]:
    """Each row with its per-epoch timing (median, spread), busy-machine and
    GPU-expected-CPU-found flags, and class count."""
    found = []
    for row in rows:
        label = run_label(row)
        info = run_files.get(label, {}).get("info") or {}
        epochs = timing.epoch_timing(history_of.get(label, []))
        flags = []
        threads = info.get("threads")
        busy = timing.busy_machine(row, threads)
        if busy:
            flags.append(f"busy machine: the training job got {share(timing.cpu_share(row, threads))} of the "
                         f"{max(1, threads or 1)} core{'s' if (threads or 1) > 1 else ''} it trained with")
        gpu_on_cpu = timing.gpu_expected_cpu_found(row, info)
        if gpu_on_cpu:
            flags.append("GPU requested, ran on the CPU")
        found.append({**row, "epoch_median_seconds": epochs["median"], "epoch_spread_seconds": epochs["spread"],
                      "busy_machine": busy, "gpu_expected_cpu_found": gpu_on_cpu, "flags": flags,
                      "num_classes": info.get("num_classes") or row.get("num_classes")})
    return found


# --- figures --------------------------------------------------------------------------------------------


def curve_series(rows: list[dict], history_of: dict[str, list[dict]]) -> list[dict]:
    """One series per (data set, split, model); several seeds are drawn as mean and band."""
    series = []
    for key, runs in group_runs(rows).items():
        histories = [history_of[run_label(r)] for r in runs if history_of.get(run_label(r))]
        if histories:
            label = run_label(runs[0]) if len(runs) == 1 else f"{group_label(key)} (mean of {len(histories)} seeds)"
            series.append({"dataset": key[0], "split": key[1], "model": key[2], "label": label,
                           "histories": histories})
    return series


def robust_train_seconds(row: dict):
    """Training time from the median epoch (times the epochs run), so one slow epoch on a busy machine does not count."""
    median, epochs = row.get("epoch_median_seconds"), row.get("epochs_run")
    return median * epochs if median is not None and epochs else row.get("train_seconds")


def tradeoff_points(rows: list[dict], value) -> list[dict]:
    """Per model group of completed runs: mean test accuracy against the mean of `value(row)`, with stds."""
    points = []
    for key, runs in group_runs(findings.completed(rows)).items():
        x, y = describe([value(r) for r in runs]), describe([r["test_acc"] for r in runs])
        if x["mean"] is not None and y["mean"] is not None:
            seeds = f", mean of {len(runs)} seeds" if len(runs) > 1 else ""
            points.append({"dataset": key[0], "split": key[1], "model": key[2], "label": group_label(key),
                           "x": x["mean"], "y": y["mean"], "xerr": x["std"], "yerr": y["std"],
                           "tip": f"{group_label(key)}: {pct(y['mean'], y['std'])} at "
                                  f"{x['mean']:,.4g}{seeds}"})
    return points


def comparison_figures(rows, history_of, colors) -> dict[str, str]:
    chance = {r["dataset"]: 1 / r["num_classes"] for r in rows if r.get("num_classes")}
    series = curve_series(rows, history_of)
    return {
        "accuracy": figures.curves_figure(series, "acc", colors, chance, "accuracy"),
        "loss": figures.curves_figure(series, "loss", colors, None, "cross-entropy loss (log scale)"),
        "tradeoff_time": figures.tradeoff_figure(tradeoff_points(rows, robust_train_seconds),
                                                 "training time (s, median epoch × epochs)", colors),
        "tradeoff_params": figures.tradeoff_figure(tradeoff_points(rows, lambda r: r.get("params_trainable")),
                                                   "trainable parameters", colors),
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


def per_run_groups(rows, history_of, run_files, colors) -> list[dict]:
    """One collapsible group per (dataset, split, model): its runs' curves and
    confusion matrices, and the misclassified images (taken across its seeds in
    turn when it has several). With several seeds the group also shows the
    confusion matrix pooled over them."""
    groups = []
    for key, runs in group_runs(rows).items():
        files = [run_files.get(run_label(r), {}) for r in runs]
        sections = [_run_section(r, history_of.get(run_label(r), []), f, colors[r["model"]])
                    for r, f in zip(runs, files)]
        galleries = [[{**g, "seed": r["seed"]} for g in f.get("gallery", [])] for r, f in zip(runs, files)]
        picked = [g for turn in range(GALLERY_SIZE) for gallery in galleries if turn < len(gallery)
                  for g in [gallery[turn]]][:GALLERY_SIZE]
        group = {"label": group_label(key), "runs": sections, "gallery": _gallery(picked),
                 "data": tables.row_data(runs[0]), "n": len(runs), "pooled": None, "pooled_per_class": None,
                 "accuracy": pct(describe([r.get("test_acc") for r in findings.completed(runs)])["mean"]),
                 "statuses": ", ".join(sorted({str(r.get("status")) for r in runs}))}
        matrices = [f["matrix"] for f in files if f.get("matrix") is not None]
        if len(runs) > 1 and matrices and all(m.shape == matrices[0].shape for m in matrices):
            classes = next(f["classes"] for f in files if f.get("classes"))
            pooled = np.sum(matrices, axis=0)
            group["pooled"] = figures.confusion_figure(pooled, classes,
                                                       f"{group_label(key)}: test set, pooled over "
                                                       f"{len(matrices)} seeds")
            group["pooled_per_class"] = tables.per_class_table(pooled, classes)
        groups.append(group)
    return groups


# --- the models and what ran --------------------------------------------------------------------------------


def model_table(rows: list[dict], models: dict[str, dict], colors: dict[str, str]) -> list[dict]:
    found = {}
    for r in rows:
        if r["model"] in found:
            continue
        block = models.get(r["model"]) or {}
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


def provenance(rows: list[dict], run_files: dict[str, dict], workflow: dict | None) -> dict:
    runs, settings = [], {}
    for r in rows:
        info = run_files.get(run_label(r), {}).get("info", {})
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
               workflow: dict | None = None, notice: str | None = None, banner: str | None = None) -> dict:
    """Everything the template shows, as text, numbers and SVG.

    `models`: {name: {"description", "reference"}} from the config."""
    models = models or {}
    rows = in_reading_order(rows)
    history_of: dict[str, list[dict]] = {}
    for h in history:
        history_of.setdefault(run_label(h), []).append(h)
    rows = with_run_facts(rows, history_of, run_files)
    colors = figures.model_colors([r["model"] for r in rows])
    several_seeds = tables.has_several_seeds(rows)
    results = paper_table.results_table(rows, {m: (b or {}).get("reference") or {} for m, b in models.items()})
    sweeps = sweep_report.sweep_section(rows, models)
    # The overview and the best-model table rank each swept block by its chosen variant only.
    ranked = sweep_report.chosen_rows(rows, sweeps)
    return {
        "banner": banner or None,
        "notice": notice,
        "runs": [run_label(r) for r in rows],
        "generated": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "filters": {
            "datasets": list(dict.fromkeys(r["dataset"] for r in rows)),
            "splits": [s for s in ("three", "two") if any(r["split"] == s for r in rows)],
            "models": [{"name": m, "color": c} for m, c in colors.items()],
        },
        "overview": findings.overview(ranked),
        "results": results,
        "best": findings.best_per_setting(ranked),
        "sweeps": sweeps,
        "datasets": tables.dataset_tables(rows, run_files),
        "models": model_table(rows, models, colors),
        "figures": comparison_figures(rows, history_of, colors),
        "several_seeds": several_seeds,
        "metrics": tables.run_table(rows, tables.METRIC_COLUMNS),
        "costs": tables.run_table(rows, tables.COST_COLUMNS),
        "metrics_grouped": tables.group_table(rows, tables.METRIC_COLUMNS) if several_seeds else None,
        "costs_grouped": tables.group_table(rows, tables.COST_COLUMNS) if several_seeds else None,
        "flagged": [{"run": run_label(r), "flags": "; ".join(r["flags"])} for r in rows if r["flags"]],
        "per_run": per_run_groups(rows, history_of, run_files, colors),
        "splits": findings.split_comparison(rows, history),
        "seeds": findings.seed_comparison(rows),
        "not_completed": findings.not_completed(rows),
        "provenance": provenance(rows, run_files, workflow),
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
           figures_dir=None, models=None, workflow=None, notice=None, banner=None) -> dict:
    """Write report.html (and, given figures_dir, its figures as files); returns the page.

    The whole page and every figure are rendered in memory first: a template
    error or bad data raises before any file is touched."""
    page = build_page(summary, history, {f["label"]: f for f in run_files}, models, workflow, notice, banner)
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
                 misclassified=(), figures_dir=None, models=None, workflow=None, banner=None) -> dict:
    """The rule's entry: the per-run lists are in the same run order."""
    if not len(metrics) == len(confusion) == len(misclassified):
        raise ValueError("one confusion.csv and misclassified.npz per metrics.json is needed")
    run_files = [read_run_files(*paths) for paths in zip(metrics, confusion, misclassified)]
    return render(read_rows(summary_path), read_rows(history_path), run_files, template_path, out_path,
                  figures_dir, models, workflow, banner=banner)
