"""The whole DAG, run by Snakemake itself, on a tiny archive in the real CIFAR-10 format."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import pytest
import yaml

from bad_configs import BAD_CONFIGS
from conftest import REPO, planned_jobs, snakemake, tiny_config, write_config
from weights_format import write_random_weights

pytestmark = pytest.mark.workflow

RUNS = [("two", "custom_cnn"), ("three", "custom_cnn")]
RUN_FILES = [
    "model.pt", "history.csv", "train.json", "metrics.json", "confusion.csv", "misclassified.npz", "predictions.csv",
    "train.log", "evaluate.log", "train.benchmark.tsv", "evaluate.benchmark.tsv",
]


def _plan(workdir: Path, config: dict, name: str) -> dict[str, int]:
    configfile = write_config(workdir / name, config)
    proc = snakemake(workdir, configfile, "--dry-run")
    return planned_jobs(proc.stdout + proc.stderr)


def test_every_output_exists(finished):
    results = Path(finished["config"]["results_dir"])
    data = Path(finished["config"]["data_dir"])
    for name in ("downloads/cifar10/cifar-10-python.tar.gz", "cifar10/train.npz", "cifar10/test.npz", "cifar10/classes.json",
                 "cifar10/splits/two.npz", "cifar10/splits/three.npz"):
        assert (data / name).is_file(), name
    for split, model in RUNS:
        run_dir = results / "runs" / "cifar10" / split / model / "seed0"
        for name in RUN_FILES:
            assert (run_dir / name).is_file(), run_dir / name
    for name in ("summary.csv", "history.csv", "report.html"):
        assert (results / name).is_file(), name


def test_summary_has_one_row_per_run_and_learns(finished, cifar_archive):
    results = Path(finished["config"]["results_dir"])
    with open(results / "summary.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert sorted((r["split"], r["model"]) for r in rows) == sorted(RUNS)
    for row in rows:
        assert row["status"] == "completed"
        assert int(row["epochs_run"]) == 3
        # Ten balanced classes: chance is 0.1.
        assert float(row["test_acc"]) > 0.5, row
        assert int(row["params_trainable"]) == int(row["params_total"]) > 250_000
        assert row["peak_gpu_mem_mb"] == ""  # null on the CPU
    three = next(r for r in rows if r["split"] == "three")
    # The study's three-way split: a tenth of the archive's train part for validation.
    n_train, n_test = len(cifar_archive["train"][1]), len(cifar_archive["test"][1])
    assert (int(three["train_size"]), int(three["val_size"]), int(three["test_size"])) == (
        n_train - n_train // 10, n_train // 10, n_test)


def test_summary_holds_every_setting_and_the_inference_cost(finished):
    """The columns the tables are described by (tests/test_columns.py checks the
    files' headers against them), filled from the run's settings and its evaluation."""
    from cnncompare.columns import HISTORY, SUMMARY
    from test_columns import check_against_description

    results = Path(finished["config"]["results_dir"])
    rows = check_against_description(results / "summary.csv", SUMMARY)
    check_against_description(results / "history.csv", HISTORY)
    block = finished["config"]["models"]["custom_cnn"]
    # custom_cnn, 10 classes: tests/test_inference_cost.py counts its multiply-adds by hand at 32 px
    # (38,653,952, of which 20,480 in the dense layer); the convolutions' scale with the area.
    size = block["image_size"]
    macs = (38_653_952 - 20_480) * size**2 // 32**2 + 20_480
    for row in rows:
        # The config's settings, and the schema's defaults for those it leaves out.
        assert (row["optimizer"], float(row["lr"]), int(row["batch_size"]), int(row["eval_batch_size"])) == (
            "sgd", block["lr"], block["batch_size"], 1000)
        assert (int(row["epochs_planned"]), row["pretrained"], row["weights"], row["freeze"]) == (
            block["epochs"], "False", "", "none")
        assert (int(row["image_size"]), int(row["num_classes"]), float(row["chance_acc"])) == (size, 10, 0.1)
        assert float(row["gmacs"]) * 1e9 == macs
        assert float(row["inference_images_per_second"]) > 0 and float(row["latency_ms"]) > 0
        metrics = json.loads((results / "runs/cifar10" / row["split"] / "custom_cnn/seed0/metrics.json").read_text())
        assert metrics["inference_measured"]["macs"] == macs
        assert metrics["inference_measured"]["batch_size"] == 1000
        log = (results / "runs/cifar10" / row["split"] / "custom_cnn/seed0/evaluate.log").read_text()
        assert f"inference: {macs / 1e9:.4f} GMACs per image at {size} px" in log
    # Measured once for the network (measure_inference), which both splits' runs share: the same
    # figures, timings included, with where they come from.
    (found,) = (results / "inference/cifar10").glob("custom_cnn-*.json")  # one network: custom_cnn's
    shared = json.loads(found.read_text())
    for row in rows:
        assert (float(row["gmacs"]), float(row["inference_images_per_second"]), float(row["latency_ms"])) == (
            shared["gmacs"], shared["inference_images_per_second"], shared["latency_ms"])
    assert shared["inference_measured"]["by"].startswith("rule measure_inference")
    # It claimed every core of the local run, so no training job ran beside it.
    assert shared["inference_measured"]["alone"] is True
    assert shared["inference_measured"]["cores_claimed"] == 2  # conftest.snakemake's --cores
    # The config's inference_timing reached the timing (conftest's tiny config: 0.1 s, not the default 1 s).
    assert shared["inference_measured"]["throughput_seconds"] == 0.1


def test_metrics_json_holds_the_contract_keys(finished):
    metrics_path = Path(finished["config"]["results_dir"]) / "runs/cifar10/two/custom_cnn/seed0/metrics.json"
    metrics = json.loads(metrics_path.read_text())
    required = [
        "dataset", "split", "model", "arch", "seed", "epochs_run", "best_epoch", "train_loss", "train_acc",
        "val_loss", "val_acc", "test_loss", "test_acc", "train_seconds", "images_per_second", "peak_rss_mb",
        "peak_gpu_mem_mb", "checkpoint_bytes", "params_total", "params_trainable", "device", "versions", "status",
        "tested_epoch", "tested_weights", "performance", "chance_acc", "balanced_acc", "macro_f1", "eval_threads",
    ]
    missing = [k for k in required if k not in metrics]
    assert not missing
    assert set(metrics["versions"]) >= {"python", "torch", "torchvision", "snakemake"}
    assert metrics["device"].startswith("cpu")
    # performance left out of the config: its defaults, resolved for the CPU.
    assert metrics["performance"] == {"precision": "fp32", "channels_last": True, "compile": False, "deterministic": False}
    assert metrics["checkpoint_bytes"] == (metrics_path.parent / "model.pt").stat().st_size
    # In the two-split protocol validation is the test set, so they agree exactly.
    assert metrics["val_acc"] == metrics["test_acc"]
    assert 1 <= metrics["tested_epoch"] <= metrics["epochs_run"]
    # Ten classes of 30 test images each: chance is 0.1, and balanced accuracy equals accuracy.
    assert metrics["chance_acc"] == 0.1 and abs(metrics["balanced_acc"] - metrics["test_acc"]) < 1e-6
    assert 0 <= metrics["macro_f1"] <= 1


def test_history_has_every_epoch_of_every_run(finished):
    results = Path(finished["config"]["results_dir"])
    with open(results / "history.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 3 * len(RUNS)
    assert {"dataset", "split", "model", "seed", "epoch", "train_acc", "val_acc", "lr", "epoch_seconds"} <= set(rows[0])
    log = (results / "runs/cifar10/three/custom_cnn/seed0/train.log").read_text()
    assert re.search(r"epoch 3/3 .* left\)", log)


def test_report_is_self_contained_and_names_every_run(finished):
    html = (Path(finished["config"]["results_dir"]) / "report.html").read_text()
    for split, model in RUNS:
        assert f"cifar10/{split}/{model}/seed0" in html
    # Nothing that a browser would fetch: no external src/href, no url() but
    # in-page references (the SVG clip paths' "url(#id)"), no @import or <link>.
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", html, re.I)
    assert not re.search(r"""url\(\s*["']?(?!#)""", html, re.I)
    assert not re.search(r"@import|<link\b", html, re.I)
    assert html.count("<svg") >= 2  # the accuracy and loss figures, embedded
    # The only URLs are the SVG and XLink namespace names, which nothing fetches.
    assert set(re.findall(r"https?://[^\s\"'<>)]*", html)) <= {"http://www.w3.org/2000/svg", "http://www.w3.org/1999/xlink"}
    for section in ('id="metrics-table"', 'id="costs-table"', 'id="figure-accuracy"', 'id="figure-loss"'):
        assert section in html


def test_the_download_shows_progress(finished):
    log = (Path(finished["config"]["data_dir"]) / "logs/download_dataset/cifar10/cifar-10-python.tar.gz.log").read_text()
    assert "downloaded" in log and "%" in log
    assert finished["config"]["datasets"]["cifar10"]["md5"] in log


def test_rerun_with_reordered_yaml_keys_does_nothing(finished):
    config = yaml.safe_load(finished["configfile"].read_text())
    block = config["models"]["custom_cnn"]
    config["models"]["custom_cnn"] = dict(reversed(list(block.items())))
    config = dict(reversed(list(config.items())))
    assert _plan(finished["workdir"], config, "reordered.yaml") == {}


def test_adding_a_model_trains_only_its_runs(finished):
    config = yaml.safe_load(finished["configfile"].read_text())
    config["models"]["custom_cnn_wide_dropout"] = {**config["models"]["custom_cnn"], "dropout": 0.4}
    config["compare"]["models"].append("custom_cnn_wide_dropout")
    jobs = _plan(finished["workdir"], config, "added.yaml")
    assert jobs == {
        "measure_inference": 1, "train_model": 2, "evaluate_model": 2, "aggregate_results": 1,
        "render_report": 1, "all": 1,
    }


def test_editing_a_description_only_re_renders_the_report(finished):
    config = yaml.safe_load(finished["configfile"].read_text())
    config["models"]["custom_cnn"]["description"] = "now described"
    assert _plan(finished["workdir"], config, "described.yaml") == {"render_report": 1, "all": 1}


def test_report_shows_descriptions_as_text(finished, tmp_path):
    from cnncompare.report.render import render_files

    results = Path(finished["config"]["results_dir"])
    runs = [results / "runs/cifar10" / split / model / "seed0" for split, model in RUNS]
    out = tmp_path / "report.html"
    render_files(results / "summary.csv", results / "history.csv", REPO / "report/report.html.j2", out,
                 metrics=[r / "metrics.json" for r in runs], confusion=[r / "confusion.csv" for r in runs],
                 misclassified=[r / "misclassified.npz" for r in runs],
                 models={"custom_cnn": {"description": "<script>alert('x')</script> & more"}})
    html = out.read_text()
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; more" in html
    assert "<script>alert" not in html


def test_report_compares_the_two_splits(finished):
    """custom_cnn ran with both splits: its two test accuracies side by side, as in summary.csv,
    and the sentence on choosing the epoch on the test set."""
    results = Path(finished["config"]["results_dir"])
    with open(results / "summary.csv", newline="") as fh:
        acc = {r["split"]: r["test_acc"] for r in csv.DictReader(fh)}
    html = (results / "report.html").read_text()
    row = re.search(r'<table id="splits-table".*?<tbody>\s*<tr[^>]*>(.*?)</tr>', html, re.S).group(1)
    values = re.findall(r'data-value="([^"]*)"', row)
    assert values[0] == "cifar10/custom_cnn" and values[1:3] == [acc["two"], acc["three"]]
    assert "picking the best epoch on the test set added" in html
    assert "biased upwards" in html


def test_changing_one_models_setting_retrains_only_that_model(finished):
    config = yaml.safe_load(finished["configfile"].read_text())
    config["models"]["custom_cnn"]["epochs"] = 4
    jobs = _plan(finished["workdir"], config, "more_epochs.yaml")
    assert jobs.get("train_model") == 2
    assert "prepare_dataset" not in jobs and "make_split" not in jobs and "download_dataset" not in jobs


def test_changing_a_performance_switch_retrains_every_run(finished):
    config = yaml.safe_load(finished["configfile"].read_text())
    config["performance"] = {"precision": "bf16"}
    jobs = _plan(finished["workdir"], config, "bf16.yaml")
    assert jobs.get("train_model") == 2 and jobs.get("evaluate_model") == 2
    assert "prepare_dataset" not in jobs and "make_split" not in jobs


def test_dry_run_of_the_default_config_plans_the_study(study_dry_run):
    jobs = planned_jobs(study_dry_run["output"])
    # The study's comparison: 4 models x 2 splits; VGG16's two variants share one weights file.
    assert jobs == {
        "download_dataset": 1, "download_weights": 2, "prepare_dataset": 1, "make_split": 2,
        # vgg16 and vgg16_finetune are one network (they differ in training only): measured once.
        "measure_inference": 3, "train_model": 8, "evaluate_model": 8, "aggregate_results": 1,
        "render_report": 1, "all": 1,
    }


def test_a_bad_config_fails_through_snakemake_before_any_job(tmp_path, cifar_archive):
    """The message of the plan's checks reaches the user through the real Snakefile, every problem
    at once, and Snakemake stops with no job run. tests/test_bad_configs.py plans each mistake
    of tests/bad_configs.py on its own, without Snakemake."""
    config = tiny_config(tmp_path, cifar_archive)
    cases = ("unknown key in a model block", "seed that is not an integer")
    for case in cases:
        BAD_CONFIGS[case][0](config)
    proc = snakemake(tmp_path, write_config(tmp_path / "bad.yaml", config), check=False)
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "invalid configuration:" in output
    for case in cases:
        for text in BAD_CONFIGS[case][1]:
            assert text in output, (text, output[-2000:])
    # No job ran: nothing was downloaded, prepared or trained.
    assert not (tmp_path / "data").exists() and not (tmp_path / "results").exists()
    assert not list(tmp_path.glob("results*"))


def test_torchvision_models_from_config_only_run_through_the_dag(tmp_path, cifar_archive):
    """A generic torchvision model added only here, at 64 px from random weights,
    beside the same model pretrained from a weights file the test places in the
    cache: both train and evaluate, and nothing is downloaded."""
    weights_dir = tmp_path / "weights"
    cached, _ = write_random_weights("mobilenet_v3_small", weights_dir)
    small = {"arch": "mobilenet_v3_small", "epochs": 1, "batch_size": 50, "lr": 0.02, "head": {"hidden": [32]}}
    config = tiny_config(
        tmp_path, cifar_archive,
        weights_dir=str(weights_dir),
        models={
            "mnet_random_64": {**small, "image_size": 64},
            "mnet_pretrained": {**small, "pretrained": True, "freeze": "base"},
        },
        compare={"datasets": ["cifar10"], "splits": ["three"], "models": ["mnet_random_64", "mnet_pretrained"]},
    )
    proc = snakemake(tmp_path, write_config(tmp_path / "tv.yaml", config))
    jobs = planned_jobs(proc.stdout + proc.stderr)
    assert "download_weights" not in jobs  # the cache already holds the file
    assert jobs["train_model"] == 2 and jobs["evaluate_model"] == 2
    runs = tmp_path / "results/runs/cifar10/three"
    random_run = json.loads((runs / "mnet_random_64/seed0/metrics.json").read_text())
    pretrained = json.loads((runs / "mnet_pretrained/seed0/metrics.json").read_text())
    assert random_run["image_size"] == 64 and random_run["init"] == "random initialisation"
    assert random_run["weights"] is None and random_run["params_frozen"] == 0
    assert pretrained["weights"] == "MobileNet_V3_Small_Weights.IMAGENET1K_V1"
    assert pretrained["init"] == "ImageNet weights MobileNet_V3_Small_Weights.IMAGENET1K_V1"
    assert pretrained["params_frozen"] > pretrained["params_trainable"] > 0
    assert pretrained["params_frozen"] + pretrained["params_trainable"] == pretrained["params_total"]
    for metrics in (random_run, pretrained):
        assert metrics["status"] == "completed" and 0 <= metrics["test_acc"] <= 1
    html = (tmp_path / "results/report.html").read_text()
    assert "random initialisation" in html and "MobileNet_V3_Small_Weights.IMAGENET1K_V1" in html
    assert cached.stat().st_size > 0  # still there, untouched by the run


def test_settings_that_do_nothing_are_warned_and_planned(tmp_path, cifar_archive, study_dry_run):
    """weights without pretrained and momentum under adam: a warning at plan time naming
    each key, not an error; the study itself (whose defaults include both) warns of nothing."""
    config = tiny_config(tmp_path, cifar_archive)
    config["models"]["custom_cnn"].update(optimizer="adam", momentum=0.5)
    config["models"]["r18"] = {"arch": "resnet18", "weights": "IMAGENET1K_V1"}
    config["compare"]["models"].append("r18")
    proc = snakemake(tmp_path, write_config(tmp_path / "unused.yaml", config), "--dry-run")
    assert planned_jobs(proc.stdout + proc.stderr)["train_model"] == 4
    output = proc.stdout + proc.stderr
    assert "cnncompare: warning: models.custom_cnn.momentum has no effect: adam has no momentum" in output
    assert "cnncompare: warning: models.r18.weights has no effect: pretrained is false" in output
    assert "nesterov" not in output  # a default of the schema, not written: not told
    assert "cnncompare: warning" not in study_dry_run["output"]


def test_numbers_given_with_nested_config_are_told_to_come_from_a_file(tmp_path, cifar_archive):
    configfile = write_config(tmp_path / "tiny.yaml", tiny_config(tmp_path, cifar_archive))
    proc = snakemake(tmp_path, configfile, "--dry-run", "--config", "models={custom_cnn: {lr: 0.05}}", check=False)
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "models.custom_cnn.lr: '0.05' is text, not a number" in output
    assert "Snakemake passes values nested in --config as text" in output and "--configfile" in output
    # Top-level values are read as numbers by Snakemake itself, and work.
    ok = snakemake(tmp_path, configfile, "--dry-run", "--config", "max_planned_hours=5000")
    assert planned_jobs(ok.stdout + ok.stderr)["train_model"] == 2


def test_another_working_directory_says_that_no_config_yaml_was_read(tmp_path):
    """--directory elsewhere with the demo's overlay alone: the message says config.yaml was not
    read and how to pass it, instead of only listing what the overlay lacks."""
    proc = snakemake(tmp_path, REPO / ".test" / "demo.yaml", "--dry-run", check=False)
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert f"no config.yaml in {tmp_path}" in output
    assert f"--configfile {REPO / 'config.yaml'} {REPO / '.test' / 'demo.yaml'}" in output
    both = snakemake(tmp_path, REPO / "config.yaml", "--dry-run", "--configfile", str(REPO / "config.yaml"),
                     str(REPO / ".test" / "demo.yaml"))
    assert planned_jobs(both.stdout + both.stderr)["train_model"] == 8


def test_a_home_folder_tilde_is_expanded_and_no_folder_named_tilde_is_made(tmp_path, cifar_archive):
    home = tmp_path / "home"
    home.mkdir()
    config = tiny_config(tmp_path / "work", cifar_archive, results_dir="~/cnncompare/results",
                         data_dir="~/cnncompare/data")
    (tmp_path / "work").mkdir()
    env_home = {"HOME": str(home)}
    proc = snakemake(tmp_path / "work", write_config(tmp_path / "home.yaml", config), "--dry-run", env=env_home)
    output = proc.stdout + proc.stderr
    assert f"{home}/cnncompare/results/report.html" in output and f"{home}/cnncompare/data/cifar10/train.npz" in output
    assert "~/" not in output and not (tmp_path / "work" / "~").exists()
