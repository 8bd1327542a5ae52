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
from typing import Callable

from cnncompare.plan.runs import run_label
from cnncompare.report.numbers import fmt, fmt_mean, fmt_spread
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
class Column:
    header: str
    key: str | Callable[[dict], object]  # a summary.csv column, or a value derived from the row
    kind: str = "text"
    group: str = ""  # the header spanning a run of columns (time, memory, size)

    def value(self, row: dict):
        return self.key(row) if callable(self.key) else row.get(self.key)

    def source(self) -> str | None:
        return None if callable(self.key) else self.key


def _flags(row: dict):
    return "; ".join(row.get("flags") or []) or None


METRIC_COLUMNS = [
    Column("status", "status"),
    Column("initialisation", "init"),
    Column("tested epoch", "tested_epoch", "count"),
    Column("train", "train_acc", "acc", "accuracy (%)"),
    Column("validation", "val_acc", "acc", "accuracy (%)"),
    Column("test", "test_acc", "acc", "accuracy (%)"),
    Column("train", "train_loss", "loss", "loss"),
    Column("validation", "val_loss", "loss", "loss"),
    Column("test", "test_loss", "loss", "loss"),
]

COST_COLUMNS = [
    Column("training", "train_seconds", "seconds", "time (s)"),
    Column("median epoch", lambda r: r.get("epoch_median_seconds"), "seconds", "time (s)"),
    Column("epoch spread", lambda r: r.get("epoch_spread_seconds"), "seconds", "time (s)"),
    Column("train job", "train_job_seconds", "seconds", "time (s)"),
    Column("train job CPU", "train_job_cpu_seconds", "seconds", "time (s)"),
    Column("evaluate job", "evaluate_job_seconds", "seconds", "time (s)"),
    Column("epochs", "epochs_run", "count", "training"),
    Column("images/s", "images_per_second", "rate", "training"),
    Column("GMACs", "gmacs", "gmacs", "inference"),
    Column("images/s", "inference_images_per_second", "rate", "inference"),
    Column("latency (ms)", "latency_ms", "ms", "inference"),
    Column("training", "peak_rss_mb", "mb", "memory (MB)"),
    Column("train job", "train_job_max_rss_mb", "mb", "memory (MB)"),
    Column("evaluate job", "evaluate_job_max_rss_mb", "mb", "memory (MB)"),
    Column("GPU", "peak_gpu_mem_mb", "mb", "memory (MB)"),
    Column("checkpoint (MB)", "checkpoint_bytes", "bytes", "size"),
    Column("parameters", "params_total", "count", "size"),
    Column("trainable", "params_trainable", "count", "size"),
    Column("frozen", "params_frozen", "count", "size"),
    Column("input (px)", "image_size", "count", "size"),
    Column("device", "device", "text", "where"),
    Column("timing notes", _flags, "text", "where"),
]


def cell(value, column: Column | None = None) -> dict:
    kind = column.kind if column else "text"
    return {
        "text": fmt(value, kind),
        "value": "" if value is None else value,
        "title": repr(value) if isinstance(value, float) else None,
        "column": column.source() if column else None,
        "class": f"status-{str(value).replace(' ', '-')}" if column and column.source() == "status" else None,
    }


def group_cell(values: list, column: Column) -> dict:
    """mean ± std of the group's values; the value once when they all agree;
    text columns list their distinct values with counts."""
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


def _header(first: list[str], columns: list[Column]) -> dict:
    """The header row and the groups spanning it: [(title, span)]."""
    groups = [("", len(first))]
    for c in columns:
        if groups[-1][0] == c.group:
            groups[-1] = (c.group, groups[-1][1] + 1)
        else:
            groups.append((c.group, 1))
    return {"header": [*first, *(c.header for c in columns)], "groups": groups}


def run_table(rows: list[dict], columns: list[Column]) -> dict:
    """One row per run: its label, then `columns`."""
    return {
        **_header(["run"], columns),
        "rows": [{"cells": [cell(run_label(r)), *(cell(c.value(r), c) for c in columns)], "data": row_data(r, True)}
                 for r in rows],
        "grouped": False,
    }


def group_table(study: Study, columns: list[Column]) -> dict:
    """One row per (dataset, split, model): n, then each column's mean ± std over the seeds."""
    body = []
    for group in study.groups:
        runs = group.runs
        seeds = ", ".join(str(r["seed"]) for r in runs)
        body.append({"cells": [
            cell(group.name),
            {"text": str(len(runs)), "value": len(runs), "column": None, "title": f"seeds {seeds}", "class": None},
            *(group_cell(group.values(c.value), c) for c in columns),
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
            "parts": parts,
            "classes": num_classes if num_classes is not None else (len(classes) if classes else None),
            "class_names": ", ".join(classes) if classes else "",
            "image_size": next((f["image_size"] for f in files if f.get("image_size")), None),
            "sources": [{"file": s.get("file"), "md5": s.get("md5")} for s in data.get("sources") or []],
            "sha256": checksums,
            "warnings": warnings,
        })
    return tables
