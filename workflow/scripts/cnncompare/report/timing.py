"""Timings the report can compare without being fooled by a busy machine.

A run's total training time is one sample of a noisy clock: on a shared
machine the same model took 35 s on one split and 81 s on the other. The
report compares per-epoch medians instead, says when two runs' medians differ
by less than their epoch-to-epoch spread, and flags a run whose job got far
less CPU time than its wall time (it waited for the processor).
"""

from __future__ import annotations

import statistics

from cnncompare.report.numbers import share as share_text
from cnncompare.report.stats import is_number

# A job on the CPU that got less than this share of the cores it trained with
# (torch's threads) over its wall time spent most of it waiting for a
# processor: its timings say more about the machine than about the model.
BUSY_CPU_SHARE = 0.5


def epoch_times(history: list[dict]) -> list[float]:
    return [h["epoch_seconds"] for h in history if is_number(h.get("epoch_seconds")) and h["epoch_seconds"] > 0]


def quartiles(values: list[float]) -> tuple[float, float]:
    if len(values) < 2:
        return values[0], values[0]
    q = statistics.quantiles(values, n=4, method="inclusive")
    return q[0], q[2]


def epoch_timing(history: list[dict]) -> dict:
    """Median seconds per epoch and the spread between epochs (interquartile range)."""
    times = epoch_times(history)
    if not times:
        return {"median": None, "spread": None, "epochs": 0}
    low, high = quartiles(times)
    return {"median": statistics.median(times), "spread": high - low, "epochs": len(times)}


def robust_train_seconds(row: dict):
    """Training time from the median epoch (times the epochs run), so one slow epoch on a busy machine
    does not count (the trade-off figure's cost, and a sweep's `select: {prefer: train_time}`)."""
    median, epochs = row.get("epoch_median_seconds"), row.get("epochs_run")
    return median * epochs if median is not None and epochs else row.get("train_seconds")


def on_cpu(row: dict) -> bool:
    return str(row.get("device") or "").startswith("cpu")


def cpu_share(row: dict, threads: int | None = None, job: str = "train") -> float | None:
    """A job's CPU time over its wall time times its threads, from its benchmark columns
    (`{job}_job_cpu_seconds`, `{job}_job_seconds`; job is train or evaluate): about 1 when it had
    its cores."""
    cpu, wall = row.get(f"{job}_job_cpu_seconds"), row.get(f"{job}_job_seconds")
    if not (is_number(cpu) and is_number(wall) and wall > 0):
        return None
    return cpu / (wall * max(1, threads or 1))


def busy_machine(row: dict, threads: int | None = None) -> bool:
    """A CPU run whose training job got less than BUSY_CPU_SHARE of its cores over its wall time."""
    share = cpu_share(row, threads)
    return on_cpu(row) and share is not None and share < BUSY_CPU_SHARE


def busy_evaluation(row: dict, threads: int | None = None) -> bool:
    """A CPU run whose evaluate job, which measured the inference figures before rule
    measure_inference existed, got less than BUSY_CPU_SHARE of its cores."""
    share = cpu_share(row, threads, job="evaluate")
    return str(row.get("eval_device") or row.get("device") or "").startswith("cpu") and share is not None \
        and share < BUSY_CPU_SHARE


def busy_inference(row: dict, info: dict, threads: int | None = None) -> str | None:
    """Why a CPU run's inference figures (images/s, latency) say more about the machine than about
    the model, or None. Measured once per network by measure_inference (metrics.json's
    inference_measured): busy when that job did not have every core of the run to itself (a
    cluster job, or a workflow run with other jobs beside it). Runs made before that rule were
    measured by their evaluate job: busy when it got less than BUSY_CPU_SHARE of its cores."""
    if not str(info.get("eval_device") or row.get("eval_device") or row.get("device") or "").startswith("cpu"):
        return None
    measured = info.get("inference_measured") or {}
    if "alone" in measured:
        return None if measured["alone"] else "measured by measure_inference while other jobs could share its cores"
    if busy_evaluation({**row, "eval_device": info.get("eval_device")}, threads):
        n = max(1, threads or 1)
        return (f"the evaluate job that measured them got {share_text(cpu_share(row, threads, job='evaluate'))} of the "
                f"{n} core{'s' if n > 1 else ''} it ran with")
    return None


def gpu_expected_cpu_found(row: dict, info: dict) -> bool:
    """The job asked for a GPU (metrics.json's gpu_requested) but trained on the CPU."""
    return bool(info.get("gpu_requested")) and on_cpu(row)


def within_spread(a: dict, b: dict) -> bool:
    """Two runs' (or models') per-epoch medians differ by less than the larger of their spreads."""
    if a["median"] is None or b["median"] is None:
        return False
    return abs(a["median"] - b["median"]) < max(a["spread"] or 0.0, b["spread"] or 0.0)


def group_timing(timings: list[dict]) -> dict:
    """Several seeds of one model: the median of their medians; the spread is the
    larger of the epoch-to-epoch spread and the spread between the seeds' medians."""
    medians = [t["median"] for t in timings if t["median"] is not None]
    if not medians:
        return {"median": None, "spread": None, "epochs": 0}
    between = quartiles(medians)
    spread = max([t["spread"] or 0.0 for t in timings] + [between[1] - between[0]])
    return {"median": statistics.median(medians), "spread": spread, "epochs": sum(t["epochs"] for t in timings)}
