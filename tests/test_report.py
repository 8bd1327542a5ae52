"""The report: its statistics, its content against summary.csv, a real browser,
Snakemake's own report, and what each kind of change re-runs.

The workflow tests run a copy of the workflow (Snakefile, rules, scripts,
template) made a git checkout of its own, so a test can edit the template and
check the commit the report names without touching this repository.
"""

from __future__ import annotations

import csv
import html as html_lib
import os
import re
import shutil
import statistics
import subprocess
import zipfile
from pathlib import Path

import numpy as np
import pytest
import yaml
from scipy import stats as scipy_stats

import chromium
from conftest import REPO, planned_jobs, snakemake, tiny_config, write_config
from cnncompare.aggregate import read_benchmark
from cnncompare.evaluation import pick_misclassified
from cnncompare.figures import curves_figure
from cnncompare.findings import overview, seed_comparison
from cnncompare.report import _curve_series, failed_run_row, number
from cnncompare.stats import pareto_front, welch_interval
from cnncompare import tables

COLUMNS = {c.source(): c for c in tables.METRIC_COLUMNS + tables.COST_COLUMNS if c.source()}

SCRIPT_TEXT = "<script>alert('x')</script> & more"


# --- the statistics, on numbers small enough to check by hand ---------------------------------------


def test_pareto_front_keeps_only_points_nothing_beats():
    # (cost, accuracy): b is beaten by a (cheaper, as accurate), d by c.
    points = [(1.0, 0.8), (2.0, 0.8), (3.0, 0.9), (4.0, 0.85), (0.5, 0.5)]
    assert pareto_front(points) == [4, 0, 2]


def test_welch_interval_agrees_with_scipy():
    a, b = [0.91, 0.93, 0.92], [0.88, 0.90]
    found = welch_interval(a, b)
    expected = scipy_stats.ttest_ind(a, b, equal_var=False).confidence_interval(0.95)
    assert found["diff"] == pytest.approx(statistics.fmean(a) - statistics.fmean(b))
    assert (found["low"], found["high"]) == pytest.approx((expected.low, expected.high))
    assert welch_interval([0.9], [0.8, 0.7]) is None  # one seed: no spread to estimate


def test_seed_comparison_names_the_best_two_with_their_interval():
    rows = [
        {"dataset": "d", "split": "three", "model": m, "seed": s, "status": "completed", "test_acc": acc,
         "test_size": 1000}
        for m, accs in {"a": [0.90, 0.92], "b": [0.80, 0.84], "c": [0.85, 0.86]}.items()
        for s, acc in enumerate(accs)
    ]
    [entry] = seed_comparison(rows)
    assert (entry["first"], entry["second"]) == ("d/three/a", "d/three/c")
    assert entry["interval"]["diff"] == pytest.approx(0.91 - 0.855)
    assert "95% interval" in entry["text"]
    one_seed = [r for r in rows if r["seed"] == 0]
    [entry] = seed_comparison(one_seed)
    assert "no interval over seeds" in entry["text"] and "1,000 images" in entry["text"]


def test_results_are_grouped_by_data_set():
    def run(dataset, model, acc, seconds):
        return {"dataset": dataset, "split": "two", "model": model, "seed": 0, "status": "completed",
                "test_acc": acc, "train_seconds": seconds, "tested_epoch": 2, "params_trainable": 1000}

    rows = [run("cifar10", "big", 0.9, 100.0), run("cifar10", "small", 0.8, 10.0),
            run("mnist", "big", 0.99, 50.0), run("mnist", "small", 0.98, 5.0)]
    lines = overview(rows)
    # Each data set has its own best run: mnist's 99% does not hide cifar10's best.
    assert any(line.startswith("On cifar10: cifar10/two/big/seed0 reached the highest") for line in lines)
    assert any(line.startswith("On mnist: mnist/two/big/seed0 reached the highest") for line in lines)
    history = [{**{k: r[k] for k in ("dataset", "split", "model", "seed")}, "epoch": e, "train_acc": 0.5,
                "val_acc": 0.5, "train_loss": 1.0, "val_loss": 1.0} for r in rows for e in (1, 2)]
    svg = curves_figure(_curve_series(rows, history), "acc", "accuracy")
    assert svg.count('id="axes_') == 2  # one axis per data set, titled with its name
    assert re.search(r">cifar10</text>", svg) and re.search(r">mnist</text>", svg)


