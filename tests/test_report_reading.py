"""Reading the report: each model has a marker as well as a colour, from a colour-blind-safe palette;
and, in a real browser at 1280 px, sorting keeps the protocols apart, the overview says when filters
leave its sentences covering more than is shown, and wide tables keep their first column in view."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import chromium
import synthetic_runs
from cnncompare.report import figures, svgplot
from cnncompare.report.aggregate import aggregate
from cnncompare.report.render import render_files
from conftest import REPO

OKABE_ITO = {"#E69F00", "#56B4E9", "#009E73", "#F0E442", "#0072B2", "#D55E00", "#CC79A7", "#000000"}


def test_the_palette_is_okabe_ito_and_each_model_has_its_own_marker():
    assert set(figures.PALETTE) <= OKABE_ITO and len(figures.PALETTE) == 7
    models = [f"model_{i}" for i in range(7)]
    colors = figures.model_colors(models)
    markers = figures.model_markers(models, colors)
    assert len(set(colors.values())) == 7 and len(set(markers.values())) == 7
    # Adding models keeps every existing model's marker; with more models than shapes, no two share
    # both colour and marker.
    more = models + [f"extra_{i}" for i in range(25)]
    more_colors = figures.model_colors(more)
    more_markers = figures.model_markers(more, more_colors)
    assert all(more_markers[m] == markers[m] for m in models)
    assert len({(more_colors[m], more_markers[m]) for m in more}) == len(more)


def _attr_sets(svg: str, tag_class: str) -> dict[str, set[str]]:
    """{model: the marker shapes drawn in its `tag_class` groups}."""
    found: dict[str, set[str]] = {}
    for attrs, body in re.findall(rf'<g class="{tag_class}"([^>]*)>(.*?)</g>', svg, re.S):
        model = re.search(r'data-model="([^"]+)"', attrs).group(1)
        shapes = set(re.findall(r'data-shape="([^"]+)"', body)) | ({"circle"} if "<circle" in body else set())
        found.setdefault(model, set()).update(shapes)
    return found


def test_curves_trade_offs_and_legends_draw_each_model_with_its_marker():
    models = ["custom_cnn", "vgg16", "vgg16_finetune", "resnet50"]
    colors = figures.model_colors(models)
    markers = figures.model_markers(models, colors)
    history = [{"epoch": e, "train_acc": 0.5 + e / 50, "val_acc": 0.5 + e / 40, "train_loss": 1 / e, "val_loss": 1 / e}
               for e in range(1, 11)]
    series = [{"dataset": "d", "split": "three", "model": m, "label": m, "histories": [history]} for m in models]
    svg = figures.curves_figure(series, "acc", colors, markers=markers)
    assert _attr_sets(svg, "markers") == {m: {markers[m]} for m in models}
    for m in models:  # in the legend too, beside the model's name
        entry = re.search(rf'data-legend-model="{m}">(.*?)</g>', svg, re.S).group(1)
        assert (f'data-shape="{markers[m]}"' in entry) or (markers[m] == "circle" and "<circle" in entry)
    points = [{"dataset": "d", "split": "three", "model": m, "label": m, "x": i + 1.0, "y": 0.8 + i / 100}
              for i, m in enumerate(models)]
    svg = figures.tradeoff_figure(points, "seconds", colors, markers)
    for m in models:
        mark = re.search(rf'<g class="mark"[^>]*data-model="{m}"[^>]*>(.*?)</g>', svg, re.S).group(1)
        assert (f'data-shape="{markers[m]}"' in mark) or (markers[m] == "circle" and 'fill-opacity="0"' not in mark)
        assert 'class="point"' in mark  # the hover still finds it


def test_every_marker_shape_is_drawn():
    for shape in svgplot.MARKERS:
        drawn = svgplot.marker(shape, 10, 10, 3, "#000")
        assert drawn.startswith(("<circle", "<path")) and ("d=" in drawn or 'r="3"' in drawn)


@pytest.fixture(scope="module")
def page(tmp_path_factory) -> Path:
    """A report of four models on both splits, one seed: tables wider than 1280 px."""
    results = tmp_path_factory.mktemp("reading") / "results"
    synthetic_runs.write_grid(results, seeds=1)
    metrics = sorted(results.glob("runs/**/metrics.json"))
    aggregate(metrics, [m.with_name("history.csv") for m in metrics], results / "summary.csv",
              results / "history.csv", [m.with_name("train.benchmark.tsv") for m in metrics],
              [m.with_name("evaluate.benchmark.tsv") for m in metrics])
    out = results / "report.html"
    render_files(results / "summary.csv", results / "history.csv", REPO / "report/report.html.j2", out,
                 metrics=metrics, confusion=[m.with_name("confusion.csv") for m in metrics],
                 misclassified=[m.with_name("misclassified.npz") for m in metrics])
    return out


def test_in_chromium_at_1280_px_sorting_filters_and_wide_tables_read_right(page):
    if chromium.find_chromium() is None:
        pytest.skip("no chromium on this machine (CI installs Debian's chromium)")
    with chromium.Browser() as browser:
        browser.open(page.as_uri(), 1280, 900)
        sorted_rows = browser.evaluate("""(() => {
            const table = document.querySelector('#metrics-table');
            const th = [...table.querySelectorAll('thead tr:last-child th')].find(h => h.textContent === 'test');
            th.click();
            return [...table.querySelectorAll('tbody tr')].map(r => [r.dataset.split,
                                                                     parseFloat(r.cells[th.cellIndex].dataset.value)]);
        })()""")
        filtered = browser.evaluate("""(() => {
            const note = document.getElementById('overview-filtered');
            const before = note.hidden;
            const box = document.querySelector('input[data-filter="model"]');
            box.click();
            const during = note.hidden;
            box.click();
            return [before, during, note.hidden];
        })()""")
        sticky = browser.evaluate("""(() => {
            const table = document.querySelector('#costs-table');
            const wrap = table.closest('.table-wrap');
            const first = table.querySelector('tbody tr td');
            const wide = wrap.scrollWidth > wrap.clientWidth;
            wrap.scrollLeft = 600;
            return [wide, wrap.scrollLeft, Math.round(first.getBoundingClientRect().left - wrap.getBoundingClientRect().left),
                    document.documentElement.scrollWidth <= document.documentElement.clientWidth];
        })()""")
        errors = browser.console_errors()
    assert errors == []
    splits = [s for s, _ in sorted_rows]
    assert splits == ["three"] * 4 + ["two"] * 4  # the headline protocol first, never interleaved
    for split in ("three", "two"):
        values = [v for s, v in sorted_rows if s == split]
        assert values == sorted(values)
    assert filtered == [True, False, True]
    wide, scrolled, offset, page_fits = sticky
    assert wide and scrolled > 0 and offset == 0 and page_fits
