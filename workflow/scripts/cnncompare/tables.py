"""The report's tables, built from summary.csv rows.

Every cell keeps the exact value behind its text: `value` (what the table
sorts by) and, for a cell that shows a summary.csv column as it is, `column`,
so the page can be checked against summary.csv cell by cell. Over several
seeds a row stands for a (dataset, split, model) group and shows mean ± sample
standard deviation, with n.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

from cnncompare.runs import run_label
from cnncompare.stats import describe, group_label, group_runs, is_number


@dataclass(frozen=True)
class Column:
    header: str
    key: str | Callable[[dict], object]  # a summary.csv column, or a value derived from the row
    digits: int | None = None  # decimals of a float; None: as it is
    scale: float = 1.0  # shown = value * scale (bytes as MB); the cell's value stays unscaled
    thousands: bool = False

    def value(self, row: dict):
        return self.key(row) if callable(self.key) else row.get(self.key)

    def source(self) -> str | None:
        return None if callable(self.key) else self.key


def per_epoch_seconds(row: dict):
    seconds, epochs = row.get("train_seconds"), row.get("epochs_run")
    return seconds / epochs if is_number(seconds) and is_number(epochs) and epochs else None


METRIC_COLUMNS = [
    Column("status", "status"),
    Column("initialisation", "init"),
    Column("tested epoch", "tested_epoch"),
    Column("train acc", "train_acc", 4),
    Column("val acc", "val_acc", 4),
    Column("test acc", "test_acc", 4),
    Column("train loss", "train_loss", 4),
    Column("val loss", "val_loss", 4),
    Column("test loss", "test_loss", 4),
]

COST_COLUMNS = [
    Column("training time (s)", "train_seconds", 1),
    Column("time per epoch (s)", per_epoch_seconds, 2),
    Column("images/s", "images_per_second", 0),
    Column("epochs", "epochs_run"),
    Column("peak RAM in training (MB)", "peak_rss_mb", 0),
    Column("train job wall (s)", "train_job_seconds", 1),
    Column("train job CPU (s)", "train_job_cpu_seconds", 1),
    Column("train job max RSS (MB)", "train_job_max_rss_mb", 0),
    Column("evaluate job wall (s)", "evaluate_job_seconds", 1),
    Column("evaluate job max RSS (MB)", "evaluate_job_max_rss_mb", 0),
    Column("peak GPU memory (MB)", "peak_gpu_mem_mb", 0),
    Column("checkpoint (MB)", "checkpoint_bytes", 2, scale=1 / 2**20),
    Column("parameters", "params_total", thousands=True),
    Column("trainable", "params_trainable", thousands=True),
    Column("frozen", "params_frozen", thousands=True),
    Column("image size", "image_size"),
    Column("device", "device"),
]


def fmt(value, digits: int | None = None, thousands: bool = False) -> str:
    """How a number is shown: fixed decimals for floats, thousands separators on request, – for none."""
    if value is None or value == "":
        return "–"
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if digits is not None:
            return f"{value:,.{digits}f}" if thousands else f"{value:.{digits}f}"
        if isinstance(value, int) or value.is_integer():
            return f"{int(value):,}" if thousands else str(int(value))
        return repr(value)
    return str(value)


def cell(value, column: Column | None = None) -> dict:
    digits = column.digits if column else None
    scale = column.scale if column else 1.0
    shown = value * scale if is_number(value) and scale != 1.0 else value
    if scale != 1.0 and digits is None:
        digits = 2
    return {
        "text": fmt(shown, digits, column.thousands if column else False),
        "value": "" if value is None else value,
        "column": column.source() if column else None,
    }


def group_cell(values: list, column: Column) -> dict:
    """mean ± std of the group's values (std only when n > 1); text columns list their distinct values."""
    numbers = [v for v in values if is_number(v)]
    if not numbers:
        distinct = sorted({str(v) for v in values if v not in (None, "")})
        counts = [f"{v} ×{sum(str(x) == v for x in values)}" if len(values) > 1 else v for v in distinct]
        return {"text": ", ".join(counts) or "–", "value": ", ".join(distinct), "column": None}
    found = describe(numbers)
    digits = column.digits if column.digits is not None else (2 if column.scale != 1.0 else 1)
    mean, std = found["mean"] * column.scale, found["std"]
    text = fmt(mean, digits, column.thousands)
    if std is not None:
        text += " ± " + fmt(std * column.scale, digits, column.thousands)
    return {"text": text, "value": found["mean"], "std": "" if std is None else std, "n": found["n"],
            "column": column.source()}


def run_table(rows: list[dict], columns: list[Column]) -> dict:
    """One row per run: its label, then `columns`."""
    return {
        "header": ["run", *(c.header for c in columns)],
        "rows": [[cell(run_label(r)), *(cell(c.value(r), c) for c in columns)] for r in rows],
        "grouped": False,
    }


def group_table(rows: list[dict], columns: list[Column]) -> dict:
    """One row per (dataset, split, model): n, then each column's mean ± std over the seeds."""
    body = []
    for key, runs in group_runs(rows).items():
        seeds = ", ".join(str(r["seed"]) for r in runs)
        body.append([
            cell(group_label(key)),
            {"text": str(len(runs)), "value": len(runs), "column": None, "title": f"seeds {seeds}"},
            *(group_cell([c.value(r) for r in runs], c) for c in columns),
        ])
    return {"header": ["dataset/split/model", "n", *(c.header for c in columns)], "rows": body, "grouped": True}


def has_several_seeds(rows: list[dict]) -> bool:
    return any(len(runs) > 1 for runs in group_runs(rows).values())


def per_class_table(matrix, classes: list[str]) -> dict:
    """Per true class: test images and the share predicted right (a row of the normalised confusion matrix)."""
    rows = []
    for i, name in enumerate(classes):
        total = int(sum(matrix[i]))
        accuracy = matrix[i][i] / total if total else None
        rows.append({"class": name, "n": total, "accuracy": accuracy, "text": fmt(accuracy, 3)})
    return {"rows": rows}