def test_misclassified_images_are_taken_across_classes():
    true = np.array([0, 0, 0, 1, 1, 2, 2, 2])
    predicted = np.array([1, 1, 0, 0, 1, 0, 0, 2])
    # Wrong: positions 0, 1 (class 0), 3 (class 1), 5, 6 (class 2): one per class first.
    assert pick_misclassified(true, predicted, count=4).tolist() == [0, 3, 5, 1]
    assert pick_misclassified(true, true).tolist() == []


def test_benchmark_file_reading(tmp_path):
    path = tmp_path / "train.benchmark.tsv"
    header = "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"
    path.write_text(header + "12.5\t0:00:12\t812.4\t9\t9\t9\t0\t0\t90\t20.1\n")
    assert read_benchmark(path) == {"s": 12.5, "cpu_time": 20.1, "max_rss": 812.4}
    path.write_text(header + "0.2\t0:00:00\tNA\tNA\tNA\tNA\tNA\tNA\tNA\tNA\n")
    assert read_benchmark(path) == {"s": 0.2, "cpu_time": None, "max_rss": None}
    path.write_text("a\tb\n1\t2\n")
    with pytest.raises(ValueError, match="train.benchmark.tsv"):
        read_benchmark(path)


def test_a_failed_run_is_described_from_its_log(tmp_path):
    (tmp_path / "train.log").write_text(
        "2026-01-01 00:00:00 INFO x: epoch 1/5  train loss 2.1\n"
        "2026-01-01 00:00:09 INFO x: epoch 2/5  train loss 1.9\n"
        "2026-01-01 00:00:10 CRITICAL failed: CUDA out of memory\n"
    )
    run = {"dataset": "d", "split": "two", "model": "m", "seed": 0, "epochs_planned": 5}
    row = failed_run_row(run, tmp_path)
    assert (row["status"], row["epochs_run"], row["epochs_planned"]) == ("failed", 2, 5)
    assert "CUDA out of memory" in row["note"]
    assert failed_run_row(run, tmp_path / "never")["status"] == "not run"


# --- the whole workflow, two models x two seeds -------------------------------------------------------


def _copy_workflow(dest: Path) -> Path:
    """The workflow's files in `dest`, committed to a git repository of their own."""
    for name in ("Snakefile", "config.yaml"):
        shutil.copy2(REPO / name, dest / name)
    for name in ("workflow", "report", "profiles"):
        shutil.copytree(REPO / name, dest / name, ignore=shutil.ignore_patterns("__pycache__"))
    git = ["git", "-C", str(dest), "-c", "user.name=test", "-c", "user.email=test@example.org"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "copy"], check=True)
    return dest / "Snakefile"


@pytest.fixture(scope="module")
def seeded(tmp_path_factory, cifar_archive):
    """custom_cnn and a one-epoch variant, two seeds each, on the three-way split."""
    root = tmp_path_factory.mktemp("report")
    (root / "repo").mkdir()
    snakefile = _copy_workflow(root / "repo")
    workdir = root / "work"
    workdir.mkdir()
    config = tiny_config(workdir, cifar_archive)
    config["models"]["custom_cnn"].update(epochs=2, description=SCRIPT_TEXT)
    config["models"]["quick_cnn"] = {**config["models"]["custom_cnn"], "epochs": 1, "warmup_epochs": 0,
                                    "description": "one epoch"}
    config["compare"].update(splits=["three"], models=["custom_cnn", "quick_cnn"], seeds=[0, 1])
    configfile = write_config(workdir / "config.yaml", config)
    snakemake(workdir, configfile, snakefile=snakefile)
    results = Path(config["results_dir"])
    with open(results / "summary.csv", newline="") as fh:
        summary = list(csv.DictReader(fh))
    return {"root": root, "snakefile": snakefile, "workdir": workdir, "config": config, "results": results,
            "html": (results / "report.html").read_text(), "summary": summary}


