"""The report: its statistics, its content against summary.csv, a real browser,
Snakemake's own report, and what each kind of change re-runs.

The workflow tests run a copy of the workflow (Snakefile, rules, scripts,
template) made a git checkout of its own, so a test can edit the template and
check the commit the report names without touching this repository. The
200-run report is tested in test_report_scale.py.
"""

from __future__ import annotations

import csv
import html as html_lib
import json
import os
import re
import statistics
import subprocess
import zipfile
from pathlib import Path

import numpy as np
import pytest
import yaml
from scipy import stats as scipy_stats

import chromium
import synthetic_runs
from conftest import REPO, copy_workflow, planned_jobs, snakemake, tiny_config, write_config
from cnncompare.report import figures, labels, numbers, tables, timing
from cnncompare.report.aggregate import read_benchmark
from cnncompare.train.evaluation import pick_misclassified
from cnncompare.report.findings import best_per_setting, overview, seed_comparison
from cnncompare.report.partial_report import failed_run_row
from cnncompare.report.render import build_page, curve_series, render
from cnncompare.report.report_data import ReportDataError, number, read_rows, read_run_files
from cnncompare.report.stats import mean_interval, pareto_front
from cnncompare.report.study import Study

COLUMNS = {c.source(): c for c in tables.METRIC_COLUMNS + tables.COST_COLUMNS if c.source()}
SHOWN_SCALE = {"acc": 100, "bytes": 1 / 2**20}  # what a cell's text shows of its exact value

SCRIPT_TEXT = "<script>alert('x')</script> & more"


def _run(dataset, split, model, acc, seconds=10.0, seed=0, **extra):
    return {"dataset": dataset, "split": split, "model": model, "seed": seed, "status": "completed",
            "test_acc": acc, "train_seconds": seconds, "tested_epoch": 2, "params_trainable": 1000, **extra}


def _attr_values(svg: str, tag: str, attr: str, **where) -> list[str]:
    """The `attr` of every `tag` element whose attributes include `where` (data_model= for data-model)."""
    found = []
    for attrs in re.findall(rf"<{tag}\b([^>]*)>", svg):
        values = dict(re.findall(r'([\w-]+)="([^"]*)"', attrs))
        if all(values.get(k.replace("_", "-")) == v for k, v in where.items()) and attr in values:
            found.append(html_lib.unescape(values[attr]))
    return found


# --- the statistics, on numbers small enough to check by hand ---------------------------------------


def test_pareto_front_keeps_only_points_nothing_beats():
    # (cost, accuracy): b is beaten by a (cheaper, as accurate), d by c.
    points = [(1.0, 0.8), (2.0, 0.8), (3.0, 0.9), (4.0, 0.85), (0.5, 0.5)]
    assert pareto_front(points) == [4, 0, 2]


def test_mean_interval_agrees_with_scipy():
    values = [0.91, 0.93, 0.92, 0.95]
    found = mean_interval(values)
    low, high = scipy_stats.t.interval(0.95, len(values) - 1, loc=statistics.fmean(values),
                                       scale=scipy_stats.sem(values))
    assert found["mean"] - found["half"] == pytest.approx(low) and found["mean"] + found["half"] == pytest.approx(high)
    assert mean_interval([0.9])["half"] is None and mean_interval([0.9])["n"] == 1
    assert mean_interval([0.9, 0.8])["half"] is None  # two seeds: their range, never a t-interval


def test_seed_comparison_lists_every_pair_best_first():
    rows = [
        {"dataset": "d", "split": "three", "model": m, "seed": s, "status": "completed", "test_acc": acc,
         "test_size": 1000}
        for m, accs in {"a": [0.90, 0.92], "b": [0.80, 0.84], "c": [0.85, 0.86]}.items()
        for s, acc in enumerate(accs)
    ]
    [entry] = seed_comparison(Study.of(rows))
    assert [(p["a"], p["b"]) for p in entry["pairs"]] == [("a", "c"), ("a", "b"), ("c", "b")]
    assert entry["pairs"][0]["diff"] == pytest.approx(0.91 - 0.855)
    # Without predictions.csv nothing is paired: no test, no verdict, said so (tests/test_comparisons.py pairs them).
    assert all(p["verdict"] == "not tested" for p in entry["pairs"])


# --- the answer, by protocol --------------------------------------------------------------------------


def test_results_are_grouped_by_data_set():
    rows = [_run("cifar10", "three", "big", 0.9, 100.0), _run("cifar10", "three", "small", 0.8, 10.0),
            _run("mnist", "three", "big", 0.99, 50.0), _run("mnist", "three", "small", 0.98, 5.0)]
    found = overview(Study.of(rows))
    # Each data set has its own best run: mnist's 99% does not hide cifar10's best.
    assert [d["dataset"] for d in found["datasets"]] == ["cifar10", "mnist"]
    assert "cifar10/three/big/seed0 reached the highest" in found["datasets"][0]["lines"][0]
    assert "mnist/three/big/seed0 reached the highest" in found["datasets"][1]["lines"][0]
    history = [{**{k: r[k] for k in ("dataset", "split", "model", "seed")}, "epoch": e, "train_acc": 0.5,
                "val_acc": 0.5, "train_loss": 1.0, "val_loss": 1.0} for r in rows for e in (1, 2)]
    colors = figures.model_colors(["big", "small"])
    svg = figures.curves_figure(curve_series(Study.of(rows, history)), "acc", colors, {"cifar10": 0.1, "mnist": 0.1})
    panels = _attr_values(svg, "g", "data-dataset", **{"class": "panel"})
    assert panels == ["cifar10", "mnist"]  # one panel per data set (and split), titled with its name
    assert re.search(r">cifar10 · three splits", svg) and re.search(r">mnist · three splits", svg)


