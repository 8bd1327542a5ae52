"""The report's paired comparisons (cnncompare/report/comparisons.py) on
predictions files whose truth is known: each p-value and interval is
recomputed here from the files themselves with scipy (or by hand), not through
the report's code, and compared with what the report states."""

from __future__ import annotations

import csv
import html as html_lib
import json
import math
import re
from pathlib import Path

import numpy as np
import pytest
from scipy import stats as scipy_stats

from cnncompare.columns import PREDICTIONS_COLUMNS
from cnncompare.report import comparisons
from cnncompare.report.findings import overview, seed_comparison
from cnncompare.report.paper_table import accuracy_text
from cnncompare.report.render import build_page, render_page
from cnncompare.report.report_data import ReportDataError, read_run_files
from cnncompare.report.stats import mean_interval, wilson_interval
from cnncompare.report.study import Study

REPO = Path(__file__).resolve().parents[1]
N_IMAGES = 360
CLASSES = 10
TRUE = np.arange(N_IMAGES) % CLASSES


def predicted_with_errors(wrong: set[int] | range) -> np.ndarray:
    """Right on every image but those in `wrong`, which are taken for the next class."""
    predicted = TRUE.copy()
    for i in wrong:
        predicted[i] = (TRUE[i] + 1) % CLASSES
    return predicted


def write_run(folder: Path, model: str, seed: int, predicted: np.ndarray, split: str = "three",
              dataset: str = "digits") -> tuple[dict, dict]:
    """A run's metrics.json and predictions.csv, written by hand; returns its summary row and its files."""
    run_dir = folder / dataset / split / model / f"seed{seed}"
    run_dir.mkdir(parents=True, exist_ok=True)
    row = {"dataset": dataset, "split": split, "model": model, "seed": seed, "status": "completed",
           "test_acc": float(np.mean(predicted == TRUE)), "test_size": N_IMAGES, "tested_epoch": 3}
    (run_dir / "metrics.json").write_text(json.dumps(row))
    with open(run_dir / "predictions.csv", "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["index", "true", "predicted", "probability"])
        for i in range(N_IMAGES):
            writer.writerow([100 + i, int(TRUE[i]), int(predicted[i]), 0.75])
    return row, read_run_files(str(run_dir / "metrics.json"), predictions=str(run_dir / "predictions.csv"))


def study_of(folder: Path, runs: dict[tuple[str, int], np.ndarray], split: str = "three") -> Study:
    rows, files = [], {}
    for (model, seed), predicted in runs.items():
        row, found = write_run(folder, model, seed, predicted, split)
        rows.append(row)
        files[found["label"]] = found
    return Study.build(rows, [], files)


def right_from_file(path: Path) -> np.ndarray:
    """Whether each image was right, read from a predictions.csv without the report's reader."""
    with open(path, newline="") as fh:
        return np.array([r["true"] == r["predicted"] for r in csv.DictReader(fh)])


def run_file(folder, model, seed, split="three") -> Path:
    return folder / "digits" / split / model / f"seed{seed}" / "predictions.csv"


def only_pair(study: Study):
    [compared] = study.comparisons.values()
    [pair] = compared.pairs
    return pair


# --- McNemar ----------------------------------------------------------------------------------------------


def test_two_models_that_agree_on_every_image_give_p_1(tmp_path):
    same = predicted_with_errors(range(0, 40))
    study = study_of(tmp_path, {("a", 0): same, ("b", 0): same.copy()})
    pair = only_pair(study)
    a, b = right_from_file(run_file(tmp_path, "a", 0)), right_from_file(run_file(tmp_path, "b", 0))
    assert not np.any(a != b)  # no discordant image: McNemar's test has nothing to count
    assert pair.p == 1.0 and pair.p_adjusted == 1.0 and not pair.told_apart
    assert pair.interval == (0.0, 0.0)
    assert "cannot be told apart" in seed_comparison(study)[0]["pairs"][0]["verdict"]


def test_thirty_images_in_one_direction_give_the_exact_binomial_p(tmp_path):
    # a errs on 10 images; b on those 10 and 30 more: 30 discordant images, all in a's favour.
    study = study_of(tmp_path, {("a", 0): predicted_with_errors(range(10)),
                                ("b", 0): predicted_with_errors(range(40))})
    pair = only_pair(study)
    a, b = right_from_file(run_file(tmp_path, "a", 0)), right_from_file(run_file(tmp_path, "b", 0))
    a_only, b_only = int(np.sum(a & ~b)), int(np.sum(~a & b))
    assert (a_only, b_only) == (30, 0)
    expected = scipy_stats.binomtest(a_only, a_only + b_only, 0.5).pvalue
    assert expected == pytest.approx(2 * 0.5 ** 30, rel=1e-12)
    assert pair.p == pytest.approx(expected, rel=1e-12)
    assert pair.seeds[0].test == {"a_only": 30, "b_only": 0, "p": pytest.approx(expected, rel=1e-12)}
    assert pair.told_apart and pair.diff == pytest.approx(30 / N_IMAGES)


def test_holm_adjusts_a_known_set():
    # Sorted: 0.005 x 4 = 0.02, 0.01 x 3 = 0.03, 0.03 x 2 = 0.06, 0.04 x 1 = 0.04 -> 0.06 (never below the one before).
    assert comparisons.holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert comparisons.holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])  # capped at 1
    assert comparisons.holm([]) == []


