"""Costs read as honestly as accuracy: a busy-machine flag follows a run's times wherever they are
shown (the cost tables, the inference columns, the results table and its Markdown and LaTeX copies),
no ratio or "fastest" sentence compares a flagged run's time, and the overview's busy count covers
every run the report shows (a sweep's variants not chosen included)."""

from __future__ import annotations

import html as html_lib
import re

import synthetic_runs
from conftest import REPO
from cnncompare.report.render import render
from cnncompare.report.aggregate import run_rows
from cnncompare.report.report_data import read_run_files, typed_row

QUIET = {"train_job_seconds": 100.0, "train_job_cpu_seconds": 190.0, "evaluate_job_seconds": 10.0,
         "evaluate_job_cpu_seconds": 19.0}
BUSY_TRAINING = {**QUIET, "train_job_cpu_seconds": 20.0}  # 10% of two cores
BUSY_EVALUATION = {**QUIET, "evaluate_job_cpu_seconds": 2.0}


def _page(tmp_path, runs: list[tuple], models: dict | None = None) -> str:
    """runs: (model, seed, accuracy, seconds per epoch, job figures); the page's HTML."""
    rows, history, files = [], [], []
    for model, seed, acc, seconds, jobs in runs:
        folder = tmp_path / "runs" / model / str(seed)
        synthetic_runs.write_run(folder, "digits", "three", model, seed, accuracy=acc, epoch_seconds=seconds,
                                 params=1000, epochs=4, extra={"test_acc": acc, "val_acc": acc})
        row, epochs = run_rows(folder / "metrics.json", folder / "history.csv")
        rows.append({**row, **jobs})
        history += [typed_row(h, folder / "history.csv", line) for line, h in enumerate(epochs, start=2)]
        files.append(read_run_files(folder / "metrics.json", folder / "confusion.csv", folder / "misclassified.npz"))
    out = tmp_path / "report.html"
    render(rows, history, files, REPO / "report/report.html.j2", out, models=models)
    return out.read_text()


def _cells(html: str, table_id: str, column: str) -> dict[str, dict]:
    """{run: attributes of the cell showing `column`} of a table."""
    body = re.search(rf'<table[^>]*id="{table_id}"[^>]*>.*?<tbody>(.*?)</tbody>', html, re.S).group(1)
    found = {}
    for row in re.findall(r"<tr[^>]*>(.*?)</tr>", body, re.S):
        cells = re.findall(r"<td([^>]*)>(.*?)</td>", row, re.S)
        for attrs, _ in cells:
            if f'data-column="{column}"' in attrs:
                found[cells[0][1]] = {k: html_lib.unescape(v) for k, v in re.findall(r'([\w-]+)="([^"]*)"', attrs)}
    return found


def test_the_flag_follows_training_and_inference_times_into_every_table(tmp_path):
    html = _page(tmp_path, [("fast", 0, 0.90, 1.0, BUSY_TRAINING), ("slow", 0, 0.95, 5.0, BUSY_EVALUATION),
                            ("other", 0, 0.80, 3.0, QUIET)])
    train = _cells(html, "costs-table", "train_seconds")
    assert train["digits/three/fast/seed0"].get("class") == "busy"
    assert "timed on a busy machine (the training job" in train["digits/three/fast/seed0"]["title"]
    assert "class" not in train["digits/three/slow/seed0"] and "class" not in train["digits/three/other/seed0"]
    for column in ("inference_images_per_second", "latency_ms"):
        cells = _cells(html, "costs-table", column)
        assert cells["digits/three/slow/seed0"].get("class") == "busy", column
        assert "before measure_inference, by an evaluate job" in cells["digits/three/slow/seed0"]["title"]
        assert "class" not in cells["digits/three/fast/seed0"], column
    assert ("busy machine at inference (images/s, latency): the evaluate job that measured them got 10% of the 2 "
            "cores it ran with" in html)
    assert "td.busy::after" in html
    # The results table and its copies: the busy run's time is marked, the others are not.
    results = re.search(r'<table id="results-table">(.*?)</table>', html, re.S).group(1)
    rows = {m: row for m, row in re.findall(r'<tr data-model="([^"]+)"><td>[^<]*</td>(.*?)</tr>', results, re.S)}
    assert "†" in rows["fast"] and "†" not in rows["slow"] and "†" not in rows["other"]
    markdown = html_lib.unescape(re.search(r'id="results-markdown"[^>]*>(.*?)</textarea>', html, re.S).group(1))
    latex = html_lib.unescape(re.search(r'id="results-latex"[^>]*>(.*?)</textarea>', html, re.S).group(1))
    assert re.search(r"^\| fast \|.*†", markdown, re.M) and not re.search(r"^\| other \|.*†", markdown, re.M)
    assert "† Timed on a busy machine" in markdown
    assert re.search(r"^fast & .*\\dag\{\}", latex, re.M) and not re.search(r"^other & .*dag", latex, re.M)
    assert "% † Timed on a busy machine" in latex  # a comment line, as the table's other note
    assert 'id="results-busy"' in html
    tradeoff = html.split('id="figure-tradeoff-time"')[1].split("</svg>")[0]
    assert "digits/three/fast: " in tradeoff and "1 of 1 timed on a busy machine" in tradeoff
    tips = re.findall(r'data-tip="([^"]+)"', tradeoff)
    assert [t for t in tips if "busy machine" in t] == [t for t in tips if t.startswith("digits/three/fast")]