def test_the_headline_is_the_three_split_result_and_protocols_are_never_ranked_together():
    # The two-split runs score higher (their epoch was picked on the test set): they must not lead.
    rows = [_run("digits", "two", "a", 0.99), _run("digits", "two", "b", 0.97),
            _run("digits", "three", "a", 0.95), _run("digits", "three", "b", 0.96)]
    found = overview(Study.of(rows))
    lines = found["datasets"][0]["lines"]
    assert lines[0].startswith("Three splits (validation picks the epoch, the test set only reports): "
                               "digits/three/b/seed0 reached the highest test accuracy, 96.0%")
    two = [line for line in lines if "two splits" in line]
    assert two and "biased upwards" in two[0] and "digits/two/a/seed0" in two[0]
    best = best_per_setting(Study.of(rows))
    assert {b["setting"] for b in best} == {"digits/three", "digits/two"}
    for b in best:  # each setting's best is one of its own runs
        assert b["run"].startswith(b["setting"] + "/")
    assert best[0]["setting"] == "digits/three"
    # Without a three-split run, the two-split result leads, labelled as the biased protocol.
    only_two = overview(Study.of(rows[:2]))["datasets"][0]["lines"][0]
    assert only_two.startswith("Two splits only, the study's protocol") and "biased upwards" in only_two


def _panels(svg: str) -> list[dict]:
    """Each panel of a figure: its data set, split and the marks drawn in its plot area."""
    found = re.findall(r'<g class="panel" transform="[^"]*" data-dataset="([^"]*)" data-split="([^"]*)">.*?'
                       r'<svg width="[^"]*" height="[^"]*" overflow="hidden">(.*?)</svg>', svg, re.S)
    return [{"dataset": d, "split": s, "marks": m} for d, s, m in found]


def _colours(svg: str, model: str) -> set[str]:
    """Every colour `model` is drawn in: its lines, its points and its legend entry."""
    found = set(_attr_values(svg, "path", "stroke", data_model=model, **{"class": "line"}))
    found |= set(re.findall(rf'<g class="mark"[^>]*data-model="{model}">(?:<path[^>]*/>)*<circle class="point"'
                            rf'[^>]* fill="([^"]+)"', svg))
    legend = re.search(rf'data-legend-model="{model}">(.*?)</g>', svg)
    if legend:
        found |= set(re.findall(r'(?:stroke|fill)="(#[0-9a-f]{6})"', legend.group(1))) - {"#fff"}
    return found


def test_pareto_fronts_never_join_points_of_two_splits():
    """Read from the figure's data: each front lies in the panel of one data set
    and split, and every corner of it is a point of that panel."""
    points = []
    for split, accs in (("two", [0.99, 0.90, 0.80]), ("three", [0.95, 0.91, 0.70])):
        for model, acc, cost in zip(("a", "b", "c"), accs, (30.0, 10.0, 5.0)):
            points.append({"dataset": "digits", "split": split, "model": model, "label": f"digits/{split}/{model}",
                           "x": cost, "y": acc, "xerr": None, "yerr": None})
    svg = figures.tradeoff_figure(points, "training time (s)", figures.model_colors(["a", "b", "c"]))
    panels = _panels(svg)
    assert sorted(p["split"] for p in panels) == ["three", "two"]
    for panel in panels:
        [front] = re.findall(r'<g class="front" data-dataset="([^"]*)" data-split="([^"]*)" data-front="([^"]*)">'
                             r'<path d="([^"]*)"[^>]*/>(.*?)</g>', panel["marks"])
        dataset, split, models, path, rings = front
        assert (dataset, split) == (panel["dataset"], panel["split"])
        marks = {m: (float(x), float(y)) for m, x, y in re.findall(
            r'data-model="([^"]*)">(?:<path[^>]*/>)*<circle class="point" cx="([\d.]+)" cy="([\d.]+)"', panel["marks"])}
        on_front = [marks[m] for m in models.split("|")]  # each model of the front is a point of this panel
        ringed = [(float(x), float(y)) for x, y in re.findall(r'<circle cx="([\d.]+)" cy="([\d.]+)" r="8"', rings)]
        assert ringed == on_front
        xs, ys = {x for x, _ in on_front}, {y for _, y in on_front}
        for x in re.findall(r"[MH]([\d.]+)", path):
            assert float(x) in xs
        for y in re.findall(r"(?:,|V)([\d.]+)", path):
            assert float(y) in ys
    # Here every model is on its split's front: each is cheaper or more accurate than the others.
    assert sorted(re.findall(r'data-front="([^"]*)"', svg)) == ["c|b|a", "c|b|a"]


