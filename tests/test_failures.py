"""The real workflow when things go wrong: broken data, a run that diverges,
Snakemake itself interrupted by Ctrl-C, and a second Snakemake in the same folder.

Past the broken data, the tests share one comparison that meets all the rest
(one Snakemake run costs a minute here): a variant of conftest's `finished`
config, run in its folder (so the data is prepared already) with a results_dir
of its own, and compared with the runs of `finished`.
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest
import torch
import yaml

from conftest import REPO, SNAKEMAKE, snakemake, tiny_config, write_config

pytestmark = pytest.mark.workflow

RUN = "runs/cifar10/two/custom_cnn/seed0"


def rows(path: Path) -> list[dict]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def without_times(history: list[dict]) -> list[dict]:
    return [{k: v for k, v in row.items() if "seconds" not in k} for row in history]


# --- broken data ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("broken", ["wrong md5", "truncated archive"])
def test_broken_data_fails_naming_the_file_and_leaves_nothing_behind(tmp_path, cifar_archive, broken):
    """Through the workflow: the download with a wrong MD5 (the unit tests of
    every other kind are in tests/test_datasets.py and tests/test_formats.py),
    and an archive cut in half but served with its own MD5, which downloads and
    then fails to prepare."""
    source = {"url": cifar_archive["url"], "md5": "0123456789abcdef0123456789abcdef"}
    if broken == "truncated archive":
        half = cifar_archive["path"].read_bytes()[: cifar_archive["path"].stat().st_size // 2]
        (tmp_path / "cut").mkdir()
        cut = tmp_path / "cut" / "cifar-10-python.tar.gz"
        cut.write_bytes(half)
        source = {"url": cut.as_uri(), "md5": hashlib.md5(half).hexdigest()}
    config = tiny_config(tmp_path, source)
    proc = snakemake(tmp_path, write_config(tmp_path / "broken.yaml", config), check=False)
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0
    data = tmp_path / "data"
    if broken == "wrong md5":
        assert f"MD5 mismatch for {source['url']}: expected {source['md5']}, got {cifar_archive['md5']}" in output
        assert not (data / "downloads/cifar10").exists() or not any((data / "downloads/cifar10").iterdir())
    else:
        archive = data / "downloads/cifar10/cifar-10-python.tar.gz"
        assert f"cannot read archive {archive}" in output
        assert archive.exists()  # it is what was served; the MD5 said so
        assert not (data / "cifar10").exists() or not any((data / "cifar10").iterdir())
    assert not (tmp_path / "results" / "runs").exists()  # no training started on it


# --- one comparison: a diverging run, Ctrl-C, a second Snakemake in the same folder ---------------


def start_snakemake(workdir: Path, configfile: Path, log: Path) -> subprocess.Popen:
    """Snakemake from the repository folder, so with profiles/default, in a
    process group of its own, as a terminal starts it, so that a signal to the
    group reaches it and its jobs alike (as Ctrl-C does)."""
    with open(log, "w") as out:
        return subprocess.Popen(
            [SNAKEMAKE, "--snakefile", str(REPO / "Snakefile"), "--directory", str(workdir), "--configfile",
             str(configfile), "--cores", "2"],
            stdout=out, stderr=subprocess.STDOUT, start_new_session=True, cwd=REPO,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )


def wait_for(condition, proc: subprocess.Popen, log: Path, what: str, timeout: float = 240) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert proc.poll() is None, f"Snakemake ended before {what}:\n{log.read_text()[-3000:]}"
        assert time.monotonic() < deadline, f"no {what} in time"
        time.sleep(0.05)


@pytest.fixture(scope="module")
def interrupted(finished):
    """The `two` run of `finished` beside `exploding`, the same model at
    learning rate 1.0e8. Snakemake is Ctrl-C'ed once custom_cnn's training has
    saved an epoch, then started again, and while that one runs, a second
    Snakemake is started on the same folder."""
    workdir = finished["workdir"]
    config = yaml.safe_load(finished["configfile"].read_text())
    config["results_dir"] = str(workdir / "interrupted")
    config["models"]["exploding"] = {**config["models"]["custom_cnn"], "lr": 1.0e8, "warmup_epochs": 0}
    config["compare"].update(splits=["two"], models=["custom_cnn", "exploding"])
    configfile = write_config(workdir / "interrupted.yaml", config)
    results = Path(config["results_dir"])
    checkpoint = results / "checkpoints/cifar10/two/custom_cnn/seed0.pt"

    first_log = workdir / "interrupted-first.log"
    first = start_snakemake(workdir, configfile, first_log)
    wait_for(checkpoint.exists, first, first_log, "checkpoint of custom_cnn")
    os.killpg(first.pid, signal.SIGINT)
    first_code = first.wait(timeout=120)
    kept_epoch = torch.load(checkpoint, weights_only=True)["epoch"]
    trained_before = (results / RUN / "model.pt").exists()
    interrupted_log = (results / RUN / "train.log").read_text()

    rerun_log = workdir / "interrupted-rerun.log"
    rerun = start_snakemake(workdir, configfile, rerun_log)
    locks = workdir / ".snakemake" / "locks"
    wait_for(lambda: locks.is_dir() and any(locks.iterdir()), rerun, rerun_log, "lock of the re-run")
    second = snakemake(workdir, configfile, check=False)
    rerun_code = rerun.wait(timeout=300)
    return {
        "results": results, "first_code": first_code, "first_log": first_log.read_text(), "kept_epoch": kept_epoch,
        "interrupted_log": interrupted_log,
        "trained_before": trained_before, "rerun_code": rerun_code, "rerun_log": rerun_log.read_text(),
        "second": second, "checkpoint": checkpoint,
    }


def test_a_diverging_run_stops_and_the_comparison_and_report_complete(interrupted):
    """`exploding` stops at the first epoch whose training loss is not finite,
    with status diverged and its metrics written; the tables and the report are
    made, and the report lists it among the runs that did not complete."""
    assert interrupted["rerun_code"] == 0, interrupted["rerun_log"][-3000:]
    results = interrupted["results"]
    run = results / "runs/cifar10/two/exploding/seed0"
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["status"] == "diverged"
    assert metrics["epochs_run"] < metrics["epochs_planned"] == 3
    assert not math.isfinite(float(rows(run / "history.csv")[-1]["train_loss"]))
    assert "where training diverged" in metrics["tested_weights"]
    log = (run / "train.log").read_text()
    assert re.search(r"training loss is (nan|inf) at epoch \d: stopping, status diverged", log)

    status = {r["model"]: r["status"] for r in rows(results / "summary.csv")}
    assert status == {"custom_cnn": "completed", "exploding": "diverged"}
    html = (results / "report.html").read_text()
    failed = re.search(r'<table id="failed-table">.*?<tbody>(.*?)</tbody>', html, re.S).group(1)
    cells = re.findall(r"<td[^>]*>(.*?)</td>", failed)
    assert cells[:4] == ["cifar10/two/exploding/seed0", "diverged", str(metrics["epochs_run"]), "3"]
    assert "1 of 2 runs did not complete (cifar10/two/exploding/seed0: diverged)" in html
    assert "custom_cnn" in re.search(r'<section id="overview">(.*?)</section>', html, re.S).group(1)
    assert not (results / "report.partial.html").exists()


def strict_json(path: Path):
    """json.loads that refuses NaN and Infinity, as RFC 8259 (and jq, and browsers) do."""
    def refuse(constant):
        raise ValueError(f"{path}: {constant} is not JSON")

    return json.loads(path.read_text(), parse_constant=refuse)


def test_every_json_file_of_a_comparison_with_a_diverged_run_is_strict_json(interrupted, finished):
    """The diverged run's losses are null in metrics.json, which says why;
    every JSON file the workflow wrote (runs, prepared data, cached facts) parses strictly."""
    assert interrupted["rerun_code"] == 0, interrupted["rerun_log"][-3000:]
    workdir = finished["workdir"]
    files = [*interrupted["results"].rglob("*.json"), *(workdir / "data").rglob("*.json"),
             *(workdir / ".snakemake" / "cnncompare").rglob("*.json")]
    names = sorted(str(path.relative_to(workdir)) for path in files)
    for run in ("custom_cnn", "exploding"):
        for name in ("train.json", "metrics.json"):
            assert f"interrupted/runs/cifar10/two/{run}/seed0/{name}" in names, names
    assert {"data/cifar10/classes.json", "data/cifar10/prepared.json"} <= set(names), names
    parsed = {path: strict_json(path) for path in files}
    metrics = parsed[interrupted["results"] / "runs/cifar10/two/exploding/seed0/metrics.json"]
    assert metrics["status"] == "diverged"
    missing = metrics["not_finite"]["values"]
    assert missing and all(metrics[key] is None for key in missing), metrics["not_finite"]
    assert set(missing) <= {"train_loss", "val_loss", "test_loss"}
    assert metrics["not_finite"]["why"] == ("written as null (JSON has no NaN or infinity); run status diverged")
    assert "not_finite" not in parsed[interrupted["results"] / RUN / "metrics.json"]


def test_ctrl_c_of_snakemake_then_a_rerun_ends_as_an_uninterrupted_run(interrupted, finished):
    assert interrupted["first_code"] != 0
    assert 1 <= interrupted["kept_epoch"] < 3 and not interrupted["trained_before"], "not interrupted in training"
    # The training job got Ctrl-C's SIGINT too: it stopped without a traceback, keeping its checkpoint.
    assert "SIGINT: stopping; the next start resumes from" in interrupted["interrupted_log"]
    assert "Traceback" not in interrupted["interrupted_log"]
    assert interrupted["rerun_code"] == 0, interrupted["rerun_log"][-3000:]
    assert "Using workflow specific profile profiles/default" in interrupted["rerun_log"]

    run, expected = interrupted["results"] / RUN, Path(finished["config"]["results_dir"]) / RUN
    assert f"resuming after epoch {interrupted['kept_epoch']}" in (run / "train.log").read_text()
    assert without_times(rows(run / "history.csv")) == without_times(rows(expected / "history.csv"))
    weights, expected_weights = (torch.load(d / "model.pt", weights_only=True) for d in (run, expected))
    assert weights.keys() == expected_weights.keys()
    assert all(torch.equal(weights[k], expected_weights[k]) for k in weights)
    metrics, expected_metrics = (json.loads((d / "metrics.json").read_text()) for d in (run, expected))
    for key in ("status", "epochs_run", "tested_epoch", "train_acc", "val_loss", "test_loss", "test_acc"):
        assert metrics[key] == expected_metrics[key], key
    assert (interrupted["results"] / "report.html").exists()
    assert not (interrupted["results"] / "report.partial.html").exists()
    assert not interrupted["checkpoint"].exists()


def test_a_second_snakemake_in_the_same_folder_is_refused(interrupted):
    second = interrupted["second"]
    assert second.returncode != 0
    output = second.stdout + second.stderr
    assert "Directory cannot be locked" in output
    assert "--unlock" in output
    # The first one was not disturbed: it finished its jobs.
    assert interrupted["rerun_code"] == 0