def test_no_sentence_compares_a_flagged_time(tmp_path):
    """The best model (slow, quiet) would be said to take 5x the fastest's epoch time; the fastest ran on a
    busy machine, so the comparison is made with the next quiet model, and the best-model table's
    fastest leaves it out, naming it."""
    html = _page(tmp_path, [("fast", 0, 0.90, 1.0, BUSY_TRAINING), ("slow", 0, 0.95, 5.0, QUIET),
                            ("other", 0, 0.80, 2.5, QUIET)])
    overview = re.search(r'<ul class="overview" id="overview-digits">(.*?)</ul>', html, re.S).group(1)
    assert "digits/three/fast/seed0" not in overview and "5.0×" not in overview
    assert "that of the fastest, digits/three/other/seed0" in overview
    best = re.search(r'<table id="best-table".*?</table>', html, re.S).group(0)
    epoch = re.search(r"<tr[^>]*>(?:(?!</tr>).)*shortest median epoch.*?</tr>", best, re.S).group(0)
    assert "digits/three/other/seed0" in epoch and "not compared, timed on a busy machine: fast" in epoch
    # The best model itself flagged: its times are compared with none.
    html = _page(tmp_path / "b", [("fast", 0, 0.90, 1.0, QUIET), ("slow", 0, 0.95, 5.0, BUSY_TRAINING)])
    overview = re.search(r'<ul class="overview" id="overview-digits">(.*?)</ul>', html, re.S).group(1)
    assert "Its times are not compared: 1 of its 1 run ran on a busy machine." in overview
    assert "×" not in overview and "fastest" not in overview


def test_the_busy_count_covers_every_variant_of_a_sweep(tmp_path):
    def variant(lr):
        return {"description": "", "reference": {}, "sweep": {"block": "m", "keys": ["lr"], "settings": {"lr": lr}}}

    models = {f"m.lr-{lr}": variant(lr) for lr in (0.1, 0.01)}
    html = _page(tmp_path, [("m.lr-0.1", 0, 0.95, 1.0, QUIET), ("m.lr-0.1", 1, 0.95, 1.0, QUIET),
                            ("m.lr-0.01", 0, 0.80, 1.0, BUSY_TRAINING), ("m.lr-0.01", 1, 0.80, 1.0, BUSY_TRAINING)],
                 models)
    overview = re.search(r'<ul class="overview" id="overview-digits">(.*?)</ul>', html, re.S).group(1)
    assert "2 of 4 runs ran on a busy machine" in overview


def test_inference_measured_beside_other_jobs_is_busy_and_measured_alone_is_not():
    """measure_inference's record decides for runs made with it; the evaluate job's share, before it."""
    from cnncompare.report import timing

    row = {"device": "cpu", "evaluate_job_cpu_seconds": 1.0, "evaluate_job_seconds": 10.0}
    assert timing.busy_inference(row, {"inference_measured": {"alone": True}}, 2) is None
    assert "other jobs could share" in timing.busy_inference(row, {"inference_measured": {"alone": False}}, 2)
    assert "5% of the 2 cores" in timing.busy_inference(row, {"inference_measured": {}}, 2)  # an older run
    assert timing.busy_inference({**row, "device": "cuda:0"}, {"eval_device": "cuda:0",
                                                               "inference_measured": {"alone": False}}, 2) is None