def test_a_model_keeps_its_colour_in_every_figure_and_when_a_model_is_added():
    def page_colours(models):
        rows, history = [], []
        for model in models:
            for split in ("two", "three"):
                rows.append(_run("digits", split, model, 0.9, epochs_run=2, num_classes=10))
                history += [{"dataset": "digits", "split": split, "model": model, "seed": 0, "epoch": e,
                             "train_acc": 0.8, "val_acc": 0.85, "train_loss": 0.5, "val_loss": 0.4, "lr": 0.01,
                             "epoch_seconds": 1.0} for e in (1, 2)]
        page = build_page(rows, history, {})
        found = {m: {} for m in models}
        for name, svg in page["figures"].items():
            for model in models:
                found[model][name] = _colours(svg, model)
        for group in page["per_run"]:
            for run in group["runs"]:
                found[run["row"]["model"]].setdefault("run curves", set()).update(
                    _attr_values(run["curves"], "path", "stroke", data_part="val"))
        found_toolbar = {m["name"]: m["color"] for m in page["filters"]["models"]}
        return found, found_toolbar

    before, toolbar = page_colours(["custom_cnn", "vgg16", "resnet50"])
    after, _ = page_colours(["custom_cnn", "vgg16", "resnet50", "mobilenet_v3_small"])
    for model, by_figure in before.items():
        assert set(by_figure) == {"accuracy", "loss", "tradeoff_time", "tradeoff_params", "run curves"}
        colours = set().union(*by_figure.values())
        assert colours == {toolbar[model]}, (model, by_figure)  # one colour in every figure and the filters
        assert set().union(*after[model].values()) == colours  # and the same once a model is added
    assert len({c for m in after.values() for c in set().union(*m.values())}) == 4  # four models, four colours


def test_figures_stay_readable_with_many_runs():
    """50 runs (5 models x 2 splits x 5 seeds): a legend entry per model, not per
    run; loss on a log axis; a dashed chance level; plain tick labels; labels that
    do not overlap."""
    rows, history = [], []
    models = [f"model_{i}" for i in range(5)]
    for model_index, model in enumerate(models):
        for split in ("two", "three"):
            for seed in range(5):
                rows.append(_run("digits", split, model, 0.5 + 0.09 * model_index, seed=seed, epochs_run=3,
                                 num_classes=10, params_trainable=10_000 * 4 ** model_index))
                history += [{"dataset": "digits", "split": split, "model": model, "seed": seed, "epoch": e,
                             "train_acc": 0.3 * e, "val_acc": 0.28 * e, "train_loss": 80.0 if e == 1 else 0.3 / e,
                             "val_loss": 0.4 / e, "lr": 0.01, "epoch_seconds": 1.0 + model_index} for e in (1, 2, 3)]
    page = build_page(rows, history, {})
    accuracy, loss = page["figures"]["accuracy"], page["figures"]["loss"]
    assert len(re.findall(r'class="legend-entry"', accuracy)) == 5
    assert sorted(_attr_values(accuracy, "g", "data-legend-model")) == models
    assert re.search(r'class="reference"[^>]*stroke-dasharray="5,4"', accuracy) and "chance 10.0%" in accuracy
    ticks = re.findall(r'<g font-size="10" fill="#666" text-anchor="end">(.*?)</g>', loss)
    labels_shown = re.findall(r">([^<]+)</text>", "".join(ticks))
    # A log axis: decades from the later losses (0.1) to the first epoch's 80; a linear one would start at 0.
    assert {"0.1", "1", "10"} <= set(labels_shown) and "0" not in labels_shown
    params = page["figures"]["tradeoff_params"]
    tick_text = " ".join(re.findall(r'text-anchor="middle">(.*?)</g>', params))
    assert "x10" not in tick_text and "e+" not in tick_text and re.search(r">\d+(\.\d+)?[kM]?<", tick_text)
    labels_placed = re.findall(r'<g class="label" data-dataset="[^"]*" data-split="([^"]*)"[^>]*>.*?'
                               r'data-box="([^"]+)"', params)
    assert len(labels_placed) == 10  # every model labelled, in both panels
    for split in ("two", "three"):  # and no two labels of a panel overlap
        boxes = [tuple(map(float, b.split(","))) for s, b in labels_placed if s == split]
        for i, a in enumerate(boxes):
            for b in boxes[i + 1:]:
                assert a[2] <= b[0] or b[2] <= a[0] or a[3] <= b[1] or b[3] <= a[1], (a, b)


# --- noise-aware costs --------------------------------------------------------------------------------


def test_times_are_compared_by_median_epoch_and_spread():
    def epochs(*seconds):
        return [{"epoch": i + 1, "epoch_seconds": s} for i, s in enumerate(seconds)]

    steady = timing.epoch_timing(epochs(2.0, 2.1, 1.9, 2.0, 2.05))
    noisy = timing.epoch_timing(epochs(1.0, 3.5, 1.2, 3.0, 2.6))
    far = timing.epoch_timing(epochs(8.0, 8.2, 7.9, 8.1))
    assert steady["median"] == 2.0 and far["median"] == pytest.approx(8.05)
    assert timing.within_spread(steady, noisy) and not timing.within_spread(steady, far)

    rows = [_run("d", "three", "a", 0.95, epoch_median_seconds=2.0, epoch_spread_seconds=0.1),
            _run("d", "three", "b", 0.90, epoch_median_seconds=1.9, epoch_spread_seconds=1.5),
            _run("d", "three", "c", 0.80, epoch_median_seconds=0.5, epoch_spread_seconds=0.1)]
    lines = overview(Study.of(rows[:2]))["datasets"][0]["lines"]
    assert "differ by less than their epoch-to-epoch spread" in lines[1]
    lines = overview(Study.of(rows))["datasets"][0]["lines"]
    assert "4.0× that of the fastest, d/three/c/seed0 (0.50 s)" in lines[1]
    # A CPU job that got far less CPU time than wall time ran on a busy machine.
    busy = {"device": "cpu (x86_64, 2 threads)", "train_job_seconds": 100.0, "train_job_cpu_seconds": 30.0}
    assert timing.busy_machine(busy)
    assert not timing.busy_machine({**busy, "train_job_cpu_seconds": 150.0})
    assert timing.busy_machine({**busy, "train_job_cpu_seconds": 90.0}, threads=2)  # 45% of two cores
    assert not timing.busy_machine({**busy, "device": "cuda (NVIDIA H200)"})