def test_the_pairs_of_a_setting_are_holm_corrected_together(tmp_path):
    runs = {("a", 0): predicted_with_errors(range(10)), ("b", 0): predicted_with_errors(range(22)),
            ("c", 0): predicted_with_errors(range(40))}
    study = study_of(tmp_path, runs)
    [compared] = study.comparisons.values()
    right = {m: right_from_file(run_file(tmp_path, m, 0)) for m in "abc"}
    raw = {}
    for x, y in [("a", "b"), ("a", "c"), ("b", "c")]:
        k, n = int(np.sum(right[x] & ~right[y])), int(np.sum(right[x] != right[y]))
        raw[(x, y)] = scipy_stats.binomtest(k, n).pvalue
    # Holm by hand: the smallest times 3, the next times 2 (or the one before), the last times 1.
    ordered = sorted(raw, key=raw.get)
    expected, running = {}, 0.0
    for rank, key in enumerate(ordered):
        running = max(running, min(1.0, (3 - rank) * raw[key]))
        expected[key] = running
    found = {(p.a.model, p.b.model): p.p_adjusted for p in compared.pairs}
    assert found == pytest.approx(expected, rel=1e-12)
    smallest = ordered[0]
    assert found[smallest] == pytest.approx(3 * raw[smallest], rel=1e-12)  # the correction did something


# --- the bootstrap ------------------------------------------------------------------------------------------


def test_the_bootstrap_interval_is_scipys_on_the_same_draws(tmp_path):
    study = study_of(tmp_path, {("a", 0): predicted_with_errors(set(range(0, 30)) | {200, 201}),
                                ("b", 0): predicted_with_errors(set(range(20, 62)))})
    pair = only_pair(study)
    a, b = right_from_file(run_file(tmp_path, "a", 0)), right_from_file(run_file(tmp_path, "b", 0))
    # A paired bootstrap of mean(a) - mean(b) resamples images together: the same draws as a one-sample
    # bootstrap of the per-image differences.
    found = scipy_stats.bootstrap(((a.astype(float) - b.astype(float)),), np.mean, n_resamples=9999,
                                  method="percentile", confidence_level=0.95, random_state=np.random.default_rng(0))
    low, high = pair.interval
    assert (low, high) == pytest.approx((found.confidence_interval.low, found.confidence_interval.high), abs=1e-12)
    assert low < np.mean(a) - np.mean(b) < high and -1 <= low and high <= 1
    # The same files give the same report.
    assert study_of(tmp_path / "again", {("a", 0): predicted_with_errors(set(range(0, 30)) | {200, 201}),
                                         ("b", 0): predicted_with_errors(set(range(20, 62)))}) \
        .comparisons[("digits", "three")].pairs[0].interval == (low, high)