def _table(html: str, table_id: str) -> list[list[dict]]:
    """The body rows of a table as lists of {text, attributes}."""
    body = re.search(rf'<table id="{table_id}"[^>]*>.*?<tbody>(.*?)</tbody>', html, re.S)
    assert body, table_id
    rows = []
    for row in re.findall(r"<tr>(.*?)</tr>", body.group(1), re.S):
        cells = []
        for attrs, text in re.findall(r"<td([^>]*)>(.*?)</td>", row, re.S):
            cells.append({"text": html_lib.unescape(text), **{k: html_lib.unescape(v) for k, v in
                                                             re.findall(r'([\w-]+)="([^"]*)"', attrs)}})
        rows.append(cells)
    return rows


SECTIONS = ["overview", "curves", "small-multiples", "metrics", "costs", "tradeoffs", "runs", "splits", "seeds",
            "not-completed", "provenance"]


@pytest.mark.workflow
def test_every_section_is_there(seeded):
    html = seeded["html"]
    for section in SECTIONS:
        assert f'id="{section}"' in html, section
    for figure in ("figure-accuracy", "figure-loss", "figure-tradeoff-time", "figure-tradeoff-params"):
        assert re.search(rf'id="{figure}"><svg', html), figure
    assert html.count('class="figure confusion"><svg') == 4  # one heatmap per run
    assert html.count('<table class="per-class">') == 4
    assert "All 4 runs completed." in html
    assert "reached the highest test accuracy" in html  # the overview answers first
    assert re.search(r"95% interval \[[+-]\d+\.\d\d, [+-]\d+\.\d\d\]", html)  # best two models compared


@pytest.mark.workflow
def test_table_numbers_equal_summary_csv(seeded):
    """Every cell that shows a summary.csv column holds its exact value and shows it formatted."""
    summary = {"{dataset}/{split}/{model}/seed{seed}".format(**r): r for r in seeded["summary"]}
    checked = set()
    for table_id in ("metrics-table", "costs-table"):
        for row in _table(seeded["html"], table_id):
            expected = summary[row[0]["text"]]
            for cell in row[1:]:
                if "data-column" not in cell:
                    continue
                column = cell["data-column"]
                assert cell["data-value"] == expected[column], (row[0]["text"], column)
                value, spec = number(expected[column]), COLUMNS[column]
                assert cell["text"] == tables.cell(value, spec)["text"]
                if isinstance(value, (int, float)):  # and the text is that number, rounded
                    decimals = len(cell["text"].partition(".")[2])
                    shown = float(cell["text"].replace(",", ""))
                    assert abs(shown - value * spec.scale) <= 0.5 * 10 ** -decimals + 1e-12, (column, cell)
                checked.add(column)
    assert {"test_acc", "train_seconds", "train_job_seconds", "train_job_max_rss_mb", "evaluate_job_seconds",
            "params_trainable", "checkpoint_bytes", "peak_rss_mb"} <= checked


@pytest.mark.workflow
def test_benchmark_files_reach_summary_csv(seeded):
    for row in seeded["summary"]:
        run_dir = seeded["results"] / "runs/cifar10/three/{model}/seed{seed}".format(**row)
        train = read_benchmark(run_dir / "train.benchmark.tsv")
        assert float(row["train_job_seconds"]) == train["s"]
        # The whole job includes Python's start and the imports that training's own clock leaves out.
        assert float(row["train_job_seconds"]) > float(row["train_seconds"])
        assert float(row["train_job_max_rss_mb"]) > 100
        assert float(row["evaluate_job_seconds"]) > 0


@pytest.mark.workflow
def test_seed_mean_and_std_shown_equal_those_of_the_runs(seeded):
    by_group = {}
    for row in seeded["summary"]:
        by_group.setdefault(f"{row['dataset']}/{row['split']}/{row['model']}", []).append(row)
    rows = _table(seeded["html"], "metrics-grouped-table") + _table(seeded["html"], "costs-grouped-table")
    assert len(rows) == 4
    checked = 0
    for row in rows:
        runs = by_group[row[0]["text"]]
        assert row[1]["text"] == "2" == str(len(runs))
        for cell in row[2:]:
            if cell.get("data-std") in (None, "") or "data-column" not in cell:  # derived: per epoch
                continue
            values = [float(r[cell["data-column"]]) for r in runs]
            assert float(cell["data-value"]) == pytest.approx(statistics.fmean(values), rel=1e-12)
            assert float(cell["data-std"]) == pytest.approx(statistics.stdev(values), rel=1e-12, abs=1e-15)
            mean_text, std_text = cell["text"].split(" ± ")
            digits = len(mean_text.partition(".")[2])
            shown_mean = statistics.fmean(values) * COLUMNS[cell["data-column"]].scale  # bytes shown as MB
            assert float(mean_text.replace(",", "")) == pytest.approx(shown_mean, abs=10 ** -digits)
            checked += 1
    assert checked >= 20