# --- one unit per quantity ----------------------------------------------------------------------------


def test_one_unit_per_quantity():
    # Each shown column's kind comes from its type and unit in cnncompare/columns.py.
    acc, epochs, params = tables.show("test_acc", "test"), tables.show("epochs_run"), tables.show("params_total")
    assert (acc.kind, epochs.kind, params.kind) == ("acc", "count", "count")
    assert tables.cell(0.97234, acc)["text"] == "97.2" and tables.cell(0.97234, acc)["title"] == "0.97234"
    assert numbers.pct(0.97234) == "97.2%"
    # Integers without decimals or "± 0", when every seed agrees.
    assert tables.group_cell([10, 10, 10], epochs)["text"] == "10"
    assert tables.group_cell([307946, 307946], params)["text"] == "307,946"
    assert tables.group_cell([8, 10], epochs)["text"] == "9.0 ± 1.4"
    assert tables.group_cell([0.91, 0.93], acc)["text"] == "92.0 ± 1.4"
    seconds = tables.show("epoch_median_seconds", "median epoch")
    assert tables.group_cell([2.0, 2.01, 2.02], seconds)["text"] == "2.0 ± 0.01"


# --- honest labels ------------------------------------------------------------------------------------


def test_a_description_that_claims_what_did_not_happen_is_flagged():
    random_start = "random initialisation"
    assert "pretrained: false" in labels.description_mismatch("VGG16 with ImageNet weights, frozen", random_start)
    assert labels.description_mismatch("The study's fine-tuning of ResNet50", random_start)
    assert labels.description_mismatch("from random weights here, not ImageNet's", random_start) is None
    assert labels.description_mismatch("The study's CNN, trained from scratch", random_start) is None
    assert labels.description_mismatch("trained from scratch", "ImageNet weights IMAGENET1K_V1")
    assert labels.description_mismatch("", random_start) is None


def test_settings_show_only_the_keys_that_took_effect():
    block = synthetic_runs.model_block("vgg16", optimizer="adam", momentum=0.9, nesterov=True, pretrained=False,
                                       weights="IMAGENET1K_V1", head={"dropout": 0.5})
    text, unused = labels.settings_text(block)
    shown = json.loads(text)
    for key in ("momentum", "nesterov", "weights", "dropout"):
        assert key not in shown, key
    assert shown["optimizer"] == "adam" and shown["head"] == {"dropout": 0.5}
    assert any(u.startswith("momentum: adam has no momentum") for u in unused)


# --- the data sets, and what other branches record in metrics.json ----------------------------------------


def test_data_set_table_and_cost_flags_come_from_metrics_json(tmp_path):
    """metrics.json's `data` (source files and MD5s, the prepared arrays'
    checksum, warnings) and `gpu_requested` reach the page; a run without them
    (an older one) is shown without them; a CPU job that waited is flagged."""
    data = {"sha256": "ab" * 32, "sources": [{"file": "cifar-10-python.tar.gz", "md5": "c58f30108f718f92721af3b95e74349a"}],
            "warnings": ["class 'cat' has 12 images, far fewer than the others (median 100)"]}
    results = tmp_path / "results"
    infos = [
        synthetic_runs.write_run(results / "a", "cifar10", "three", "custom_cnn", 0, accuracy=0.9,
                                 epoch_seconds=2.0, params=1000, extra={"data": data, "gpu_requested": True},
                                 sizes=(45000, 5000, 10000)),
        synthetic_runs.write_run(results / "b", "cifar10", "two", "custom_cnn", 0, accuracy=0.9, epoch_seconds=2.0,
                                 params=1000, cpu_share=0.2, sizes=(50000, 10000, 10000)),
        synthetic_runs.write_run(results / "c", "cifar10", "three", "on_gpu", 0, accuracy=0.9, epoch_seconds=2.0,
                                 params=1000, extra={"data": data, "gpu_requested": True},
                                 device="cuda (NVIDIA H200)", sizes=(45000, 5000, 10000)),
    ]
    rows = [{**i, "train_job_seconds": 100.0, "train_job_cpu_seconds": 30.0 if n == "b" else 150.0}
            for i, n in zip(infos, "abc")]
    run_files = [read_run_files(results / n / "metrics.json", results / n / "confusion.csv",
                                results / n / "misclassified.npz") for n in "abc"]
    out = tmp_path / "report.html"
    render(rows, [], run_files, REPO / "report/report.html.j2", out)
    html = out.read_text()
    dataset = re.search(r'<div data-dataset="cifar10">(.*?)<h3>Models', html, re.S).group(1)
    assert "<code>cifar-10-python.tar.gz</code> (MD5 <code>c58f30108f718f92721af3b95e74349a</code>)" in dataset
    assert f"<code>{'ab' * 32}</code>" in dataset
    assert "class &#39;cat&#39; has 12 images" in dataset
    parts = {r[0]["text"]: [c["text"] for c in r[1:4]] for r in _table(html, "dataset-cifar10")}
    assert parts == {"three": ["45,000", "5,000", "10,000"], "two": ["50,000", "10,000", "10,000"]}
    assert "10 classes, images of 32 x 32 px" in html
    costs = {r[0]["text"]: r[-1]["text"] for r in _table(html, "costs-table")}
    assert costs["cifar10/three/custom_cnn/seed0"] == "GPU requested, ran on the CPU"
    assert costs["cifar10/two/custom_cnn/seed0"] == "busy machine: the training job got 15% of the 2 cores it trained with"
    assert costs["cifar10/three/on_gpu/seed0"] == "–"


