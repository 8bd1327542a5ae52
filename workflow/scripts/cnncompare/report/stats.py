"""The statistics the report states of one group: mean and sample standard
deviation, the interval of a mean over seeds, Wilson's interval of one run's
accuracy, the Pareto front (study.py groups the runs over seeds; the paired
comparisons between models are in comparisons.py).

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


# Fewer seeds than this are shown one by one (or as their range), never as an interval: with two,
# Student's t multiplies the spread by 12.7 and gives intervals such as ±94 points.
MIN_SEEDS_FOR_INTERVAL = 3


def mean_interval(values: list, level: float = 0.95, bounds: tuple[float, float] = (0.0, 1.0)) -> dict:
    """mean, the half-width of its `level` interval (Student's t over n - 1
    degrees of freedom; None for fewer than MIN_SEEDS_FOR_INTERVAL values), the
    interval's ends cut to `bounds` (an accuracy lies in 0-1: "clipped" says when
    a side was cut), the range of the values, and n of the finite values."""
    found = describe(values)
    half = low = high = None
    if found["n"] >= MIN_SEEDS_FOR_INTERVAL:
        half = scipy_stats.t.ppf(0.5 + level / 2, found["n"] - 1) * found["std"] / math.sqrt(found["n"])
        low, high = max(bounds[0], found["mean"] - half), min(bounds[1], found["mean"] + half)
    values = [v for v in values if is_number(v)]
    return {**found, "half": half, "low": low, "high": high, "level": level,
            "clipped": half is not None and (low > found["mean"] - half or high < found["mean"] + half),
            "min": min(values) if values else None, "max": max(values) if values else None}


def wilson_interval(correct: int, n: int, level: float = 0.95) -> tuple[float, float] | None:
    """The Wilson score interval of a proportion (one run's accuracy on n images), within 0-1 by
    construction (scipy.stats.binomtest(...).proportion_ci)."""
    if not n:
        return None
    found = scipy_stats.binomtest(int(correct), int(n)).proportion_ci(level, method="wilson")
    return float(found.low), float(found.high)


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