@pytest.mark.workflow
def test_config_text_is_escaped(seeded):
    html = seeded["html"]
    assert html_lib.escape(SCRIPT_TEXT) in html or "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; more" in html
    assert "<script>alert" not in html
    assert html.count("<script>") == 1  # the page's own table sorter, nothing else


@pytest.mark.workflow
def test_provenance_names_the_workflow_commit(seeded):
    head = subprocess.run(["git", "-C", str(seeded["root"] / "repo"), "rev-parse", "HEAD"],
                          capture_output=True, text=True, check=True).stdout.strip()
    assert f"git commit <code>{head}</code>" in seeded["html"]
    assert "uncommitted changes" not in seeded["html"]
    assert "Settings of cifar10/three/quick_cnn/seed1" in seeded["html"]


@pytest.mark.workflow
def test_gallery_and_files(seeded):
    html, results = seeded["html"], seeded["results"]
    thumbnails = re.findall(r'<img src="data:image/png;base64,[A-Za-z0-9+/=]+" alt="test image \d+: ', html)
    with np.load(results / "runs/cifar10/three/quick_cnn/seed0/misclassified.npz") as npz:
        assert npz["images"].dtype == np.uint8 and npz["images"].shape[1:] == (32, 32, 3)
        assert (npz["true"] != npz["predicted"]).all() and 0 < len(npz["true"]) <= 8
        assert len(thumbnails) >= len(npz["true"])
    for model in ("custom_cnn", "quick_cnn"):
        for seed in (0, 1):
            for name in ("curves", "confusion"):
                assert (results / f"figures/{model}/cifar10/three/seed{seed}/{name}.svg").is_file()
    assert len(html.encode()) < 5 * 2**20


@pytest.mark.workflow
def test_report_in_headless_chromium(seeded, tmp_path):
    """Rendered by a real browser: no console error, nothing requested but the
    file itself and its inline data: images, and the tables sort on a click."""
    if chromium.find_chromium() is None:
        if os.environ.get("CI") == "true":
            pytest.fail("CI=true but no chromium: .ci/run must install Debian's chromium")
        pytest.skip("no chromium on this machine (CI installs Debian's chromium)")
    page = seeded["results"] / "report.html"
    with chromium.Browser() as browser:
        browser.open(page.as_uri())
        shot = browser.screenshot(tmp_path / "report.png", 1280, 900)
        order = browser.evaluate("""(() => {
            const th = [...document.querySelectorAll('#metrics-table th')].find(h => h.textContent === 'test acc');
            const col = [...th.parentNode.children].indexOf(th);
            th.click();
            return [...document.querySelectorAll('#metrics-table tbody tr')]
                .map(r => parseFloat(r.cells[col].dataset.value));
        })()""")
        errors, urls = browser.console_errors(), browser.requested_urls()
    assert shot[:8] == b"\x89PNG\r\n\x1a\n" and len(shot) > 20_000  # a page, not a blank
    assert errors == []
    assert urls and all(u == page.as_uri() or u.startswith("data:") for u in urls), urls
    assert order == sorted(order) and len(order) == 4


@pytest.mark.workflow
def test_snakemake_report_zip_files_figures_by_model(seeded):
    zip_path = seeded["root"] / "report.zip"
    snakemake(seeded["workdir"], seeded["workdir"] / "config.yaml", "--report", str(zip_path),
              snakefile=seeded["snakefile"])
    with zipfile.ZipFile(zip_path) as archive:
        names = archive.namelist()
        main = next(n for n in names if n.endswith("report.html") and n.count("/") == 1)
        index = archive.read(main).decode()
    for expected in ("summary.csv", "accuracy.svg", "tradeoff_time.svg", "confusion.svg", "curves.svg"):
        assert any(n.endswith(expected) for n in names), expected
    for category in ("custom_cnn", "quick_cnn", "Comparison", "Tables"):
        assert category in index, category


