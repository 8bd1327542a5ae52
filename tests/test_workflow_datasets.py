"""The whole DAG over two data sets at once: an MNIST set of four IDX files,
served by a file:// mirror, and a folder of class folders under a name of the
user's choosing; each tiny and in its real format."""

from __future__ import annotations

import csv
import json
import os
import time
from pathlib import Path

import numpy as np
import pytest
import yaml

import format_writers as fw
from conftest import REPO, planned_jobs, snakemake, tiny_config, write_config

pytestmark = pytest.mark.workflow

DATASETS = ["mnist", "photos"]
SPLITS = ["two", "three"]


def several_datasets_config(workdir: Path, cifar_archive: dict, mnist: dict, photos: Path) -> dict:
    config = tiny_config(workdir, cifar_archive)
    config["datasets"].update({
        "mnist": {"url": mnist["url"], "md5": mnist["md5"]},
        "photos": {"format": "imagefolder", "path": str(photos), "image_size": 32},
    })
    config["models"]["custom_cnn"].update(epochs=1, warmup_epochs=0)
    config["compare"] = {"datasets": DATASETS, "splits": SPLITS, "models": ["custom_cnn"], "seeds": [0]}
    return config


@pytest.fixture(scope="module")
def several(tmp_path_factory, cifar_archive):
    """MNIST (from a file:// mirror of its four files) and an image folder, one epoch on both
    splits, trained once for this module. (Not named `finished`: a file whose tests take that name
    is grouped with the session fixture's users and run on their worker, tests/conftest.py.)"""
    workdir = tmp_path_factory.mktemp("several")
    mnist = fw.write_idx_set(workdir / "mirror" / "mnist", n_train=300, n_test=100)
    fw.write_image_folder(workdir / "photos", per_class=20)
    # Relative: image folder paths start from the folder Snakemake runs in.
    config = several_datasets_config(workdir, cifar_archive, mnist, Path("photos"))
    configfile = write_config(workdir / "config.yaml", config)
    started = time.monotonic()
    proc = snakemake(workdir, configfile)
    return {
        "workdir": workdir, "config": config, "configfile": configfile, "seconds": time.monotonic() - started,
        "jobs": planned_jobs(proc.stdout + proc.stderr), "mnist": mnist,
    }


def _plan(several: dict, config: dict, name: str) -> dict[str, int]:
    proc = snakemake(several["workdir"], write_config(several["workdir"] / name, config), "--dry-run")
    return planned_jobs(proc.stdout + proc.stderr)


def test_every_data_set_is_downloaded_file_by_file_and_prepared(several):
    data = Path(several["config"]["data_dir"])
    assert several["jobs"]["download_dataset"] == 4  # MNIST's four files, one job each
    assert several["jobs"]["prepare_dataset"] == 2
    assert several["jobs"]["make_split"] == 4
    assert several["jobs"]["train_model"] == 4
    assert sorted(os.listdir(data / "downloads" / "mnist")) == sorted(fw.IDX_NAMES.values())
    assert not (data / "downloads" / "photos").exists()  # a local folder is read in place
    sizes = {}
    for name in DATASETS:
        with np.load(data / name / "train.npz") as train, np.load(data / name / "test.npz") as test:
            assert train["images"].shape[1:] == test["images"].shape[1:] == (32, 32, 3)
            sizes[name] = (len(train["labels"]), len(test["labels"]))
        for split in SPLITS:
            assert (data / name / "splits" / f"{split}.npz").is_file()
    assert sizes == {"mnist": (300, 100), "photos": (48, 12)}
    assert json.loads((data / "photos" / "classes.json").read_text()) == fw.PHOTO_CLASSES
    # The MNIST images are the written ones, centred on black.
    with np.load(data / "mnist" / "test.npz") as test:
        np.testing.assert_array_equal(test["images"][:, 2:30, 2:30, 1], several["mnist"]["test"][0])


