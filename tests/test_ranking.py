"""Ranking models over several data sets (Demšar 2006): average ranks, the Friedman test and the
Nemenyi critical difference, recomputed here from the runs' accuracies with scipy and by hand,
independently of cnncompare/report/ranking.py."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
from scipy import stats

from cnncompare.report.ranking import critical_difference, ranking_section
from cnncompare.report.study import Study

# accuracy[data set][model]: five data sets, four models; d's last two models tie on "e".
ACCURACY = {
    "a": {"m1": 0.95, "m2": 0.90, "m3": 0.85, "m4": 0.80},
    "b": {"m1": 0.93, "m2": 0.91, "m3": 0.80, "m4": 0.82},
    "c": {"m1": 0.97, "m2": 0.92, "m3": 0.88, "m4": 0.70},
    "d": {"m1": 0.89, "m2": 0.93, "m3": 0.84, "m4": 0.81},
    "e": {"m1": 0.96, "m2": 0.94, "m3": 0.83, "m4": 0.83},
}


def _rows(accuracy: dict, split: str = "three", seeds=(0,)) -> list[dict]:
    return [{"dataset": d, "split": split, "model": m, "seed": s, "status": "completed",
             "test_acc": acc + 0.001 * s} for d, models in accuracy.items() for m, acc in models.items()
            for s in seeds]


def test_demsar_table_values_of_q():
    """Demšar 2006, table 5(a): q_0.05 for k = 2..6 models, as printed (three decimals)."""
    for k, q in ((2, 1.960), (3, 2.343), (4, 2.569), (5, 2.728), (6, 2.850)):
        assert critical_difference(k, 10)[0] == pytest.approx(q, abs=1e-3)


def test_ranks_friedman_and_cd_agree_with_scipy():
    found = ranking_section(Study.of(_rows(ACCURACY, seeds=(0, 1))))
    assert len(found) == 1
    ranked = found[0]
    models, n = ["m1", "m2", "m3", "m4"], len(ACCURACY)
    table = np.array([[ACCURACY[d][m] for m in models] for d in ACCURACY])  # seeds move every model alike
    # Ranks by hand: 1 for the highest; the tie on e shares 3.5.
    by_hand = {"m1": (1 + 1 + 1 + 2 + 1) / 5, "m2": (2 + 2 + 2 + 1 + 2) / 5, "m3": (3 + 4 + 3 + 3 + 3.5) / 5,
               "m4": (4 + 3 + 4 + 4 + 3.5) / 5}
    assert ranked["ranks"] == pytest.approx(by_hand)
    chi2, p = stats.friedmanchisquare(*table.T)
    assert (ranked["statistic"], ranked["p"]) == (pytest.approx(chi2), pytest.approx(p))
    # Friedman's statistic from the average ranks (Demšar's equation), with scipy's tie correction.
    r = np.array([by_hand[m] for m in models])
    k = len(models)
    plain = 12 * n / (k * (k + 1)) * (np.sum(r ** 2) - k * (k + 1) ** 2 / 4)
    ties = 1 - (2 ** 3 - 2) / (n * (k ** 3 - k))  # one tie of two on one data set
    assert chi2 == pytest.approx(plain / ties)
    q = stats.studentized_range.ppf(0.95, k, np.inf) / math.sqrt(2)
    assert ranked["cd"] == pytest.approx(q * math.sqrt(k * (k + 1) / (6 * n)))
    # Ranks 1.2, 1.8, 3.3, 3.7 against CD 2.10: m3 is 2.1 behind m1 (not within), 1.5 behind m2 (within).
    assert ranked["cd"] == pytest.approx(2.0977, abs=1e-3)
    assert ranked["cliques"] == [["m1", "m2"], ["m2", "m3", "m4"]]
    svg = ranked["svg"]
    assert dict(re.findall(r'data-model="([^"]+)" data-rank="([^"]+)"', svg)) == {
        m: f"{v:.6g}" for m, v in by_hand.items()}
    assert "CD = 2.10" in svg
    assert any("scipy.stats.friedmanchisquare" in line for line in ranked["methods"])
    assert any("scipy.stats.studentized_range" in line for line in ranked["methods"])


def test_protocols_are_ranked_apart_and_small_studies_are_not_ranked():
    rows = _rows(ACCURACY) + _rows({d: ACCURACY[d] for d in "ab"}, split="two")
    found = {r["split"]: r for r in ranking_section(Study.of(rows))}
    assert set(found) == {"three", "two"} and found["two"]["datasets"] == ["a", "b"]
    # One data set, or two models: nothing to rank.
    assert ranking_section(Study.of(_rows({"a": ACCURACY["a"]}))) == []
    assert ranking_section(Study.of(_rows({d: {"m1": 0.9, "m2": 0.8} for d in "abc"}))) == []


def test_only_models_run_on_every_data_set_are_ranked():
    accuracy = {d: dict(models) for d, models in ACCURACY.items()}
    accuracy["a"]["only_on_a"] = 0.99
    ranked = ranking_section(Study.of(_rows(accuracy)))[0]
    assert ranked["models"] == ["m1", "m2", "m3", "m4"]


def test_the_page_shows_the_ranks_with_one_line_per_method(tmp_path):
    import synthetic_runs
    from conftest import REPO
    from cnncompare.report.render import render
    from cnncompare.report.report_data import read_run_files

    rows, files = [], []
    for d, models in ACCURACY.items():
        for m, acc in models.items():
            folder = tmp_path / d / m
            rows.append(synthetic_runs.write_run(folder, d, "three", m, 0, accuracy=acc, epoch_seconds=1.0,
                                                 params=1000, epochs=2, extra={"test_acc": acc}))
            files.append(read_run_files(folder / "metrics.json", folder / "confusion.csv",
                                        folder / "misclassified.npz"))
    out = tmp_path / "report.html"
    render(rows, [], files, REPO / "report/report.html.j2", out)
    html = out.read_text()
    section = re.search(r'<section id="ranks">(.*?)</section>', html, re.S).group(1)
    assert len(re.findall(r"<ul class=\"methods\">", section)) == 1
    assert len(re.findall(r"<li>", section)) == 3  # average ranks, Friedman, Nemenyi CD
    assert "chi-square = " in section and "CD = 2.10" in section
    overview = re.search(r'<ul class="overview" id="overview-ranks">(.*?)</ul>', html, re.S).group(1)
    assert "m1 has the best average rank (1.20)" in overview and "m2 is within the critical difference" in overview


def test_models_that_tie_on_every_data_set_cannot_be_told_apart():
    ranked = ranking_section(Study.of(_rows({d: {"m1": 0.9, "m2": 0.9, "m3": 0.9} for d in "abc"})))[0]
    assert ranked["ranks"] == {"m1": 2.0, "m2": 2.0, "m3": 2.0}
    assert "cannot be told apart" in ranked["verdict"]
