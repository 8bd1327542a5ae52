"""The report's tables, built from summary rows.

One unit per quantity, everywhere (numbers.py writes each kind): accuracy in %
with one decimal, loss with three, times in seconds (one image's latency in ms),
memory in MB, multiply-adds in GMACs, integers without decimals. Every cell
keeps the exact value behind its text: `value` (what the table sorts by, and
the hover title) and, for a cell that shows a summary.csv column as it is,
`column`, so the page can be checked against summary.csv cell by cell. Over
several seeds a row stands for a (dataset, split, model) group and shows mean
± sample standard deviation, with n; a column whose runs all agree shows the
value once. Each row carries its data set, split and model for the page's filters.
"""

from __future__ import annotations

from dataclasses import dataclass

from cnncompare.columns import SUMMARY_COLUMNS, Column, column
from cnncompare.plan.runs import run_label
from cnncompare.report.numbers import fmt, fmt_mean, fmt_spread, pct
from cnncompare.protocols import protocol
from cnncompare.report.stats import describe, is_number
from cnncompare.report.study import Study


def row_data(row: dict, seed: bool = False) -> dict:
    """The data attributes the page filters a row by."""
    found = {"data-dataset": row["dataset"], "data-split": row["split"], "data-model": row["model"]}
    if seed:
        found["data-seed"] = row["seed"]
    return found


@dataclass(frozen=True)
class Shown:
    """A column of cnncompare/columns.py as a report table shows it: under its own
    header, in a group of columns, in the display kind its type and unit give."""

    header: str
    column: Column
    group: str = ""  # the header spanning a run of columns (time, memory, size)
    busy: str = ""  # the run fact (study.with_run_facts) that marks its values as timed on a busy machine

    @property
    def kind(self) -> str:
        return self.column.kind

    def value(self, row: dict):
        value = row.get(self.column.name)
        return ("; ".join(value) or None) if isinstance(value, list) else value  # flags: a list of notes

    def source(self) -> str | None:
        """The summary.csv column the cells show as they are; None for one the report adds."""
        return self.column.name if self.column.name in SUMMARY_COLUMNS else None


def show(name: str, header: str | None = None, group: str = "", busy: str = "") -> Shown:
    """Column `name` of cnncompare/columns.py, headed `header` (its name when None)."""
    return Shown(header or name, column(name), group, busy)


# Which job timed a column: its cells carry that job's busy-machine flag wherever they are shown.
TRAINING_TIMED, EVALUATION_TIMED = "busy_machine", "busy_evaluation"
BUSY_TEXT = {TRAINING_TIMED: "timed on a busy machine (the training job got too small a share of its cores)",
             EVALUATION_TIMED: "timed on a busy machine (inference measured while other jobs could share the "
                               "cores, or, before measure_inference, by an evaluate job with too small a share)"}


METRIC_COLUMNS = [
    show("status"),
    show("init", "initialisation"),
    show("tested_epoch", "tested epoch"),
    show("train_acc", "train", "accuracy (%)"),
    show("val_acc", "validation", "accuracy (%)"),
    show("test_acc", "test", "accuracy (%)"),
    show("balanced_acc", "test, balanced", "accuracy (%)"),
    show("macro_f1", "macro-F1 (%)", "test"),
    show("train_loss", "train", "loss"),
    show("val_loss", "validation", "loss"),
    show("test_loss", "test", "loss"),
]

