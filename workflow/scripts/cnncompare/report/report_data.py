"""Reading what the report shows: summary.csv and history.csv with numbers as
numbers (text in a number column is an error naming the file, line, run and
column), and each run's metrics.json, confusion.csv, misclassified.npz and
predictions.csv."""

from __future__ import annotations

import csv
import math
import re

import numpy as np

from cnncompare.columns import PREDICTIONS_COLUMNS, RUN_KEYS, number_columns
from cnncompare.fileio import read_csv, read_json
from cnncompare.report.tables import run_label

# Columns whose type in cnncompare/columns.py is a number; every other column
# (text, booleans, and columns other branches add, data_sha256, ...) is read as text.
NUMBER_COLUMNS = number_columns()


class ReportDataError(ValueError):
    """A results file holds something the report cannot show; the message names the file and the column."""


def number(text):
    """A CSV cell as a number when it is one ('' -> None); other text stays text."""
    if text in ("", None):
        return None
    if not isinstance(text, str):
        return text
    try:
        value = float(text)
    except ValueError:
        return text
    return int(value) if math.isfinite(value) and re.fullmatch(r"\s*-?\d+\s*", text) else value


def _run_of(row: dict) -> str:
    """The run a row belongs to, for an error message (any key may be missing)."""
    return run_label({k: row.get(k, "?") for k in RUN_KEYS})


def typed_row(row: dict, source, line: int | None = None) -> dict:
    """A row read from CSV with each number column as a number (nan and inf
    allowed: a diverged run has them); the run keys but the seed stay text."""
    typed = {}
    for key, text in row.items():
        if key not in NUMBER_COLUMNS:
            typed[key] = text
            continue
        value = number(text)
        if isinstance(value, str):
            where = f", line {line}" if line else ""
            raise ReportDataError(
                f"{source}{where} (run {_run_of(row)}), column {key}: {text!r} is not a number"
            )
        typed[key] = value
    return typed


def read_rows(path) -> list[dict]:
    """summary.csv or history.csv, checked and typed (line numbers count the header as 1)."""
    return [typed_row(row, path, i + 2) for i, row in enumerate(read_csv(path))]


def read_confusion(path) -> tuple[list[str], np.ndarray]:
    with open(path, newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    if not rows or len(rows[0]) < 2:
        raise ReportDataError(f"{path}: empty confusion matrix")
    classes = rows[0][1:]
    try:
        return classes, np.array([[int(v) for v in row[1:]] for row in rows[1:]], dtype=np.int64)
    except ValueError as error:
        raise ReportDataError(f"{path}: a count is not an integer ({error})") from None


def read_predictions(path) -> dict[str, np.ndarray]:
    """A run's predictions.csv as arrays: index, true and predicted (integers), probability."""
    try:
        with open(path, newline="", encoding="utf-8") as fh:
            rows = list(csv.reader(fh))
        if not rows or rows[0] != PREDICTIONS_COLUMNS:
            raise ValueError(f"the header is {rows[0] if rows else 'missing'}, not {PREDICTIONS_COLUMNS}")
        body = rows[1:]
        found = {name: np.array([int(r[i]) for r in body], dtype=np.int64)
                 for i, name in enumerate(PREDICTIONS_COLUMNS[:3])}
        found["probability"] = np.array([float(r[3]) for r in body], dtype=np.float64)
    except (ValueError, IndexError) as error:
        raise ReportDataError(f"{path}: not a predictions file ({error})") from None
    return found


def read_run_files(metrics: str, confusion: str | None = None, misclassified: str | None = None,
                   predictions: str | None = None) -> dict:
    """What the report shows of one run beyond summary.csv: its settings, data
    and versions (metrics.json), test confusion matrix, gallery images and
    per-image predictions (for the paired comparisons)."""
    info = read_json(metrics)
    found = {"label": run_label(info), "info": info, "classes": None, "matrix": None, "gallery": [],
             "image_size": None, "predictions": read_predictions(predictions) if predictions else None}
    if confusion:
        found["classes"], found["matrix"] = read_confusion(confusion)
    if misclassified:
        with np.load(misclassified, allow_pickle=False) as npz:
            images = npz["images"]
            if images.ndim == 4:
                found["image_size"] = f"{images.shape[2]} x {images.shape[1]}"
            names = found["classes"] or []
            for image, true, predicted, index in zip(images, npz["true"], npz["predicted"], npz["index"]):
                found["gallery"].append({
                    "image": image,
                    "true": names[true] if true < len(names) else str(true),
                    "predicted": names[predicted] if predicted < len(names) else str(predicted),
                    "index": int(index),
                })
    return found
