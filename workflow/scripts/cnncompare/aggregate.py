"""All runs in two tables: summary.csv (one row per run) and history.csv (one
row per epoch of every run)."""

from __future__ import annotations

from cnncompare.columns import HISTORY_COLUMNS, METRIC_KEYS, RUN_KEYS, SUMMARY_COLUMNS, VERSION_KEYS
from cnncompare.fileio import read_csv, read_json, write_csv


def summary_row(metrics: dict) -> dict:
    row = {k: metrics.get(k) for k in METRIC_KEYS + ["tested_weights"]}
    for key in VERSION_KEYS:
        row[f"version_{key}"] = metrics.get("versions", {}).get(key)
    return row


def aggregate(metrics_paths, history_paths, summary_path, history_out) -> None:
    if len(metrics_paths) != len(history_paths):
        raise ValueError("one history.csv per metrics.json is needed")
    summary, history = [], []
    for metrics_path, history_path in zip(metrics_paths, history_paths):
        metrics = read_json(metrics_path)
        summary.append(summary_row(metrics))
        for epoch in read_csv(history_path):
            history.append({**{k: metrics[k] for k in RUN_KEYS}, **epoch})
    write_csv(summary_path, summary, SUMMARY_COLUMNS)
    write_csv(history_out, history, RUN_KEYS + HISTORY_COLUMNS)
