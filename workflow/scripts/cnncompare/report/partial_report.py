"""The partial report after a failed invocation: the runs that finished, read
through aggregate's own row code, and every planned run without results,
with its status, last epoch and last error line."""

from __future__ import annotations

import re
from pathlib import Path

from cnncompare.report.aggregate import run_rows
from cnncompare.report.render import render
from cnncompare.report.report_data import read_run_files, typed_row


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


def write_partial_report(planned: list[dict], run_dir_of, template_path, out_path, models=None, workflow=None,
                         banner=None) -> dict | None:
    """A report of the runs that finished, listing every planned run that did
    not with its status and last epoch. Reads only the files that exist; None
    (and nothing written) when no run finished or none is missing."""
    summary, history, run_files, missing = [], [], [], []
    for run in planned:
        run_dir = Path(run_dir_of(run))
        metrics = run_dir / "metrics.json"
        if not metrics.is_file():
            missing.append(failed_run_row(run, run_dir))
            continue
        benchmarks = {job: run_dir / f"{job}.benchmark.tsv" for job in ("train", "evaluate")
                      if (run_dir / f"{job}.benchmark.tsv").is_file()}
        row, epochs = run_rows(metrics, run_dir / "history.csv", benchmarks)
        summary.append(row)
        history += [typed_row(h, run_dir / "history.csv", line) for line, h in enumerate(epochs, start=2)]
        existing = [str(run_dir / n) if (run_dir / n).is_file() else None
                    for n in ("confusion.csv", "misclassified.npz", "predictions.csv")]
        run_files.append(read_run_files(str(metrics), *existing))
    if not summary or not missing:
        return None
    notice = (f"Partial report: {len(missing)} of {len(planned)} planned runs have no results (listed under "
              "'Runs that did not complete'). report.html is made again once every run has finished.")
    return render(summary + missing, history, run_files, template_path, out_path, None, models, workflow, notice,
                  banner)