def test_text_in_a_number_column_names_the_file_line_run_and_column(tmp_path):
    path = tmp_path / "history.csv"
    path.write_text("dataset,split,model,seed,epoch,train_loss,train_acc,val_loss,val_acc,lr,epoch_seconds,"
                    "elapsed_seconds\n"
                    "d,two,m,0,1,2.0,0.5,2.1,0.4,0.01,1.0,1.0\n"
                    "d,two,m,0,2,nan,0.5,2.1,n/a,0.01,1.0,2.0\n")
    with pytest.raises(ReportDataError) as error:
        read_rows(path)
    assert str(error.value) == f"{path}, line 3 (run d/two/m/seed0), column val_acc: 'n/a' is not a number"
    path.write_text(path.read_text().replace("n/a", "0.41"))
    rows = read_rows(path)
    assert rows[1]["val_acc"] == 0.41 and rows[1]["train_loss"] != rows[1]["train_loss"]  # nan stays a number


# --- the smaller parts ------------------------------------------------------------------------------------


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


def _require_chromium():
    if chromium.find_chromium() is None:
        if os.environ.get("CI") == "true":
            pytest.fail("CI=true but no chromium: .ci/run must install Debian's chromium")
        pytest.skip("no chromium on this machine (CI installs Debian's chromium)")


def _fonts_with(text: str) -> set[str]:
    """Family names of the installed fonts that have a glyph for every character of `text` (fontconfig)."""
    charset = " ".join(f"{ord(c):x}" for c in text)
    listed = subprocess.run(["fc-list", f":charset={charset}", "family"], capture_output=True, text=True).stdout
    return {name.strip() for line in listed.splitlines() for name in line.split(",")}


def test_cjk_class_names_are_drawn_with_a_font_that_has_their_glyphs(tmp_path):
    """A confusion matrix of classes named in Chinese and Japanese, in a real
    browser: the names are drawn with a font that holds their glyphs (so not as
    boxes), which fontconfig confirms."""
    _require_chromium()
    classes = ["猫", "狗", "鳥", "ねこ"]
    names = "".join(classes)
    families = _fonts_with(names)
    if not families:
        if os.environ.get("CI") == "true":
            pytest.fail("no font with CJK glyphs: .ci/run must install fonts-wqy-microhei")
        pytest.skip("no font with CJK glyphs on this machine (CI installs fonts-wqy-microhei)")
    svg = figures.confusion_figure(np.diag([5, 6, 7, 8]), classes, "test set")
    page = tmp_path / "cjk.html"
    page.write_text(f'<!DOCTYPE html><html><head><meta charset="utf-8"></head><body>{svg}</body></html>',
                    encoding="utf-8")
    with chromium.Browser() as browser:
        browser.open(page.as_uri())
        drawn = [browser.fonts_of(f"g.class-names text:nth-child({i + 1})") for i in range(len(classes))]
        errors = browser.console_errors()
    assert errors == []
    for name, fonts in zip(classes, drawn):  # each row label "猫 (100%)": its CJK characters from a CJK font
        assert sum(f["glyphCount"] for f in fonts if f["familyName"] in families) == len(name), (name, fonts)


# --- the whole workflow, two models x two seeds -------------------------------------------------------


@pytest.fixture(scope="module")
def seeded(tmp_path_factory, cifar_archive):
    """custom_cnn and a one-epoch variant, two seeds each, on the three-way split."""
    root = tmp_path_factory.mktemp("report")
    (root / "repo").mkdir()
    snakefile = copy_workflow(root / "repo")
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
    body = re.search(rf'<table[^>]*\bid="{table_id}"[^>]*>.*?<tbody>(.*?)</tbody>', html, re.S)
    assert body, table_id
    rows = []
    for row in re.findall(r"<tr[^>]*>(.*?)</tr>", body.group(1), re.S):
        cells = []
        for attrs, text in re.findall(r"<td([^>]*)>(.*?)</td>", row, re.S):
            cells.append({"text": html_lib.unescape(re.sub(r"<[^>]+>", "", text)),
                          **{k: html_lib.unescape(v) for k, v in re.findall(r'([\w-]+)="([^"]*)"', attrs)}})
        rows.append(cells)
    return rows


SECTIONS = ["overview", "results", "datasets", "curves", "metrics", "costs", "tradeoffs", "runs", "splits", "seeds",
            "not-completed", "provenance"]