def test_several_seeds_give_paired_differences_their_interval_and_p_beats(tmp_path):
    errors = {"a": [range(10), range(12), range(15)], "b": [range(20), range(18), range(30)]}
    study = study_of(tmp_path, {(m, s): predicted_with_errors(e) for m, per in errors.items()
                                for s, e in enumerate(per)})
    pair = only_pair(study)
    diffs = [np.mean(right_from_file(run_file(tmp_path, "a", s))) - np.mean(right_from_file(run_file(tmp_path, "b", s)))
             for s in range(3)]
    assert [s.diff for s in pair.seeds] == pytest.approx(diffs) and pair.diff == pytest.approx(np.mean(diffs))
    found = scipy_stats.bootstrap((np.array(diffs),), np.mean, n_resamples=9999, method="percentile",
                                  random_state=np.random.default_rng(0))
    assert pair.interval == pytest.approx((found.confidence_interval.low, found.confidence_interval.high))
    # a's every seed beats b's every seed: 9 of 9 seed pairs.
    assert pair.beats == 1.0
    # The pair's p: the largest of the three McNemar p's.
    per_seed = [scipy_stats.binomtest(len(errors["b"][s]) - len(errors["a"][s]),
                                      len(errors["b"][s]) - len(errors["a"][s])).pvalue for s in range(3)]
    assert pair.p == pytest.approx(max(per_seed))
    text = seed_comparison(study)[0]["pairs"][0]["text"]
    assert "over the 3 seeds both ran" in text and "bootstrap over seeds" in text and "3 × 3 seed pairs" in text


def test_seeds_that_disagree_on_the_sign_never_tell_a_pair_apart(tmp_path):
    study = study_of(tmp_path, {("a", 0): predicted_with_errors(range(0)), ("a", 1): predicted_with_errors(range(60)),
                                ("b", 0): predicted_with_errors(range(50)), ("b", 1): predicted_with_errors(range(0))})
    pair = only_pair(study)
    assert pair.seeds_disagree and pair.p == 1.0 and not pair.told_apart
    assert "the seeds disagree on which is better" in seed_comparison(study)[0]["pairs"][0]["text"]


# --- honest small samples -----------------------------------------------------------------------------------


def test_three_seeds_against_one_produce_a_true_sentence(tmp_path):
    study = study_of(tmp_path, {("a", 0): predicted_with_errors(range(10)), ("a", 1): predicted_with_errors(range(12)),
                                ("a", 2): predicted_with_errors(range(14)), ("b", 0): predicted_with_errors(range(30))})
    [entry] = seed_comparison(study)
    [row] = entry["pairs"]
    text = row["text"]
    assert "one seed each" not in text and "no interval over seeds" not in text
    assert text.startswith("a (3 seeds) − b (1 seed): ")
    assert "on the seed both ran (seed 0)" in text
    assert "P(a beats b) = 1.00 over the 3 × 1 seed pairs" in text
    # The difference stated is seed 0's paired difference, and its interval is over that seed's images.
    a, b = right_from_file(run_file(tmp_path, "a", 0)), right_from_file(run_file(tmp_path, "b", 0))
    assert f"{(np.mean(a) - np.mean(b)) * 100:+.1f} points" in text and "over 360 test images" in text


def test_the_difference_carries_the_differences_error_not_the_top_models_own(tmp_path):
    # One seed each, 93.9% against 93.1% on 360 images (the case): the difference's interval is
    # wider than the top model's own sampling error, and the overview names both models, not one winner.
    study = study_of(tmp_path, {("a", 0): predicted_with_errors(set(range(22))),
                                ("b", 0): predicted_with_errors(set(range(5, 30)))})
    pair = only_pair(study)
    low, high = pair.interval
    p_a = study.rows[0]["test_acc"]
    own_half = 1.96 * math.sqrt(p_a * (1 - p_a) / N_IMAGES)
    assert low < 0 < high and not pair.told_apart
    lines = overview(study)["datasets"][0]["lines"]
    assert lines[0].startswith("Three splits") and "a and b cannot be told apart" in lines[0]
    assert "The data cannot tell a apart from b" in lines[1]
    assert (high - low) / 2 != pytest.approx(own_half, rel=0.05)


