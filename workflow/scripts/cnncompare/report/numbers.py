"""How the report writes a number: one function per kind of quantity, called
by every table, sentence, figure and hover text of the report.

Accuracies are fractions (0-1) in every file and percentages on the page, with
one decimal: "97.2" in a table whose header says (%), "97.2%" in running text.
A spread or a difference of accuracies is in percentage points, also with one
decimal. A value that is missing is shown as "–"; nan and inf as they are.
"""

from __future__ import annotations

import math

from cnncompare.report.stats import is_number

MISSING = "–"


# --- accuracy -----------------------------------------------------------------------------------------


def percent(value: float) -> str:
    """An accuracy in a table cell whose header names the unit: 97.2."""
    return f"{value * 100:.1f}"


def pct(value, spread=None) -> str:
    """An accuracy in running text or a hover: 97.2%, and with a spread 97.2% ± 1.4."""
    if not is_number(value):
        return MISSING
    return f"{percent(value)}%" + (f" ± {points(spread)}" if spread else "")


def points(value: float) -> str:
    """A spread or a gap between accuracies, in percentage points: 1.4."""
    return f"{value * 100:.1f}"


def signed_points(value: float) -> str:
    """A difference of accuracies in percentage points, with its sign: +1.4, -0.3."""
    return f"{value * 100:+.1f}"


def interval_points(low: float, high: float) -> str:
    """An interval of a difference of accuracies, in signed percentage points: [+0.3, +2.9]."""
    return f"[{signed_points(low)}, {signed_points(high)}]"


def interval_pct(low: float, high: float) -> str:
    """An interval of an accuracy: 91.2–95.0%."""
    return f"{percent(low)}–{percent(high)}%"


def p_value(p: float) -> str:
    """A p-value: three significant digits, 1 as 1, below 0.001 as "< 0.001"."""
    if p >= 1:
        return "1"
    return "< 0.001" if p < 0.001 else f"{p:.3g}"


def p_equals(p: float) -> str:
    """A p-value in running text: "p = 0.0312", "p < 0.001"."""
    text = p_value(p)
    return f"p {text}" if text.startswith("<") else f"p = {text}"


def percent_tick(value: float) -> str:
    """An accuracy on a figure's axis: as few digits as the tick needs (90%, 92.5%)."""
    return f"{value * 100:g}%"


def share(value: float) -> str:
    """A share that is not an accuracy (of the cores, of a confusion row on a colour bar): 45%."""
    return f"{value:.0%}"


# --- other quantities ---------------------------------------------------------------------------------


def loss(value: float) -> str:
    return f"{value:.3f}"


def count(value: float) -> str:
    """Images, parameters, epochs: an integer with thousands separators."""
    return f"{round(value):,}"


def mean_count(value: float) -> str:
    """The mean of counts over seeds, which need not be whole: 9.0."""
    return f"{value:,.1f}"


def megabytes(value: float) -> str:
    """Memory already in MB (2^20 bytes)."""
    return f"{value:,.0f}"


def bytes_as_megabytes(value: float) -> str:
    """A size in bytes, shown in MB (2^20 bytes) with one decimal."""
    return f"{value / 2**20:,.1f}"


def rate(value: float) -> str:
    """Images per second."""
    return f"{value:,.0f}"


def gmacs(value: float) -> str:
    """Multiply-adds in billions: small CNNs at 32 px need four decimals."""
    return f"{value:,.4f}" if abs(value) < 1 else f"{value:,.2f}"


def milliseconds(value: float) -> str:
    return f"{value:,.2f}"


def seconds(value: float) -> str:
    """A duration in a table whose header says (s)."""
    return f"{value:,.1f}"


def seconds_text(value: float) -> str:
    """A duration in running text, with its unit: 0.53 s, 12.4 s."""
    return f"{value:.2f} s" if value < 10 else f"{value:,.1f} s"


def whole_seconds(value) -> str:
    """A training time in the paper table: whole seconds from 100 s up."""
    if not is_number(value):
        return MISSING
    return f"{value:,.0f}" if value >= 100 else f"{value:.1f}"


def learning_rate(value: float) -> str:
    return f"{value:.3g}"


def ratio(value: float) -> str:
    """How many times another figure: 2.5×."""
    return f"{value:.1f}×"


def significant(value: float) -> str:
    """A cost of any unit in a hover (seconds, parameters): four significant digits."""
    return f"{value:,.4g}"


# A column's display kind (cnncompare/columns.py) -> how its values are written.
KINDS = {
    "acc": percent,
    "loss": loss,
    "seconds": seconds,
    "count": count,
    "mb": megabytes,
    "bytes": bytes_as_megabytes,
    "rate": rate,
    "gmacs": gmacs,
    "ms": milliseconds,
}


def fmt(value, kind: str = "text") -> str:
    """A value as its kind is shown: unit and decimals; – for none; nan and inf as they are."""
    if value is None or value == "":
        return MISSING
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if kind in KINDS and isinstance(value, (int, float)) and not isinstance(value, bool):
        return KINDS[kind](value)
    return str(value)


def fmt_mean(value, kind: str) -> str:
    """A mean over seeds: as its kind, except counts, whose mean keeps one decimal."""
    return mean_count(value) if kind == "count" else fmt(value, kind)


def fmt_spread(value: float, kind: str) -> str:
    """A standard deviation in the unit of its kind; a spread that would round to
    zero keeps two significant digits (0.02, not 0.0), and counts get one decimal."""
    if kind == "count":
        return mean_count(value)
    text = fmt(value, kind)
    if value and not text.strip("0.,-"):
        shown = value * 100 if kind == "acc" else value / 2**20 if kind == "bytes" else value
        return f"{shown:.2g}"
    return text