COST_COLUMNS = [
    show("train_seconds", "training", "time (s)", busy=TRAINING_TIMED),
    show("epoch_median_seconds", "median epoch", "time (s)", busy=TRAINING_TIMED),
    show("epoch_spread_seconds", "epoch spread", "time (s)", busy=TRAINING_TIMED),
    show("train_job_seconds", "train job", "time (s)", busy=TRAINING_TIMED),
    show("train_job_cpu_seconds", "train job CPU", "time (s)", busy=TRAINING_TIMED),
    show("evaluate_job_seconds", "evaluate job", "time (s)"),
    show("epochs_run", "epochs", "training"),
    show("images_per_second", "images/s", "training", busy=TRAINING_TIMED),
    show("gmacs", "GMACs", "inference"),
    show("inference_images_per_second", "images/s", "inference", busy=EVALUATION_TIMED),
    show("latency_ms", "latency (ms)", "inference", busy=EVALUATION_TIMED),
    show("peak_rss_mb", "training", "memory (MB)"),
    show("train_job_max_rss_mb", "train job", "memory (MB)"),
    show("evaluate_job_max_rss_mb", "evaluate job", "memory (MB)"),
    show("peak_gpu_mem_mb", "GPU", "memory (MB)"),
    show("checkpoint_bytes", "checkpoint (MB)", "size"),
    show("params_total", "parameters", "size"),
    show("params_trainable", "trainable", "size"),
    show("params_frozen", "frozen", "size"),
    show("image_size", "input (px)", "size"),
    show("device", "device", "where"),
    show("flags", "timing notes", "where"),
]


def cell(value, column: Shown | None = None, busy: bool = False) -> dict:
    """A cell; `busy`: its value was timed on a busy machine (class "busy": the page marks it ⚑)."""
    kind = column.kind if column else "text"
    title = repr(value) if isinstance(value, float) else None
    if busy:
        title = f"{title or fmt(value, kind)}: {BUSY_TEXT[column.busy]}"
    return {
        "text": fmt(value, kind),
        "value": "" if value is None else value,
        "title": title,
        "column": column.source() if column else None,
        "class": (f"status-{str(value).replace(' ', '-')}" if column and column.source() == "status"
                  else "busy" if busy else None),
    }


def is_busy(row: dict, column: Shown) -> bool:
    return bool(column.busy) and bool(row.get(column.busy))


def group_cell(values: list, column: Shown, busy: int = 0) -> dict:
    """mean ± std of the group's values; the value once when they all agree;
    text columns list their distinct values with counts. `busy`: how many of
    the values were timed on a busy machine (marked as cell() marks one)."""
    found = _group_cell(values, column)
    if busy:
        found["title"] = f"{found['title'] or found['text']}; {busy} of {len(values)} {BUSY_TEXT[column.busy]}"
        found["class"] = "busy"
    return found


def _group_cell(values: list, column: Shown) -> dict:
    numbers = [v for v in values if is_number(v)]
    if not numbers:
        distinct = sorted({str(v) for v in values if v not in (None, "")})
        counts = [f"{v} ×{sum(str(x) == v for x in values)}" if len(values) > 1 else v for v in distinct]
        return {"text": ", ".join(counts) or "–", "value": ", ".join(distinct), "column": None, "title": None,
                "class": None}
    found = describe(numbers)
    if len(set(numbers)) == 1:
        text = fmt(numbers[0], column.kind)
    else:
        mean = found["mean"]
        text = fmt_mean(mean, column.kind)
        text += " ± " + fmt_spread(found["std"], column.kind)
    return {"text": text, "value": found["mean"], "std": "" if found["std"] is None else found["std"],
            "n": found["n"], "column": column.source(), "title": f"mean {found['mean']!r}, n = {found['n']}",
            "class": None}


def _header(first: list[str], columns: list[Shown]) -> dict:
    """The header row and the groups spanning it: [(title, span)]."""
    groups = [("", len(first))]
    for c in columns:
        if groups[-1][0] == c.group:
            groups[-1] = (c.group, groups[-1][1] + 1)
        else:
            groups.append((c.group, 1))
    return {"header": [*first, *(c.header for c in columns)], "groups": groups}


def run_table(rows: list[dict], columns: list[Shown]) -> dict:
    """One row per run: its label, then `columns`."""
    return {
        **_header(["run"], columns),
        "rows": [{"cells": [cell(run_label(r)), *(cell(c.value(r), c, is_busy(r, c)) for c in columns)],
                  "data": row_data(r, True)} for r in rows],
        "grouped": False,
    }