def test_two_seeds_show_each_value_and_no_t_interval():
    found = mean_interval([0.90, 0.95])
    assert found["half"] is None and (found["min"], found["max"]) == (0.90, 0.95)
    assert accuracy_text(found) == "92.5 (range 90.0–95.0, n=2)"
    assert mean_interval([0.9])["half"] is None


def test_no_interval_reaches_past_100_percent():
    found = mean_interval([0.999, 0.95, 0.998])
    assert found["mean"] + found["half"] > 1  # Student's t would reach past 100%
    assert found["clipped"] and found["high"] == 1.0 and found["low"] >= 0
    assert re.fullmatch(r"98\.2 \[\d+\.\d, 100\.0\] \(n=3\)", accuracy_text(found))
    assert accuracy_text(mean_interval([0.90, 0.91, 0.92])) == "91.0 ± 2.5 (n=3)"


def test_one_runs_interval_is_wilsons():
    low, high = wilson_interval(338, 360)
    # Wilson's score interval by its formula.
    p, n, z = 338 / 360, 360, scipy_stats.norm.ppf(0.975)
    centre, half = (p + z * z / (2 * n)) / (1 + z * z / n), z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    assert (low, high) == pytest.approx((centre - half, centre + half), rel=1e-9)
    assert wilson_interval(360, 360)[1] == pytest.approx(1.0)  # never past 100%


# --- what the report shows ------------------------------------------------------------------------------------


def test_the_comparisons_section_shows_every_pair(tmp_path):
    runs = {("a", 0): predicted_with_errors(range(10)), ("b", 0): predicted_with_errors(range(40)),
            ("c", 0): predicted_with_errors(range(12))}
    study = study_of(tmp_path, runs)
    page = build_page(list(study.rows), [], study.run_files)
    html = render_page(page, REPO / "report" / "report.html.j2")
    section = html[html.index('<section id="seeds">'):html.index('<section id="not-completed">')]
    table = section[section.index('id="comparison-digits-three"'):]
    rows = re.findall(r"<tr data-dataset[^>]*>(.*?)</tr>", table[:table.index("</table>")], re.S)
    assert [re.sub(r"<[^>]+>", "|", r).strip("|").split("|")[0] for r in rows] == ["a − c", "a − b", "c − b"]
    assert "a higher" in rows[1] and "cannot be told apart" in rows[0]
    assert section.count("<li>") >= len(comparisons.METHODS) + 3
    for line in comparisons.METHODS:
        assert line in html_lib.unescape(section)
    assert 'href="#seeds">Comparisons</a>' in html


def test_a_run_without_predictions_is_listed_not_tested(tmp_path):
    rows = [{"dataset": "d", "split": "three", "model": m, "seed": 0, "status": "completed", "test_acc": acc,
             "test_size": 100} for m, acc in (("a", 0.9), ("b", 0.8))]
    pair = only_pair(Study.of(rows))
    assert pair.p is None and pair.why_unpaired == "a run has no predictions.csv" and not pair.told_apart
    assert "not tested (a run has no predictions.csv)" in seed_comparison(Study.of(rows))[0]["pairs"][0]["text"]


def test_a_broken_predictions_file_names_itself(tmp_path):
    path = tmp_path / "predictions.csv"
    path.write_text("index,true,guess\n1,2,3\n")
    (tmp_path / "metrics.json").write_text(json.dumps({"dataset": "d", "split": "three", "model": "a", "seed": 0}))
    with pytest.raises(ReportDataError, match=re.escape(str(path))):
        read_run_files(str(tmp_path / "metrics.json"), predictions=str(path))
    assert PREDICTIONS_COLUMNS == ["index", "true", "predicted", "probability"]
