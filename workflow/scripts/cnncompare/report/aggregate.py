"""All runs in two tables: summary.csv (one row per run) and history.csv (one
row per epoch of every run), built as pandas DataFrames.

Every column is described in cnncompare/columns.py (and docs/columns.md). The
files are CSV with CRLF line ends (what Python's csv module writes); numbers
are written in full (the shortest text that reads back to the same float), a
missing value as an empty cell, and history.csv carries each run's values as
the run wrote them (a diverged run's nan included).
"""

from __future__ import annotations

import csv

import pandas as pd

from cnncompare.columns import DERIVED, HISTORY_TABLE_COLUMNS, METRICS, RUN_KEYS, SUMMARY, SUMMARY_COLUMNS, Column
from cnncompare.fileio import atomic_path, read_json
from cnncompare.report.report_data import typed_row
from cnncompare.nested import get_key


def read_benchmark(path) -> dict[str, float | None]:
    """The figures of one Snakemake benchmark: file, as numbers; None where it
    wrote NA (a job too short to sample). With benchmark repeats, the mean
    time and the largest memory."""
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh, delimiter="\t"))
    if not rows or "s" not in rows[0] or "max_rss" not in rows[0]:
        raise ValueError(f"{path}: not a Snakemake benchmark file (no 's' and 'max_rss' columns)")

    def numbers(column):
        return [float(r[column]) for r in rows if r.get(column) not in (None, "", "NA")]

    values = {}
    for column in ("s", "cpu_time"):
        found = numbers(column)
        values[column] = round(sum(found) / len(found), 3) if found else None
    found = numbers("max_rss")
    values["max_rss"] = round(max(found), 1) if found else None
    return values


def _derived(name: str, metrics: dict):
    if name == "uniform_acc":
        classes = metrics.get("num_classes")
        return 1 / classes if classes else None
    if name == "batch_size":
        # Training caps the batch at the training set's size (train.training.batching).
        configured, images = (metrics.get("config") or {}).get("batch_size"), metrics.get("train_size")
        if not isinstance(configured, int):
            return configured
        return min(configured, images) if isinstance(images, int) and images > 0 else configured
    raise ValueError(f"summary.csv column {name!r} is derived, but aggregate does not know how")


def column_value(column: Column, metrics: dict, benchmarks: dict[str, dict]):
    """A summary.csv cell from the run's files, as its `source` in cnncompare/columns.py says.
    A key the run did not record (a run from before it was) gives None: an empty cell."""
    if column.source == DERIVED:
        return _derived(column.name, metrics)
    file, _, key = column.source.partition(" ")
    if file != METRICS:  # <job>.benchmark.tsv <field>
        return benchmarks.get(file.split(".")[0], {}).get(key)
    try:
        return get_key(metrics, key or column.name)
    except KeyError:
        return None


def summary_row(metrics: dict, benchmarks: dict[str, dict] | None = None) -> dict:
    """One run's row: every column of cnncompare/columns.py's SUMMARY, from
    metrics.json and its jobs' benchmark figures.

    `benchmarks` maps 'train' and 'evaluate' to read_benchmark() results."""
    return {c.name: column_value(c, metrics, benchmarks or {}) for c in SUMMARY}


def run_rows(metrics_path, history_path, benchmark_paths: dict | None = None) -> tuple[dict, list[dict]]:
    """One run's summary row and its history rows (each with the run's keys).

    `benchmark_paths` maps 'train' and 'evaluate' to benchmark files; both the
    tables and the partial report after a failure read runs through here."""
    metrics = read_json(metrics_path)
    benchmarks = {job: read_benchmark(path) for job, path in (benchmark_paths or {}).items()}
    history = [{**{k: metrics[k] for k in RUN_KEYS}, **epoch} for epoch in read_history(history_path)]
    for line, epoch in enumerate(history, start=2):  # a hand-edited file fails here, naming it
        typed_row(epoch, history_path, line)
    return summary_row(metrics, benchmarks), history


def read_history(path) -> list[dict]:
    """A run's history.csv, each value as the text the run wrote."""
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    unknown = [c for c in frame.columns if c not in HISTORY_TABLE_COLUMNS]
    if unknown:
        raise ValueError(f"{path}: column {unknown[0]!r} is not a history.csv column "
                         f"(docs/columns.md lists them)")
    return frame.to_dict("records")


def table(rows: list[dict], columns: list[str]) -> pd.DataFrame:
    """Rows as a DataFrame of `columns`, each value the Python object it was
    (object dtype): an integer column with a gap stays integers, not floats."""
    return pd.DataFrame(rows, columns=columns, dtype=object)


def write_table(frame: pd.DataFrame, path) -> None:
    """CSV as Python's csv module writes it (CRLF, minimal quoting), atomically."""
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False, lineterminator="\r\n", na_rep="", quoting=csv.QUOTE_MINIMAL)


def aggregate(metrics_paths, history_paths, summary_path, history_out,
              train_benchmarks=None, evaluate_benchmarks=None) -> None:
    """Write summary.csv and history.csv from every run's files, given in the
    same run order in each list."""
    counts = {len(metrics_paths), len(history_paths)}
    counts |= {len(p) for p in (train_benchmarks, evaluate_benchmarks) if p is not None}
    if len(counts) != 1:
        raise ValueError("one history.csv (and benchmark file, when given) per metrics.json is needed")
    summary, history = [], []
    for i, (metrics_path, history_path) in enumerate(zip(metrics_paths, history_paths)):
        benchmarks = {job: paths[i] for job, paths in (("train", train_benchmarks), ("evaluate", evaluate_benchmarks))
                      if paths is not None}
        row, epochs = run_rows(metrics_path, history_path, benchmarks)
        summary.append(row)
        history += epochs
    write_table(table(summary, SUMMARY_COLUMNS), summary_path)
    write_table(table(history, HISTORY_TABLE_COLUMNS), history_out)
