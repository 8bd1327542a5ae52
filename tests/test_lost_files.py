"""Files Snakemake will not make again by itself, on a real finished run: a deleted
run file leaves "Nothing to be done", and prepared data gone from under finished
runs retrains them all once anything prepares it again. The plan says so, with the
command that restores them, and the README's ways to move data_dir keep the runs."""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import pytest
import yaml

from conftest import planned_jobs, snakemake, tiny_config, write_config

pytestmark = pytest.mark.workflow


@pytest.fixture(scope="module")
def one_run(tmp_path_factory, cifar_archive):
    """custom_cnn for one epoch on the two-split of the tiny archive, finished."""
    workdir = tmp_path_factory.mktemp("lost")
    config = tiny_config(workdir, cifar_archive)
    config["models"]["custom_cnn"].update(epochs=1, warmup_epochs=0)
    config["compare"]["splits"] = ["two"]
    configfile = write_config(workdir / "config.yaml", config)
    snakemake(workdir, configfile)
    return {"workdir": workdir, "config": config, "configfile": configfile}


def dry_run(one_run, configfile=None) -> str:
    proc = snakemake(one_run["workdir"], configfile or one_run["configfile"], "--dry-run")
    return proc.stdout + proc.stderr


def with_model_added(config: dict) -> dict:
    config = yaml.safe_load(yaml.safe_dump(config))
    config["models"]["wide"] = {**config["models"]["custom_cnn"], "dropout": 0.4}
    config["compare"]["models"].append("wide")
    return config


def test_a_deleted_run_file_is_told_with_the_command_that_makes_it_again(one_run):
    run = Path(one_run["config"]["results_dir"]) / "runs/cifar10/two/custom_cnn/seed0"
    metrics = run / "metrics.json"
    before = json.loads(metrics.read_text())
    metrics.unlink()
    output = dry_run(one_run)
    # Snakemake's own verdict is unchanged: nothing to do, as the report is up to date.
    assert "Nothing to be done" in output
    assert f"1 file of runs in {one_run['config']['results_dir']}/summary.csv is missing" in output
    assert f"\n    {metrics}\n" in output
    command = f"snakemake -R {metrics}"
    assert command in output
    # The command given makes it again (and the tables and report after it).
    proc = snakemake(one_run["workdir"], one_run["configfile"], "-R", str(metrics))
    assert planned_jobs(proc.stdout + proc.stderr) == {
        "evaluate_model": 1, "aggregate_results": 1, "render_report": 1, "all": 1}
    again = json.loads(metrics.read_text())
    for key in ("test_acc", "test_loss", "train_acc", "val_acc", "tested_epoch"):
        assert again[key] == before[key], key  # the same weights, evaluated again on the CPU
    after = dry_run(one_run)
    assert "Nothing to be done" in after and "missing" not in after


def test_a_changed_or_lost_prepared_file_is_found_though_runs_depend_on_the_record_alone(one_run):
    """A run's jobs depend on the data set's prepared.json and their split (Plan.run_data),
    make_split on every prepared file: a replaced file still trains the runs again (through the
    split), a data set prepared again too, and a deleted file is told."""
    data = Path(one_run["config"]["data_dir"]) / "cifar10"
    names = ("train.npz", "classes.json", "prepared.json")
    saved = {name: ((data / name).read_bytes(), (data / name).stat()) for name in names}
    later = time.time() + 60
    # The split, the network's inference figures and the run are made again. Snakemake
    # compares the checksums it keeps of small inputs (classes.json, prepared.json): a
    # touch alone changes nothing there, new content does; train.npz's time stamp does.
    retrained = {"make_split": 1, "measure_inference": 1, "train_model": 1, "evaluate_model": 1,
                 "aggregate_results": 1, "render_report": 1, "all": 1}

    def restore(name):
        content, stat = saved[name]
        (data / name).write_bytes(content)
        os.utime(data / name, ns=(stat.st_atime_ns, stat.st_mtime_ns))

    # Before test_a_moved_data_dir_*, whose --touch leaves the runs' records on another data_dir.
    assert "Nothing to be done" in dry_run(one_run)
    try:
        for name in names:
            if name.endswith(".json"):
                (data / name).write_bytes(saved[name][0] + b"\n")
            os.utime(data / name, (later, later))
            jobs = planned_jobs(dry_run(one_run))
            restore(name)
            assert jobs == retrained, (name, jobs)
        assert "Nothing to be done" in dry_run(one_run)
        (data / "classes.json").unlink()
        output = dry_run(one_run)
        assert "the prepared data of cifar10 is missing" in output and "classes.json" in output
    finally:
        for name in names:
            restore(name)


def test_a_moved_data_dir_is_told_and_a_symlink_or_touch_keeps_the_runs(one_run, tmp_path):
    data = Path(one_run["config"]["data_dir"])
    moved = data.with_name("data_moved")
    data.rename(moved)
    try:
        # data_dir unchanged, its data gone: Snakemake plans nothing, and the plan says why that will change.
        output = dry_run(one_run)
        assert "Nothing to be done" in output
        assert "the prepared data of cifar10 is missing" in output and "a run made on it has results" in output
        assert f"Leave a symlink at {data}" in output
        # Adding a model would prepare it again and retrain the finished run too, as the issue found.
        added = write_config(tmp_path / "added.yaml", with_model_added(one_run["config"]))
        assert planned_jobs(dry_run(one_run, added))["train_model"] == 2
        # The README's first way: a symlink at the old data_dir. Only the new model trains.
        data.symlink_to(moved)
        assert "Nothing to be done" in dry_run(one_run)
        assert planned_jobs(dry_run(one_run, added))["train_model"] == 1
        data.unlink()
        # The second: data_dir set to the new place, which changes every run's inputs ...
        config = {**one_run["config"], "data_dir": str(moved)}
        moved_config = write_config(tmp_path / "moved.yaml", config)
        replan = dry_run(one_run, moved_config)
        assert planned_jobs(replan)["train_model"] == 1 and "Set of input files has changed" in replan
        # ... and `snakemake --touch` once, right after: then nothing re-runs, and a new model trains alone.
        snakemake(one_run["workdir"], moved_config, "--touch")
        assert "Nothing to be done" in dry_run(one_run, moved_config)
        added_moved = write_config(tmp_path / "added_moved.yaml", with_model_added(config))
        assert planned_jobs(dry_run(one_run, added_moved))["train_model"] == 1
    finally:
        if data.is_symlink():
            data.unlink()
        if moved.exists() and not data.exists():
            shutil.move(moved, data)