def group_table(study: Study, columns: list[Shown]) -> dict:
    """One row per (dataset, split, model): n, then each column's mean ± std over the seeds."""
    body = []
    for group in study.groups:
        runs = group.runs
        seeds = ", ".join(str(r["seed"]) for r in runs)
        body.append({"cells": [
            cell(group.name),
            {"text": str(len(runs)), "value": len(runs), "column": None, "title": f"seeds {seeds}", "class": None},
            *(group_cell(group.values(c.value), c, sum(is_busy(r, c) for r in runs)) for c in columns),
        ], "data": row_data(runs[0])})
    return {**_header(["dataset/split/model", "n"], columns), "rows": body, "grouped": True}


def per_class_table(matrix, classes: list[str]) -> dict:
    """Per true class: test images and the share predicted right (a row of the normalised confusion matrix)."""
    rows = []
    for i, name in enumerate(classes):
        total = int(sum(matrix[i]))
        accuracy = matrix[i][i] / total if total else None
        rows.append({"class": name, "n": total, "accuracy": accuracy, "text": fmt(accuracy, "acc")})
    return {"rows": rows}


# --- the data sets ---------------------------------------------------------------------------------------


def _uniform(runs: list[dict]) -> float | None:
    return next((1 / r["num_classes"] for r in runs if is_number(r.get("num_classes")) and r["num_classes"] > 0), None)


def chance_level(runs: list[dict]) -> float | None:
    """A data set's chance level: the majority class's share of its test set (chance_acc), or for runs
    from before it was recorded 1 / classes."""
    return next((r["chance_acc"] for r in runs if is_number(r.get("chance_acc"))), _uniform(runs))


def chance_text(runs: list[dict]) -> str:
    """'chance 90.0% (always answering the largest class of the test set); 50.0% for a uniform guess',
    the uniform rate only where it differs."""
    majority = next((r["chance_acc"] for r in runs if is_number(r.get("chance_acc"))), None)
    uniform = _uniform(runs)
    if majority is None:
        return f"chance {pct(uniform)} (1 / classes)" if uniform is not None else ""
    text = f"chance {pct(majority)} (always answering the largest class of the test set)"
    return text + (f"; {pct(uniform)} for a uniform guess" if uniform is not None and abs(uniform - majority) > 1e-9
                   else "")


def dataset_tables(study: Study) -> list[dict]:
    """Per data set: the images in each part of each split, classes, image
    size, and (from metrics.json's `data`, when the runs recorded it) the
    source files with their MD5, the prepared arrays' checksum and warnings."""
    tables = []
    for dataset in study.datasets:
        runs = [r for r in study.rows if r["dataset"] == dataset]
        files = [study.files(r) for r in runs]
        infos = [f.get("info") or {} for f in files]
        parts = []
        for split in study.splits_of(dataset):
            sized = [r for r in runs if r["split"] == split and is_number(r.get("train_size"))]
            if sized:
                r = sized[0]
                parts.append({"split": split, "train": fmt(r["train_size"], "count"),
                              "val": fmt(r.get("val_size"), "count"), "test": fmt(r.get("test_size"), "count"),
                              "note": protocol(split).validation,
                              "data": {"data-dataset": dataset, "data-split": split}})
        classes = next((f["classes"] for f in files if f.get("classes")), None)
        num_classes = next((i["num_classes"] for i in infos if is_number(i.get("num_classes"))), None)
        data = next((i["data"] for i in infos if isinstance(i.get("data"), dict)), {})
        checksums = sorted({i["data"].get("sha256") for i in infos
                            if isinstance(i.get("data"), dict) and i["data"].get("sha256")})
        warnings = list(dict.fromkeys(w for i in infos if isinstance(i.get("data"), dict)
                                      for w in i["data"].get("warnings") or []))
        tables.append({
            "dataset": dataset,
            "chance": chance_text(runs),
            "parts": parts,
            "classes": num_classes if num_classes is not None else (len(classes) if classes else None),
            "class_names": ", ".join(classes) if classes else "",
            "image_size": next((f["image_size"] for f in files if f.get("image_size")), None),
            "sources": [{"file": s.get("file"), "md5": s.get("md5")} for s in data.get("sources") or []],
            "sha256": checksums,
            "warnings": warnings,
        })
    return tables