def _plan(seeded, config: dict, name: str) -> dict[str, int]:
    configfile = write_config(seeded["root"] / name, config)
    proc = snakemake(seeded["workdir"], configfile, "--dry-run", snakefile=seeded["snakefile"])
    return planned_jobs(proc.stdout + proc.stderr)


@pytest.mark.workflow
def test_adding_a_model_runs_only_its_jobs_then_the_tables(seeded):
    config = yaml.safe_load(yaml.safe_dump(seeded["config"]))
    config["models"]["wide_cnn"] = {**config["models"]["quick_cnn"], "dropout": 0.4}
    config["compare"]["models"].append("wide_cnn")
    assert _plan(seeded, config, "added.yaml") == {
        "train_model": 2, "evaluate_model": 2, "aggregate_results": 1, "render_report": 1, "all": 1,
    }


@pytest.mark.workflow
def test_removing_a_model_re_renders_only(seeded):
    config = yaml.safe_load(yaml.safe_dump(seeded["config"]))
    config["compare"]["models"].remove("quick_cnn")
    assert _plan(seeded, config, "removed.yaml") == {"aggregate_results": 1, "render_report": 1, "all": 1}


@pytest.mark.workflow
def test_editing_the_template_re_renders_only(seeded):
    template = seeded["root"] / "repo/report/report.html.j2"
    original = template.read_text()
    try:
        template.write_text(original.replace("<h1>cnncompare report</h1>", "<h1>cnncompare report, edited</h1>"))
        assert _plan(seeded, seeded["config"], "same.yaml") == {"render_report": 1, "all": 1}
    finally:
        template.write_text(original)


@pytest.mark.workflow
def test_failed_runs_are_listed_in_a_partial_report(seeded):
    """A model that fails in training (its cached ImageNet weights file is not one:
    the plan cannot know, the job does when it loads it): the other runs stay, and
    report.partial.html lists the failed ones with their status, last epoch and
    error, while report.html keeps the complete grid's."""
    from cnncompare import arch_facts
    from cnncompare.archs import weights_file_path

    config = yaml.safe_load(yaml.safe_dump(seeded["config"]))
    config["weights_dir"] = str(seeded["root"] / "weights")
    broken = Path(weights_file_path(config["weights_dir"], arch_facts.weights("resnet18", "DEFAULT").file))
    broken.parent.mkdir(parents=True, exist_ok=True)
    broken.write_text("not a weights file\n")
    config["models"]["broken_weights"] = {"arch": "resnet18", "pretrained": True, "epochs": 1, "warmup_epochs": 0}
    config["compare"]["models"].append("broken_weights")
    configfile = write_config(seeded["root"] / "broken.yaml", config)
    proc = snakemake(seeded["workdir"], configfile, check=False, snakefile=seeded["snakefile"])
    assert proc.returncode != 0
    partial = seeded["results"] / "report.partial.html"
    assert str(partial) in proc.stderr
    html = partial.read_text()
    assert 'id="notice">Partial report: 2 of 6 planned runs have no results' in html
    failed = {row[0]["text"]: row for row in _table(html, "failed-table")}
    assert set(failed) == {"cifar10/three/broken_weights/seed0", "cifar10/three/broken_weights/seed1"}
    for row in failed.values():
        assert [c["text"] for c in row[1:4]] == ["failed", "0", "1"]
        assert "Weights only load failed" in row[4]["text"], row[4]["text"]
    assert len(_table(html, "metrics-table")) == 6  # the four completed runs, and the two failed
    assert (seeded["results"] / "report.html").read_text() == seeded["html"]
    # The next complete report supersedes the partial one.
    snakemake(seeded["workdir"], seeded["workdir"] / "config.yaml", "--forcerun", "render_report",
              snakefile=seeded["snakefile"])
    assert not partial.exists()