@pytest.mark.workflow
def test_every_section_is_there(seeded):
    html = seeded["html"]
    for section in SECTIONS:
        assert f'id="{section}"' in html, section
    for figure in ("figure-accuracy", "figure-loss", "figure-tradeoff-time", "figure-tradeoff-params"):
        assert re.search(rf'id="{figure}"><svg', html), figure
    assert html.count('class="figure confusion"><svg') == 4  # one heatmap per run
    assert html.count('class="figure confusion-pooled"><svg') == 2  # and one per model, over its seeds
    assert html.count('<table class="per-class">') == 6
    assert html.count('<details class="run-group"') == 2  # collapsed: no 'open'
    assert not re.search(r'<details class="run-group"[^>]* open', html)
    assert "All 4 runs completed." in html
    # The overview answers first: the best model, or those the paired tests cannot tell apart.
    assert "reached the highest test accuracy" in html or "cannot be told apart" in html
    # The two models compared on their shared test images, from the runs' own predictions.csv: two seeds
    # each, so the per-seed differences and no interval over seeds.
    assert re.search(r"\w+ \(2 seeds\) − \w+ \(2 seeds\): [+-]\d+\.\d points on average over the 2 seeds both "
                     r"ran \(fewer than 3: no interval\); seed by seed [+-]\d+\.\d \(seed 0\), [+-]\d+\.\d \(seed 1\)",
                     html)
    assert re.search(r'<table class="comparison-table text" id="comparison-cifar10-three">', html)
    assert 'id="banner"' not in html  # not a demo


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
                    scale = SHOWN_SCALE.get(spec.kind, 1)
                    assert abs(shown - value * scale) <= 0.5 * 10 ** -decimals + 1e-12, (column, cell)
                    if spec.kind == "acc":
                        assert decimals == 1  # accuracy: % with one decimal, everywhere
                checked.add(column)
    assert {"test_acc", "train_seconds", "train_job_seconds", "train_job_max_rss_mb", "evaluate_job_seconds",
            "params_trainable", "checkpoint_bytes", "peak_rss_mb", "gmacs", "inference_images_per_second",
            "latency_ms"} <= checked


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
            spec = COLUMNS[cell["data-column"]]
            assert float(cell["data-value"]) == pytest.approx(statistics.fmean(values), rel=1e-12)
            assert float(cell["data-std"]) == pytest.approx(statistics.stdev(values), rel=1e-12, abs=1e-15)
            if len(set(values)) == 1:  # every seed agrees: the value once, no "± 0"
                assert cell["text"] == numbers.fmt(values[0], spec.kind)
                continue
            mean_text, std_text = cell["text"].split(" ± ")
            digits = len(mean_text.partition(".")[2])
            shown_mean = statistics.fmean(values) * SHOWN_SCALE.get(spec.kind, 1)
            assert float(mean_text.replace(",", "")) == pytest.approx(shown_mean, abs=10 ** -digits)
            checked += 1
    assert checked >= 20


def _parse_accuracy(text: str) -> tuple[float, tuple[float, float] | None, int]:
    """(mean, (lowest, highest) seed for two seeds, n) of a results cell: "91.5 (range 90.0–93.0, n=2)"."""
    text = text.strip().replace("--", "–").replace("$", "")
    found = re.fullmatch(r"([\d.]+) \((?:range ([\d.]+)–([\d.]+), )?n=(\d+)\)", text)
    assert found, text
    spread = (float(found.group(2)), float(found.group(3))) if found.group(2) else None
    return float(found.group(1)), spread, int(found.group(4))


@pytest.mark.workflow
def test_results_table_as_markdown_and_latex_equals_summary_csv(seeded):
    """The copyable tables hold, per model, the mean test accuracy over the
    seeds with n (two seeds: their range, never a t-interval), the trainable
    parameters and the mean training time, as summary.csv gives them."""
    html = seeded["html"]
    markdown = html_lib.unescape(re.search(r'<textarea[^>]*id="results-markdown"[^>]*>(.*?)</textarea>', html,
                                           re.S).group(1))
    latex = html_lib.unescape(re.search(r'<textarea[^>]*id="results-latex"[^>]*>(.*?)</textarea>', html,
                                        re.S).group(1))
    lines = [line for line in markdown.splitlines() if line.startswith("|")]
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    assert header == ["model", "cifar10, three splits: test acc. (%)", "cifar10, three splits: trainable params",
                      "cifar10, three splits: training (s)"]
    md_rows = {cells[0]: cells[1:] for cells in
               ([c.strip() for c in line.strip("|").split("|")] for line in lines[2:])}
    tex_rows = {cells[0].replace(r"\_", "_"): cells[1:] for cells in
                ([c.strip() for c in line.rstrip("\\").split(" & ")] for line in latex.splitlines()
                 if line.strip().endswith(r"\\") and " & " in line and not line.startswith(("model", " &")))}
    assert set(md_rows) == set(tex_rows) == {"custom_cnn", "quick_cnn"}
    for model in ("custom_cnn", "quick_cnn"):
        runs = [r for r in seeded["summary"] if r["model"] == model]
        accs = [float(r["test_acc"]) for r in runs]
        mean = statistics.fmean(accs)
        seconds = statistics.fmean(float(r["train_seconds"]) for r in runs)
        for cells in (md_rows[model], [c.strip().rstrip("\\").strip() for c in tex_rows[model]]):
            shown_mean, shown_range, n = _parse_accuracy(cells[0])
            assert n == len(runs) == 2
            assert shown_mean == pytest.approx(mean * 100, abs=0.05)
            assert shown_range == pytest.approx((min(accs) * 100, max(accs) * 100), abs=0.05)
            assert cells[1] == f"{int(runs[0]['params_trainable']):,}"
            # A time from a busy machine (this 2-core machine may be one) carries its mark: † or \dag{}.
            time_text = re.fullmatch(r"([\d,.]+)(?: †| \\dag\{\})?", cells[2]).group(1)
            assert float(time_text.replace(",", "")) == pytest.approx(seconds, abs=0.05 if seconds < 100 else 0.5)
    assert r"\begin{tabular}" in latex and r"\multicolumn{3}{c}{cifar10, three splits}" in latex


