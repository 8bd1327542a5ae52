"""The report of a 200-run grid (4 models x 2 splits x 25 seeds): every run's
files are written by the test (tests/synthetic_runs.py), then Snakemake runs
the real aggregate_results and render_report rules on them. The page must stay
under 10 MB, render in headless Chromium in under 3 s, group what it shows
(never 200 legend entries), and be explorable: a legend click hides a model
everywhere, the split filter hides the other split's rows and points, hovering
a point shows its value; with no console error and no network request."""

from __future__ import annotations

import os
import re
import time

import pytest

import chromium
import synthetic_runs
from conftest import snakemake, write_config

pytestmark = pytest.mark.workflow

SEEDS = 25
MAX_BYTES = 10 * 10**6
MAX_SECONDS = 3.0


@pytest.fixture(scope="module")
def grid(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("grid200")
    results = workdir / "results"
    synthetic_runs.write_grid(results, SEEDS)
    config = {
        "results_dir": str(results), "data_dir": str(workdir / "data"), "device": "cpu",
        "models": {name: {"arch": "custom_cnn", "epochs": 20} for name in synthetic_runs.MODELS},
        "compare": {"datasets": ["digits"], "splits": ["two", "three"], "models": list(synthetic_runs.MODELS),
                    "seeds": list(range(SEEDS))},
    }
    configfile = write_config(workdir / "config.yaml", config)
    start = time.monotonic()
    proc = snakemake(workdir, configfile, "--allowed-rules", "aggregate_results", "render_report")
    seconds = time.monotonic() - start
    log = proc.stdout + proc.stderr
    return {"results": results, "log": log, "snakemake_seconds": seconds, "page": results / "report.html"}


def test_only_the_report_rules_ran_for_real(grid):
    jobs = re.findall(r"^(?:local)?rule (\w+):", grid["log"], re.M)
    assert sorted(jobs) == ["aggregate_results", "all", "render_report"]
    print(f"aggregate_results and render_report of 200 runs through Snakemake: {grid['snakemake_seconds']:.1f} s")
    summary = (grid["results"] / "summary.csv").read_text().splitlines()
    assert len(summary) == 1 + 200
    assert len(list((grid["results"] / "figures").rglob("*.svg"))) == 4 + 200 * 2


def test_the_page_groups_and_stays_small(grid):
    html = grid["page"].read_text()
    size = len(html.encode())
    print(f"200-run report: {size:,} bytes")
    assert size < MAX_BYTES
    # Legends by model: 4 entries in each comparison figure, never one per run.
    for figure in ("accuracy", "loss", "tradeoff-time", "tradeoff-params"):
        svg = re.search(rf'id="figure-{figure}">(<svg.*?</svg>)</div>', html, re.S).group(1)
        assert len(re.findall(r'class="legend-entry"', svg)) == 4, figure
    assert html.count('<details class="run-group"') == 8  # per model and split, seeds inside
    assert "(mean of 25 seeds)" in html


def _require_chromium():
    if chromium.find_chromium() is None:
        if os.environ.get("CI") == "true":
            pytest.fail("CI=true but no chromium: .ci/run must install Debian's chromium")
        pytest.skip("no chromium on this machine (CI installs Debian's chromium)")


def test_it_renders_fast_and_is_explorable_offline(grid, tmp_path):
    _require_chromium()
    uri = grid["page"].as_uri()
    with chromium.Browser() as browser:
        # Best of three loads: the first also starts the renderer, and this machine may be shared.
        seconds = min(browser.open(uri) for _ in range(3))
        print(f"200-run report: loaded and laid out in {seconds:.2f} s (best of 3), load average "
              f"{os.getloadavg()[0]:.1f}")
        browser.screenshot(tmp_path / "first-screen.png", 1280, 900)

        # The page never scrolls sideways: the wide cost table scrolls inside its own box.
        page_width, window_width, table_scrolls = browser.evaluate("""(() => {
            const wrap = document.querySelector('#costs-grouped-table').closest('.table-wrap');
            return [document.documentElement.scrollWidth, window.innerWidth,
                    wrap.scrollWidth > wrap.clientWidth && getComputedStyle(wrap).overflowX === 'auto'];
        })()""")
        assert page_width <= window_width and table_scrolls

        # A legend click (a real mouse click on the entry) hides that model's curves, in every figure.
        visible = """(sel) => [...document.querySelectorAll(sel)].filter(e => e.getClientRects().length > 0).length"""
        lines = f"({visible})('#figure-accuracy path.line[data-model=\"vgg16\"]')"
        assert browser.evaluate(lines) == 4  # train and validation, two splits
        browser.mouse(*browser.centre_of('#figure-accuracy [data-legend-model="vgg16"]'), click=True)
        assert browser.evaluate(lines) == 0
        assert browser.evaluate(f"({visible})('#figure-loss path.line[data-model=\"vgg16\"]')") == 0
        assert browser.evaluate(f"({visible})('#figure-tradeoff-time circle.point')") == 2 * 3
        assert browser.evaluate(f"({visible})('#results-table tbody tr')") == 3
        browser.mouse(*browser.centre_of('#figure-loss [data-legend-model="vgg16"]'), click=True)  # and back
        assert browser.evaluate(lines) == 4

        # The split filter: unticking 'two' hides the two-split rows, columns, points and curves.
        splits_shown = """(sel) => [...new Set([...document.querySelectorAll(sel)]
            .filter(e => e.getClientRects().length > 0).map(e => e.closest('[data-split]').dataset.split))].sort()"""
        selectors = ["#metrics-grouped-table tbody tr", "#costs-grouped-table tbody tr", "#best-table tbody tr",
                     "#results-table td[data-split]", "#figure-tradeoff-time circle.point", "#figure-accuracy path.line"]
        for selector in selectors:
            assert browser.evaluate(f"({splits_shown})('{selector}')") == ["three", "two"], selector
        browser.mouse(*browser.centre_of('input[data-filter="split"][value="two"]'), click=True)
        assert browser.evaluate("""document.querySelector('input[data-filter="split"][value="two"]').checked""") is False
        for selector in selectors:
            assert browser.evaluate(f"({splits_shown})('{selector}')") == ["three"], selector
        browser.mouse(*browser.centre_of('input[data-filter="split"][value="two"]'), click=True)

        # Hovering a point shows its run and value; hovering a curve, the epoch's.
        browser.mouse(*browser.centre_of('#figure-tradeoff-params circle.point'))
        tip = browser.evaluate("[document.getElementById('tooltip').hidden, document.getElementById('tooltip').textContent]")
        assert tip[0] is False and re.search(r"digits/three/\w+: \d+\.\d% ± \d\.\d at ", tip[1]), tip
        x, y = browser.evaluate("""(() => {
            const path = document.querySelector('#figure-accuracy path.line[data-part="val"]');
            path.scrollIntoView({block: "center"});
            const [px, py] = path.getAttribute('d').slice(1).split('L')[3].split(',').map(Number);
            const m = path.getScreenCTM();
            return [m.a * px + m.c * py + m.e, m.b * px + m.d * py + m.f];
        })()""")
        browser.mouse(x, y)
        tip = browser.evaluate("document.getElementById('tooltip').textContent")
        assert re.search(r"\(mean of 25 seeds\) · validation · epoch 4: \d+\.\d% ± \d\.\d", tip), tip

        errors, urls = browser.console_errors(), browser.requested_urls()
    assert errors == []
    assert urls and all(u == uri or u.startswith("data:") for u in urls), set(urls) - {uri}
    assert seconds < MAX_SECONDS