def test_summary_has_a_row_per_data_set_and_split(several):
    results = Path(several["config"]["results_dir"])
    with open(results / "summary.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert sorted((r["dataset"], r["split"]) for r in rows) == sorted((d, s) for d in DATASETS for s in SPLITS)
    for row in rows:
        assert row["status"] == "completed" and 0 <= float(row["test_acc"]) <= 1
    photos_three = next(r for r in rows if (r["dataset"], r["split"]) == ("photos", "three"))
    assert (photos_three["train_size"], photos_three["val_size"], photos_three["test_size"]) == ("42", "6", "12")
    # Three classes for photos, ten for MNIST: the output layer follows classes.json.
    mnist_run = json.loads((results / "runs/mnist/two/custom_cnn/seed0/metrics.json").read_text())
    photos_run = json.loads((results / "runs/photos/two/custom_cnn/seed0/metrics.json").read_text())
    assert (mnist_run["num_classes"], photos_run["num_classes"]) == (10, 3)
    html = (results / "report.html").read_text()
    for name in DATASETS:
        for split in SPLITS:
            assert f"{name}/{split}/custom_cnn/seed0" in html


def test_adding_an_image_prepares_only_that_folder_again(several):
    folder = several["workdir"] / "photos" / "owl"
    stamp = folder.stat()
    extra = folder / "img_extra.png"
    extra.write_bytes((folder / "img_000.png").read_bytes())
    try:
        jobs = _plan(several, several["config"], "same.yaml")
    finally:
        extra.unlink()
        os.utime(folder, ns=(stamp.st_atime_ns, stamp.st_mtime_ns))  # as before, for the other tests
    assert jobs["prepare_dataset"] == 1 and jobs["make_split"] == 2 and jobs["train_model"] == 2
    assert "download_dataset" not in jobs


def test_changing_how_mnist_is_sized_prepares_only_mnist_again(several):
    config = yaml.safe_load(several["configfile"].read_text())
    config["datasets"]["mnist"].update(image_size=28, fit="resize")
    jobs = _plan(several, config, "mnist28.yaml")
    assert jobs == {"prepare_dataset": 1, "make_split": 2, "measure_inference": 1, "train_model": 2,
                    "evaluate_model": 2, "aggregate_results": 1, "render_report": 1, "all": 1}


def test_a_mirror_with_the_same_md5s_re_runs_nothing(several):
    config = yaml.safe_load(several["configfile"].read_text())
    config["datasets"]["mnist"]["url"] = "https://mirror.example.org/mnist/"
    assert _plan(several, config, "mirror.yaml") == {}


def test_missing_image_folder_fails_before_any_job(tmp_path, cifar_archive):
    # The other data set config mistakes are told by tests/test_config.py; this one
    # depends on the folder Snakemake runs in, which relative paths start from.
    config = tiny_config(tmp_path, cifar_archive)
    config["datasets"]["photos"] = {"format": "imagefolder", "path": "no-such-folder"}
    config["compare"]["datasets"] = ["cifar10", "photos"]
    proc = snakemake(tmp_path, write_config(tmp_path / "bad.yaml", config), check=False)
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert f"datasets.photos.path: folder no-such-folder does not exist (relative to {tmp_path})" in output, output[-2000:]
    assert not (tmp_path / "data").exists() and not (tmp_path / "results").exists()


def test_dry_run_of_the_study_over_cifar10_and_cifar100(tmp_path):
    """The default config.yaml with CIFAR-100 added to the grid: everything doubles
    but the pretrained weights, which both data sets share."""
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    config["compare"]["datasets"] = ["cifar10", "cifar100"]
    proc = snakemake(tmp_path, write_config(tmp_path / "both.yaml", config), "--dry-run")
    jobs = planned_jobs(proc.stdout + proc.stderr)
    assert jobs == {
        "download_dataset": 2, "download_weights": 2, "prepare_dataset": 2, "make_split": 4,
        "measure_inference": 6,  # three networks (vgg16 and vgg16_finetune are one) on each data set
        "train_model": 16, "evaluate_model": 16, "aggregate_results": 1, "render_report": 1, "all": 1,
    }
    assert "cifar-100-python.tar.gz" in proc.stdout
