"""The sweep section of a halved sweep, rendered from a fabricated
`sweeps/halving.json` in the workflow's format and history.csv files with the
columns training writes (tests/halving_files.py): the rung table, the epochs
spent against the full grid, every variant's validation curve up to where it
stopped (pruned ones greyed), and the winner chosen on validation with its test
accuracy. A missing key or file is an error naming it."""

from __future__ import annotations

import json
import re
import statistics

import pytest

import halving_files
import synthetic_runs
from cnncompare.report.halving import PRUNED, read_halving
from cnncompare.report.report_data import ReportDataError


def _render(base, monkeypatch, models=None, **write) -> tuple[str, dict]:
    """The report of the fabricated halved sweep, rendered as the rule does (paths relative to the folder
    Snakemake runs in)."""
    monkeypatch.chdir(base)
    written = halving_files.write(base, **write)
    page = synthetic_runs.render_written(base / "results" / "runs", base, models=models or halving_files.models(),
                                         halving=written["halving"])
    return page.read_text(), written


def _cells(row_html: str) -> list[str]:
    return re.findall(r"<td[^>]*>(.*?)</td>", row_html)


def test_the_halved_sweep_section(tmp_path, monkeypatch):
    html, written = _render(tmp_path, monkeypatch)
    part = re.search(r'<div class="halving" id="halving-custom_cnn-digits-three-0">(.*?)</table>', html, re.S).group(1)
    # The epochs spent against the full grid: 9 x 2 x 1 + 3 x 2 x 3 + 2 x 2 x 9 = 72 of 9 x 2 x 9 = 162.
    assert ("Successive halving (eta 3, first rung at epoch 1, bracket 0): 72 of 162 epochs, 44%, of what the full "
            "grid (9 variants × 2 seeds × 9 epochs) would train.") in part
    assert "2 of 9 variants reached the last rung (rung 2, epoch 9): the figures and the table below show them." in part
    overview = re.search(r'<ul class="overview" id="overview-sweeps">(.*?)</ul>', html, re.S).group(1)
    assert "custom_cnn on digits (a halved sweep of 9 variants, 2 of them at the last rung): validation accuracy" \
        in overview
    # The rung table.
    rows = [_cells(r) for r in re.findall(r"<tr data-rung[^>]*>(.*?)</tr>", part, re.S)]
    assert [r[:4] for r in rows] == [["0", "1", "9", "18"], ["1", "3", "3", "6"], ["2", "9", "2", "4"]]
    # Rung 0 ranks the fast starters first; lr 0.02, which would end best, is pruned at rung 1.
    assert rows[0][4] == "3: custom_cnn.lr-0.1, custom_cnn.lr-0.2, custom_cnn.lr-0.05"
    assert rows[1][4] == "2: custom_cnn.lr-0.05, custom_cnn.lr-0.1" and rows[1][5] == "custom_cnn.lr-0.1"
    assert rows[2][4] == "0" and rows[2][5] == "–" and [r[6] for r in rows] == ["yes"] * 3
    # The winner, chosen on validation, with its test accuracy: the mean over its two seeds' metrics.
    tests = [m["test_acc"] for m in written["metrics"] if m["model"] == "custom_cnn.lr-0.05"]
    assert (f"Winner, chosen on validation: custom_cnn.lr-0.05 (validation 95.0% (range 94.6–95.4%)"
            f", mean of 2 seeds); its test accuracy is {statistics.fmean(tests) * 100:.1f}%") in part


def test_each_variants_curve_stops_where_it_was_pruned(tmp_path, monkeypatch):
    html, _ = _render(tmp_path, monkeypatch)
    figure = re.search(r'<svg [^>]*data-key="halving".*?</svg>\s*</svg>|<svg [^>]*data-key="halving".*?</svg>',
                       html, re.S).group(0)
    halved = json.loads((tmp_path / "results/sweeps/halving.json").read_text())["groups"][0]
    lines = re.findall(r'<path class="line" d="M([^"]+)" fill="none" stroke="([^"]+)"[^>]*data-model="([^"]+)" '
                       r'data-pruned="(true|false)"', figure)
    assert len(lines) == 9
    for d, color, model, pruned in lines:
        variant = halved["variants"][model]
        assert len(d.split("L")) == variant["stopped_epoch"], model  # one point per epoch trained
        assert (pruned == "true") == variant["pruned"] and (color == PRUNED) == variant["pruned"]
    assert sum(p == "true" for *_, p in lines) == 7
    assert "<title>chosen: custom_cnn.lr-0.05</title>" in figure
    assert len(re.findall(r'class="rung"', figure)) == 3


def test_the_select_rule_and_its_front_cover_the_last_rung_only(tmp_path, monkeypatch):
    models = {name: {**texts, "sweep": {**texts["sweep"], "select": {"prefer": "params", "within": 1.0}}}
              for name, texts in halving_files.models().items()}
    html, _ = _render(tmp_path, monkeypatch, models=models)
    pareto = re.search(r'<svg [^>]*data-key="pareto".*?</svg>\s*</div>', html, re.S).group(0)
    assert sorted(re.findall(r'data-model="([^"]+)"><circle class="point"', pareto)) == [
        "custom_cnn.lr-0.05", "custom_cnn.lr-0.1"]
    assert "Winner, chosen by the select rule, on validation: custom_cnn.lr-0.05" in html


def test_a_sweep_whose_last_rung_has_not_run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    written = halving_files.write(tmp_path, unfinished=True)
    from cnncompare.report.study import Study
    from cnncompare.report.sweep_report import sweep_section

    section = sweep_section(Study.of([], models=halving_files.models()), read_halving(written["halving"]))
    (block,) = section["blocks"]
    assert block["table"] is None and block["note"].startswith("no variant of this halved sweep")
    lines = block["halving"][0]["lines"]
    assert "Not finished: rung 2 has not run yet." in lines
    assert "72 of 162 epochs" not in lines[0] and "36 of 162 epochs, 22%" in lines[0]
    assert "the plan's halving trains 72" in lines[0]


@pytest.mark.parametrize("break_it, expected", [
    (lambda g: g["rungs"][1].pop("tied"), "halving.json: groups[0].rungs[1] has no 'tied'"),
    (lambda g: g.pop("full_grid_epochs"), "halving.json: groups[0] has no 'full_grid_epochs'"),
    (lambda g: g["variants"]["custom_cnn.lr-0.5"]["history"].update({"1": "results/nowhere/history.csv"}),
     "halving.json: groups[0].variants.custom_cnn.lr-0.5.history.1: results/nowhere/history.csv does not exist"),
])
def test_a_broken_halving_json_is_an_error_naming_the_key_or_file(tmp_path, monkeypatch, break_it, expected):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / halving_files.write(tmp_path)["halving"]
    data = json.loads(path.read_text())
    break_it(data["groups"][0])
    path.write_text(json.dumps(data))
    with pytest.raises(ReportDataError, match=re.escape(expected)):
        read_halving(path)


def test_a_sweep_without_halving_shows_no_rungs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    halving_files.write(tmp_path)
    html = synthetic_runs.render_written(tmp_path / "results" / "runs", tmp_path,
                                         models=halving_files.models()).read_text()
    assert '<section id="sweeps">' in html and 'class="halving"' not in html and "Successive halving" not in html
