"""The report's one number formatter (cnncompare/report/numbers.py): each kind
of quantity written one way, wherever the report writes it."""

from __future__ import annotations

import math

from cnncompare.report import numbers


def test_accuracy_in_tables_in_text_and_as_points():
    assert numbers.percent(0.97234) == "97.2"  # a cell under a (%) header
    assert numbers.pct(0.97234) == "97.2%"  # running text
    assert numbers.pct(0.9, 0.0143) == "90.0% ± 1.4"  # a hover with a spread over seeds
    assert numbers.pct(0.9, None) == numbers.pct(0.9, 0.0) == "90.0%"
    assert numbers.pct(None) == numbers.pct(math.nan) == "–"
    assert numbers.points(0.0143) == "1.4"  # a spread or gap, in percentage points
    assert numbers.signed_points(0.012) == "+1.2" and numbers.signed_points(-0.003) == "-0.3"
    assert numbers.percent_tick(0.925) == "92.5%" and numbers.percent_tick(0.9) == "90%"
    assert numbers.share(0.4512) == "45%"


def test_counts_bytes_durations_and_the_other_kinds():
    assert numbers.fmt(307946, "count") == "307,946"
    assert numbers.fmt(2.5 * 2**20, "bytes") == "2.5"  # shown in MB
    assert numbers.fmt(812.4, "mb") == "812"
    assert numbers.fmt(1234.56, "seconds") == "1,234.6"
    assert numbers.fmt(0.038654, "gmacs") == "0.0387" and numbers.fmt(4.1234, "gmacs") == "4.12"
    assert numbers.fmt(1.234, "ms") == "1.23" and numbers.fmt(1234.4, "rate") == "1,234"
    assert numbers.fmt(0.12345, "loss") == "0.123"
    assert numbers.seconds_text(0.534) == "0.53 s" and numbers.seconds_text(1234.5) == "1,234.5 s"
    assert numbers.whole_seconds(1234.5) == "1,234" and numbers.whole_seconds(12.34) == "12.3"
    assert numbers.whole_seconds(None) == "–"


def test_missing_and_non_finite_values_and_text():
    assert numbers.fmt(None, "acc") == numbers.fmt("", "count") == "–"
    assert numbers.fmt(math.nan, "loss") == "nan" and numbers.fmt(math.inf, "acc") == "inf"
    assert numbers.fmt("completed", "acc") == "completed" and numbers.fmt(True, "count") == "True"


def test_means_and_spreads_over_seeds():
    assert numbers.fmt_mean(9.0, "count") == "9.0"  # a mean of epochs need not be whole
    assert numbers.fmt_mean(0.92, "acc") == "92.0"
    assert numbers.fmt_spread(1.414, "count") == "1.4"
    assert numbers.fmt_spread(0.01, "seconds") == "0.01"  # would round to 0.0: two significant digits
    assert numbers.fmt_spread(0.00002, "acc") == "0.002"
    assert numbers.fmt_spread(0.0141, "acc") == "1.4"