@pytest.mark.workflow
def test_config_text_is_escaped(seeded):
    html = seeded["html"]
    assert html_lib.escape(SCRIPT_TEXT) in html or "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; more" in html
    assert "<script>alert" not in html
    assert html.count("<script>") == 1  # the page's own script, nothing else


@pytest.mark.workflow
def test_provenance_names_the_workflow_commit(seeded):
    head = subprocess.run(["git", "-C", str(seeded["root"] / "repo"), "rev-parse", "HEAD"],
                          capture_output=True, text=True, check=True).stdout.strip()
    assert f"git commit <code>{head}</code>" in seeded["html"]
    assert "uncommitted changes" not in seeded["html"]
    assert re.search(r"Settings of quick_cnn \(2 runs: cifar10/three/quick_cnn/seed0, cifar10/three/quick_cnn/seed1\)",
                     seeded["html"])
    # custom_cnn reads no pretrained weights, so no weights key is shown among its settings.
    settings = json.loads(html_lib.unescape(re.search(r"Settings of custom_cnn .*?<pre>(.*?)</pre>", seeded["html"],
                                                      re.S).group(1)))
    assert "weights" not in settings and "pretrained" not in settings and settings["lr"] == 0.02


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
                assert (results / f"figures/{name}/{model}/cifar10/three/seed{seed}_{name}.svg").is_file()
    assert len(html.encode()) < 5 * 2**20


