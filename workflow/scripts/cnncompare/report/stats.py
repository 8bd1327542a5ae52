"""The statistics the report states: mean and sample standard deviation,
intervals for a mean and for a difference in accuracy, the Pareto front
(study.py groups the runs over seeds).

Plain functions of summary rows (dicts), so each figure the report shows can
be recomputed from summary.csv by a test or a reader.
"""

from __future__ import annotations

import math
import statistics

from scipy import stats as scipy_stats

def is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def describe(values: list) -> dict:
    """mean, sample standard deviation (n - 1; None for one value) and n of the finite values."""
    found = [v for v in values if is_number(v)]
    if not found:
        return {"mean": None, "std": None, "n": 0}
    return {
        "mean": statistics.fmean(found),
        "std": statistics.stdev(found) if len(found) > 1 else None,
        "n": len(found),
    }


def mean_interval(values: list, level: float = 0.95) -> dict:
    """mean, the half-width of its `level` interval (Student's t over n - 1
    degrees of freedom; None for fewer than two values) and n of the finite values."""
    found = describe(values)
    half = None
    if found["n"] > 1:
        half = scipy_stats.t.ppf(0.5 + level / 2, found["n"] - 1) * found["std"] / math.sqrt(found["n"])
    return {**found, "half": half, "level": level}


def welch_interval(a: list[float], b: list[float], level: float = 0.95) -> dict | None:
    """mean(a) - mean(b) and its `level` interval (Welch's t, unequal variances).

    None when either side has fewer than two values; a zero spread on both
    sides gives a zero-width interval."""
    if len(a) < 2 or len(b) < 2:
        return None
    diff = statistics.fmean(a) - statistics.fmean(b)
    va, vb = statistics.variance(a) / len(a), statistics.variance(b) / len(b)
    se = math.sqrt(va + vb)
    if se == 0:
        return {"diff": diff, "low": diff, "high": diff, "df": None, "level": level}
    df = (va + vb) ** 2 / (va ** 2 / (len(a) - 1) + vb ** 2 / (len(b) - 1))
    half = scipy_stats.t.ppf(0.5 + level / 2, df) * se
    return {"diff": diff, "low": diff - half, "high": diff + half, "df": df, "level": level}


def proportion_halfwidth(p: float, n: int, level: float = 0.95) -> float:
    """Half-width of the normal-approximation interval of an accuracy p measured on n images."""
    z = scipy_stats.norm.ppf(0.5 + level / 2)
    return z * math.sqrt(max(p * (1 - p), 0.0) / n) if n else math.nan


def pareto_front(points: list[tuple[float, float]]) -> list[int]:
    """Indices of the points no other point beats: lower or equal cost (x) and
    higher or equal accuracy (y), strictly better in one. Sorted by cost."""
    front = []
    for i, (x, y) in enumerate(points):
        dominated = any(
            (ox <= x and oy >= y) and (ox < x or oy > y) for j, (ox, oy) in enumerate(points) if j != i
        )
        if not dominated:
            front.append(i)
    return sorted(front, key=lambda i: points[i])