@pytest.mark.workflow
def test_report_in_headless_chromium(seeded, tmp_path):
    """Rendered by a real browser: no console error, nothing requested but the
    file itself and its inline data: images, and the tables sort on a click."""
    _require_chromium()
    page = seeded["results"] / "report.html"
    with chromium.Browser() as browser:
        browser.open(page.as_uri())
        shot = browser.screenshot(tmp_path / "report.png", 1280, 900)
        order = browser.evaluate("""(() => {
            const table = document.querySelector('#metrics-table');
            table.closest('details').open = true;
            const th = [...table.querySelectorAll('thead tr:last-child th')].find(h => h.textContent === 'test');
            th.click();
            return [...table.querySelectorAll('tbody tr')].map(r => parseFloat(r.cells[th.cellIndex].dataset.value));
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
    assert _plan(seeded, config, "added.yaml") == {  # a new network (dropout): its inference cost once
        "measure_inference": 1, "train_model": 2, "evaluate_model": 2, "aggregate_results": 1, "render_report": 1, "all": 1,
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
def test_a_reference_re_renders_only_and_a_false_description_is_flagged(seeded, tmp_path):
    """`reference:` and `description` are text for the report: editing them
    plans render_report only. Rendered, the reference stands beside the measured
    figure, and a description claiming ImageNet weights for a run that started
    from random weights is flagged."""
    config = yaml.safe_load(yaml.safe_dump(seeded["config"]))
    config["models"]["quick_cnn"]["reference"] = {"accuracy": 0.85, "training_time": "about 2 h",
                                                  "dataset": "cifar10", "source": "a study, Table 2"}
    config["models"]["quick_cnn"]["description"] = "A small CNN with ImageNet weights"
    assert _plan(seeded, config, "referenced.yaml") == {"render_report": 1, "all": 1}
    out = tmp_path / "report.html"
    results = seeded["results"]
    runs = [results / "runs/cifar10/three" / r["model"] / f"seed{r['seed']}" for r in seeded["summary"]]
    from cnncompare.report.render import render_files

    render_files(results / "summary.csv", results / "history.csv", REPO / "report/report.html.j2", out,
                 metrics=[r / "metrics.json" for r in runs], confusion=[r / "confusion.csv" for r in runs],
                 misclassified=[r / "misclassified.npz" for r in runs],
                 models={m: {k: config["models"][m].get(k) for k in ("description", "reference")}
                         for m in ("custom_cnn", "quick_cnn")})
    html = out.read_text()
    results_rows = {r[0]["text"]: r for r in _table(html, "results-table")}
    assert results_rows["quick_cnn"][-1]["text"] == "85.0%; about 2 h"
    assert results_rows["quick_cnn"][-1]["title"] == "a study, Table 2"
    assert results_rows["custom_cnn"][-1]["text"] == ""
    models = {r[0]["text"]: r for r in _table(html, "models-table")}
    assert "speaks of pretrained weights (“ImageNet”), but these runs started from random initialisation " \
           "(pretrained: false)" in models["quick_cnn"][5]["text"]
    assert "pretrained weights" not in models["custom_cnn"][5]["text"]


@pytest.mark.workflow
def test_a_failed_render_keeps_the_last_good_report(seeded):
    """A template error, then text in a number column of history.csv: the
    render fails, naming the cause (the file and column for bad data), and the
    previous report.html and every figure stay as they were. Fixed, the next
    run renders again."""
    results = seeded["results"]
    before = {p: p.read_bytes() for p in [results / "report.html", *sorted((results / "figures").rglob("*.svg"))]}
    assert len(before) == 1 + 4 + 2 * 4

    def run_and_check(expected_message: str):
        proc = snakemake(seeded["workdir"], seeded["workdir"] / "config.yaml", check=False,
                         snakefile=seeded["snakefile"])
        output = proc.stdout + proc.stderr
        assert proc.returncode != 0
        assert expected_message in output or expected_message in (results / "logs/render_report.log").read_text()
        assert "Restored previous version of" in output
        for path, content in before.items():
            assert path.read_bytes() == content, path
        assert not (results / "report.partial.html").exists()

    template = seeded["root"] / "repo/report/report.html.j2"
    original = template.read_text()
    history = results / "history.csv"
    history_text = history.read_text()
    try:
        template.write_text(original.replace("{{ runs|length }} run", "{{ runs|lenght }} run", 1))
        run_and_check("No filter named 'lenght'")
        template.write_text(original)
        lines = history_text.splitlines(keepends=True)
        header = lines[1 - 1].rstrip("\n").split(",")
        cells = lines[2].rstrip("\n").split(",")
        cells[header.index("val_acc")] = "n/a"
        history.write_text("".join([*lines[:2], ",".join(cells) + "\n", *lines[3:]]))
        run = "/".join(cells[:3]) + f"/seed{cells[3]}"
        run_and_check(f"{history}, line 3 (run {run}), column val_acc: 'n/a' is not a number")
    finally:
        template.write_text(original)
        history.write_text(history_text)
    snakemake(seeded["workdir"], seeded["workdir"] / "config.yaml", snakefile=seeded["snakefile"])
    seeded["html"] = (results / "report.html").read_text()
    assert "All 4 runs completed." in seeded["html"]


@pytest.mark.workflow
def test_failed_runs_are_listed_in_a_partial_report(seeded):
    """A model that fails in training (its cached ImageNet weights file is not one:
    the plan cannot know, the job does when it loads it): the other runs stay, and
    report.partial.html lists the failed ones with their status, last epoch and
    error, while report.html keeps the complete grid's."""
    from cnncompare.plan import arch_facts
    from cnncompare.plan.archs import weights_file_path

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


# --- the demo's own report --------------------------------------------------------------------------------


@pytest.mark.workflow
def test_the_demo_report_carries_its_banner(finished_demo):
    """The demo's config (.test/demo.yaml over config.yaml), cut to short runs of two of its models
    (conftest.DEMO_CUT): the report opens with the banner, the demo's descriptions say what ran
    (nothing flagged), and the settings shown leave out what took no effect (Adam's momentum, a
    weights name without pretrained weights)."""
    html = (finished_demo / "results/demo/report.html").read_text()
    banner = yaml.safe_load((REPO / ".test/demo.yaml").read_text())["report"]["banner"]
    assert html_lib.unescape(re.search(r'<p class="banner" id="banner">(.*?)</p>', html).group(1)) == banner
    assert "not the study" in banner and "random initialisation" in banner
    assert "mismatch" not in html  # the demo's descriptions say what ran
    models = {r[0]["text"]: r for r in _table(html, "models-table")}
    assert models["vgg16"][2]["text"] == "random initialisation"
    settings = json.loads(html_lib.unescape(re.search(r"Settings of vgg16 .*?<pre>(.*?)</pre>", html, re.S).group(1)))
    assert settings["optimizer"] == "adam" and settings["pretrained"] is False
    for key in ("momentum", "nesterov", "weights", "dropout"):
        assert key not in settings, key


def test_a_newline_in_reference_text_never_reaches_latex_as_a_line():
    """A newline in reference.source ended the LaTeX comment it was written in, so the next
    line was live LaTeX; in a cell, a blank line breaks the tabular."""
    from cnncompare.report.paper_table import to_latex, to_markdown

    source = "Smith et al.\n\\input{/etc/passwd}\r\n\n100% of it"
    table = {"groups": [{"title": "cifar10,\nreported", "span": 1}],
             "columns": [{"title": "reported\nelsewhere"}],
             "rows": [{"model": "m", "cells": [{"text": "89.0%\n\n\\bad"}]}],
             "sources": [{"model": "m", "source": source, "text": "89.0%"}]}
    latex = to_latex(table)
    for line in latex.splitlines():
        # the source's text stays inside its comment: no line of live LaTeX holds it
        if not line.startswith("%"):
            assert "passwd" not in line and "of it" not in line, line
    comment = next(line for line in latex.splitlines() if line.startswith("% Reported for m"))
    assert "\\input{/etc/passwd}" in comment and "100% of it" in comment
    assert "89.0\\%  \\textbackslash{}bad" in latex
    markdown = to_markdown(table)
    assert "| m | 89.0%  \\bad |" in markdown
    assert "Reported for m: 89.0% (Smith et al. \\input{/etc/passwd}  100% of it)." in markdown
