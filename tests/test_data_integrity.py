"""Data checked when it is used, not only when it is fetched (issue 16), and
nothing left behind when things go wrong:

- a data set of fewer than 2 classes is refused, and lopsided classes are warned
  about in the log and in every run's `data.warnings`;
- 16-bit images are scaled to 8 bits by their bit depth, never clipped to white;
- image folders follow links to subfolders, each file read once, without looping;
- a download replaced after it was checked is refused before it is parsed, and
  prepared arrays changed after preparation are refused before training or
  evaluation, each naming the file and both checksums;
- too few images for a test part is refused at preparation;
- a killed preparation's scratch folder is removed at the next start;
- a full disk while checkpointing says so and keeps the previous checkpoint;
- a finished run leaves no empty checkpoint folders.

Strict JSON of a diverged run is checked in tests/test_failures.py, beside the
diverging run it needs.
"""

from __future__ import annotations

import csv
import errno
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import cifar_format
import format_writers as fw
from conftest import REPO, snakemake, tiny_config, write_config
from cnncompare.train import checkpoint
from cnncompare.data import checksums
from cnncompare.plan.config import resolve_config
from cnncompare.data.datasets import DataError, load_prepared, write_prepared
from cnncompare.train.evaluation import evaluate_run
from cnncompare.fileio import write_npz
from cnncompare.data.splits import make_split, write_split
from cnncompare.train.training import train_run
from test_formats import prepare

SCRIPTS = str(REPO / "workflow" / "scripts")
RUN = "runs/cifar10/two/custom_cnn/seed0"


def record_of(out_dir: Path) -> dict:
    return json.loads((out_dir / "prepared.json").read_text())


def quick_config(workdir: Path, archive: dict) -> dict:
    """conftest's tiny config, cut to one split and one epoch."""
    config = tiny_config(workdir, archive)
    config["models"]["custom_cnn"].update(epochs=1, warmup_epochs=0)
    config["compare"]["splits"] = ["two"]
    return config


# --- 1. fewer than 2 classes; lopsided classes -----------------------------------------------------------


@pytest.mark.workflow
def test_a_cifar_archive_of_one_class_is_refused_before_training(tmp_path):
    """Through the workflow: every label 0. Before, this trained to a 100% 'perfect classifier'."""
    archive = cifar_format.write_archive(tmp_path / "src" / "cifar-10-python.tar.gz", n_train=100, n_test=30,
                                         relabel=lambda part, labels: np.zeros_like(labels))
    config = quick_config(tmp_path, archive)
    proc = snakemake(tmp_path, write_config(tmp_path / "config.yaml", config), check=False)
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert ("data set cifar10 cannot be compared on: every train image is of one class (airplane: 100 images; "
            "the other 9 declared classes have none)") in output
    assert "needs images of at least 2 classes in both parts" in output
    assert not (tmp_path / "results" / "runs").exists()  # no training started
    assert not (tmp_path / "data" / "cifar10" / "train.npz").exists()


@pytest.mark.parametrize("layout", ["one class folder", "test folder of one class"])
def test_an_image_folder_of_one_class_is_refused(tmp_path, layout):
    fw.write_image_folder(tmp_path / "photos", per_class=5)
    if layout == "one class folder":
        for name in ("dog", "owl"):
            shutil.rmtree(tmp_path / "photos" / name)
        given = {"path": str(tmp_path / "photos")}
        part, only = "train", "cat: 4 images"
    else:
        fw.write_image_folder(tmp_path / "test", per_class=3)
        for name in ("dog", "owl"):
            shutil.rmtree(tmp_path / "test" / name)
        given = {"train_path": str(tmp_path / "photos"), "test_path": str(tmp_path / "test")}
        part, only = "test", "cat: 3 images"
    out = tmp_path / "prepared"
    with pytest.raises(DataError) as err:
        prepare("imagefolder", None, out, **given)
    assert f"every {part} image is of one class ({only}" in str(err.value)
    assert not out.exists() or not any(out.iterdir())


def test_empty_declared_classes_and_a_much_smaller_class_are_warned_about(tmp_path, caplog):
    def relabel(part, labels):
        labels = labels.copy()
        labels[labels >= 8] = 0  # ship and truck: declared, no images
        if part == "train":
            labels[np.flatnonzero(labels == 7)[2:]] = 6  # horse: 2 of 100 train images, under a tenth of the median
        return labels

    archive = cifar_format.write_archive(tmp_path / "c.tar.gz", n_train=1000, n_test=100, relabel=relabel)
    out = prepare("cifar10", archive["path"], tmp_path / "cifar10")
    warnings = record_of(out)["warnings"]
    assert warnings == [
        "2 of 10 declared classes have no images: ship, truck (the model still has an output for each)",
        "much smaller classes (fewer than 0.1 of the median class's 100 training images): horse (2); their "
        "errors barely move the accuracy, see the per-class accuracy",
    ]
    for warning in warnings:
        assert f"cifar10: {warning}" in caplog.text
    assert record_of(out)["class_counts"]["train"]["horse"] == 2


def test_a_balanced_data_set_has_no_warnings(tmp_path):
    archive = cifar_format.write_archive(tmp_path / "c.tar.gz", n_train=100, n_test=30)
    assert record_of(prepare("cifar10", archive["path"], tmp_path / "cifar10"))["warnings"] == []


# --- 2. 16-bit images ------------------------------------------------------------------------------------


def write_16_bit_folder(root: Path, per_class: int = 6) -> dict[str, list[np.ndarray]]:
    """Real 16-bit greyscale PNGs as microscopes write them: values 30000..35000,
    class 'dim' low in that range, 'bright' high."""
    rng = np.random.default_rng(0)
    written = {}
    for name, (low, high) in (("bright", (33000, 35000)), ("dim", (30000, 32000))):
        (root / name).mkdir(parents=True)
        written[name] = []
        for i in range(per_class):
            values = rng.integers(low, high + 1, size=(32, 32)).astype(np.uint16)
            values[0, 0], values[0, 1] = low, high
            path = root / name / f"scan_{i}.png"
            Image.fromarray(values).save(path)
            raw = path.read_bytes()
            assert raw[24] == 16 and raw[25] == 0, "not a 16-bit greyscale PNG"  # IHDR bit depth, colour type
            written[name].append(values)
    return written


def test_16_bit_pngs_are_scaled_by_their_bit_depth_not_clipped_to_white(tmp_path):
    written = write_16_bit_folder(tmp_path / "scans")
    out = prepare("imagefolder", None, tmp_path / "prepared",
                  train_path=str(tmp_path / "scans"), test_path=str(tmp_path / "scans"))
    images, labels = load_prepared(out, "train")
    # Each image read exactly as value / 257, rounded, in all three channels.
    expected = np.stack([np.rint(v / 257).astype(np.uint8) for name in ("bright", "dim") for v in written[name]])
    np.testing.assert_array_equal(images, np.repeat(expected[..., None], 3, axis=3))
    assert images.max() == 136 and images.min() == 117  # 35000 / 257, 30000 / 257: not 255
    assert images[labels == 1].mean() < images[labels == 0].mean()  # dim stays dimmer than bright
    note = [w for w in record_of(out)["warnings"] if "16 bits" in w]
    assert note and note[0].startswith("24 images have 16 bits per channel and were scaled to 8 bits by value "
                                       "/ 257: their values 30000..35000 became 117..136")


@pytest.mark.parametrize("suffix", [".png", ".tif"])
def test_an_8_bit_value_saved_as_16_bits_comes_back_unchanged(tmp_path, suffix):
    values = np.arange(256, dtype=np.uint16).reshape(16, 16)
    for name in ("a", "b"):
        (tmp_path / "f" / name).mkdir(parents=True)
        Image.fromarray(values * 257).save(tmp_path / "f" / name / f"x{suffix}")
        assert Image.open(tmp_path / "f" / name / f"x{suffix}").mode == "I;16"
    out = prepare("imagefolder", None, tmp_path / "p", train_path=str(tmp_path / "f"), test_path=str(tmp_path / "f"),
                  image_size=16)
    np.testing.assert_array_equal(load_prepared(out, "test")[0][0, ..., 0], values)


def test_floating_point_images_are_refused_naming_the_file(tmp_path):
    fw.write_image_folder(tmp_path / "photos", per_class=3)
    tiff = tmp_path / "photos" / "owl" / "depth.tif"
    Image.fromarray(np.full((8, 8), 0.5, np.float32)).save(tiff)
    with pytest.raises(DataError) as err:
        prepare("imagefolder", None, tmp_path / "prepared", path=str(tmp_path / "photos"))
    assert f"{tiff}: floating-point pixels (Pillow mode F) have no fixed scale to 8 bits" in str(err.value)


# --- 3. links inside image folders -----------------------------------------------------------------------


def linked_folder(tmp_path: Path) -> Path:
    """photos/cat: 15 images and a link `more` to a folder of 10 more; photos/dog: 15 images."""
    root = tmp_path / "photos"
    fw.write_image_folder(tmp_path / "elsewhere", per_class=10)
    fw.write_image_folder(root, per_class=15)
    shutil.rmtree(root / "owl")
    (root / "cat" / "more").symlink_to(tmp_path / "elsewhere" / "cat", target_is_directory=True)
    return root


def test_images_in_a_linked_subfolder_are_read(tmp_path, caplog):
    caplog.set_level(logging.INFO)
    root = linked_folder(tmp_path)
    out = prepare("imagefolder", None, tmp_path / "prepared", path=str(root))
    counts = record_of(out)["class_counts"]
    assert counts["train"]["cat"] + counts["test"]["cat"] == 25
    assert counts["train"]["dog"] + counts["test"]["dog"] == 15
    assert "read 40 images of 2 classes (cat 25, dog 15)" in caplog.text
    assert record_of(out)["warnings"] == []


def test_links_that_loop_or_repeat_are_skipped_and_listed(tmp_path):
    root = linked_folder(tmp_path)
    cat = root / "cat"
    (cat / "loop").symlink_to(cat, target_is_directory=True)  # its own class folder
    (cat / "more" / "up").symlink_to(root, target_is_directory=True)  # (through a link) the top folder
    (cat / "more_again").symlink_to(tmp_path / "elsewhere" / "cat", target_is_directory=True)  # read as `more`
    (cat / "same.png").symlink_to(cat / "img_000.png")  # one file by two names
    out = prepare("imagefolder", None, tmp_path / "prepared", path=str(root))
    counts = record_of(out)["class_counts"]
    assert counts["train"]["cat"] + counts["test"]["cat"] == 25
    note = next(w for w in record_of(out)["warnings"] if w.startswith("4 links or files not read"))
    assert f"{cat / 'more_again'} (a link to {(tmp_path / 'elsewhere' / 'cat').resolve()}, read already as {cat / 'more'})" in note
    assert f"{cat / 'loop'} (a link to its ancestor {cat.resolve()}: following it would loop)" in note
    assert f"{cat / 'more' / 'up'} (a link to its ancestor {root.resolve()}" in note
    assert f"{cat / 'same.png'} (the same file as {cat / 'img_000.png'}, read already)" in note


def test_one_file_in_two_class_folders_is_refused(tmp_path):
    root = linked_folder(tmp_path)
    (root / "dog" / "cats").symlink_to(root / "cat", target_is_directory=True)
    with pytest.raises(DataError, match="one image file is in two class folders"):
        prepare("imagefolder", None, tmp_path / "prepared", path=str(root))


@pytest.mark.workflow
def test_linked_subfolders_and_16_bit_images_through_the_workflow(tmp_path, cifar_archive):
    """prepare_dataset alone, run by the real Snakefile on both folders: what
    the log and prepared.json say, and what was read."""
    write_16_bit_folder(tmp_path / "scans")
    linked = linked_folder(tmp_path)
    config = tiny_config(tmp_path, cifar_archive)
    config["datasets"].update({
        "scans": {"format": "imagefolder", "path": str(tmp_path / "scans"), "test_fraction": 0.5},
        "linked": {"format": "imagefolder", "path": str(linked)},
    })
    config["compare"]["datasets"] = ["scans", "linked"]
    data = tmp_path / "data"
    proc = snakemake(tmp_path, write_config(tmp_path / "config.yaml", config),
                     "--", str(data / "scans" / "prepared.json"), str(data / "linked" / "prepared.json"))
    linked_log = (data / "logs" / "prepare_dataset" / "linked.log").read_text()
    scans_log = (data / "logs" / "prepare_dataset" / "scans.log").read_text()
    assert "read 40 images of 2 classes (cat 25, dog 15), each made 32 px by crop" in linked_log
    assert "WARNING scans: 12 images have 16 bits per channel and were scaled to 8 bits by value / 257: " \
           "their values 30000..35000 became 117..136" in scans_log
    images = np.concatenate([load_prepared(data / "scans", part)[0] for part in ("train", "test")])
    assert images.max() == 136
    print("\n--- prepare_dataset logs ---\n" + linked_log + scans_log + proc.stderr[-1500:])


# --- 4. checksums when data is used ----------------------------------------------------------------------


@pytest.mark.workflow
def test_a_replaced_download_fails_before_training_naming_the_file_and_both_md5s(tmp_path):
    """Through the workflow: a run finishes (and records its data); then a
    different, valid archive replaces the download, as the README's old advice
    for broken data had it. The next run fails at preparation, before any
    training, naming the file and both MD5s."""
    def smaller_horse(part, labels):
        labels = labels.copy()
        if part == "train":
            labels[np.flatnonzero(labels == 7)[2:]] = 6
        return labels

    first = cifar_format.write_archive(tmp_path / "src" / "cifar-10-python.tar.gz", n_train=300, n_test=100,
                                       relabel=smaller_horse)
    configfile = write_config(tmp_path / "config.yaml", quick_config(tmp_path, first))
    snakemake(tmp_path, configfile)

    run = tmp_path / "results" / RUN
    record = record_of(tmp_path / "data" / "cifar10")
    metrics, train_info = (json.loads((run / name).read_text()) for name in ("metrics.json", "train.json"))
    warning = ("much smaller classes (fewer than 0.1 of the median class's 30 training images): horse (2); "
               "their errors barely move the accuracy, see the per-class accuracy")
    expected = {"sha256": record["sha256"], "sources": [{"file": "cifar-10-python.tar.gz", "md5": first["md5"]}],
                "warnings": [warning]}
    assert metrics["data"] == train_info["data"] == expected
    with open(tmp_path / "results" / "summary.csv", newline="") as fh:
        assert [row["data_sha256"] for row in csv.DictReader(fh)] == [record["sha256"]]
    assert f"data: {warning}" in (run / "train.log").read_text()

    downloaded = tmp_path / "data" / "downloads" / "cifar10" / "cifar-10-python.tar.gz"
    other = cifar_format.write_archive(tmp_path / "other" / "cifar-10-python.tar.gz", n_train=300, n_test=100, seed=1)
    assert other["md5"] != first["md5"]
    shutil.copyfile(other["path"], downloaded)
    trained = {p.name: p.stat().st_mtime_ns for p in run.iterdir()}

    proc = snakemake(tmp_path, configfile, check=False)
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0
    message = (f"{downloaded} is not the file the config names: its MD5 is {other['md5']}, but the config "
               f"(datasets.cifar10.md5) expects {first['md5']} (the file was replaced, or put there by hand).")
    assert message in output
    assert "Error in rule prepare_dataset" in output
    assert {p.name: p.stat().st_mtime_ns for p in run.iterdir()} == trained  # nothing trained or evaluated again
    print(f"\n--- the re-run with the replaced archive ---\n{output[-2500:]}")


@pytest.fixture
def prepared_run(tmp_path):
    """A small prepared data set, its 'two' split, and the arguments of train_run."""
    data = tmp_path / "data"
    rng = np.random.default_rng(0)
    train_labels, test_labels = np.arange(200) % 10, np.arange(50) % 10
    write_prepared(data, (cifar_format.class_images(train_labels, rng), train_labels),
                   (cifar_format.class_images(test_labels, rng), test_labels), cifar_format.CLASSES)
    write_split(data / "two.npz", make_split("two", train_labels, test_labels, 0.1, 0))
    config = {"models": {"m": {"arch": "custom_cnn", "epochs": 1, "batch_size": 50}}, "compare": {"models": ["m"]}}
    out = tmp_path / "run"
    args = {
        "data_dir": data, "split_path": data / "two.npz", "block": resolve_config(config)["models"]["m"],
        "run": {"dataset": "d", "split": "two", "model": "m", "seed": 0}, "seed": 0, "device_setting": "cpu",
        "threads": 1, "model_path": out / "model.pt", "history_path": out / "history.csv",
        "info_path": out / "train.json",
    }
    return data, args


def evaluation_args(args: dict) -> dict:
    out = Path(args["model_path"]).parent
    return {
        "data_dir": args["data_dir"], "split_path": args["split_path"], "block": args["block"],
        "train_info_path": args["info_path"], "model_path": args["model_path"], "device_setting": "cpu",
        "threads": 1, "metrics_path": out / "metrics.json", "confusion_path": out / "confusion.csv",
    }


def tamper(data: Path, part: str) -> str:
    """Swap two images of a prepared part, as an edit by hand would; return the new SHA-256."""
    with np.load(data / f"{part}.npz") as npz:
        images, labels = npz["images"].copy(), npz["labels"]
    images[[0, 1]] = images[[1, 0]]
    write_npz(data / f"{part}.npz", images=images, labels=labels)
    return checksums.arrays_sha256(images, labels)


@pytest.mark.parametrize("when", ["before training", "before evaluation"])
def test_prepared_arrays_changed_after_preparation_are_refused_naming_the_file_and_both_checksums(prepared_run,
                                                                                                  when):
    data, args = prepared_run
    recorded = record_of(data)["files"]["test.npz"]
    if when == "before evaluation":
        train_run(**args)
    found = tamper(data, "test")
    with pytest.raises(checksums.ChecksumError) as err:
        train_run(**args) if when == "before training" else evaluate_run(**evaluation_args(args))
    assert (f"{data / 'test.npz'} is not the prepared data recorded in {data / 'prepared.json'}: its content "
            f"has SHA-256 {found}, the record says {recorded}") in str(err.value)
    if when == "before training":
        assert not Path(args["model_path"]).exists()
    assert not (Path(args["model_path"]).parent / "metrics.json").exists()


def test_a_model_is_not_evaluated_on_other_data_than_it_was_trained_on(prepared_run):
    data, args = prepared_run
    info = train_run(**args)
    trained_on = info["data"]["sha256"]
    labels = np.arange(200) % 10
    other_train = (cifar_format.class_images(labels, np.random.default_rng(5)), labels)
    write_prepared(data, other_train, load_prepared(data, "test"), cifar_format.CLASSES)  # other images
    with pytest.raises(checksums.ChecksumError) as err:
        evaluate_run(**evaluation_args(args))
    assert f"was trained on prepared data with SHA-256 {trained_on}, but {data} now holds" in str(err.value)


def test_the_data_checksum_identifies_the_arrays(tmp_path):
    """Prepared twice from the same archive: the same SHA-256; from another archive, another."""
    archive = cifar_format.write_archive(tmp_path / "c.tar.gz", n_train=100, n_test=30)
    a = record_of(prepare("cifar10", archive["path"], tmp_path / "a"))
    b = record_of(prepare("cifar10", archive["path"], tmp_path / "b"))
    assert a["sha256"] == b["sha256"] and a["files"] == b["files"]
    assert a["files"]["train.npz"] == checksums.arrays_sha256(*archive["train"])
    other = cifar_format.write_archive(tmp_path / "d.tar.gz", n_train=100, n_test=30, seed=1)
    assert record_of(prepare("cifar10", other["path"], tmp_path / "c"))["sha256"] != a["sha256"]


# --- too few images for a test part ----------------------------------------------------------------------


def test_an_image_folder_class_of_one_image_is_refused_naming_the_folder(tmp_path):
    fw.write_image_folder(tmp_path / "photos", per_class=4)
    for path in sorted((tmp_path / "photos" / "owl").iterdir())[1:]:
        path.unlink()
    out = tmp_path / "prepared"
    with pytest.raises(DataError) as err:
        prepare("imagefolder", None, out, path=str(tmp_path / "photos"), test_fraction=0.25)
    assert (f"class folders holding a single image: {tmp_path / 'photos' / 'owl'}. With test_fraction 0.25 that "
            "image is trained on and the class has no test image") in str(err.value)
    assert not out.exists() or not any(out.iterdir())


@pytest.mark.parametrize("fraction, problem", [
    (0.001, "leaves 2 test images for 10 classes"),
    (0.996, "leaves 7 training images for 10 classes"),
])
def test_a_digits_test_fraction_too_small_or_large_is_refused_naming_the_fractions_that_work(tmp_path, fraction,
                                                                                              problem):
    with pytest.raises(DataError) as err:
        prepare("digits", None, tmp_path / "prepared", test_fraction=fraction)
    assert str(err.value) == (f"digits: test_fraction {fraction:g} of 1797 images {problem}; "
                              "use a test_fraction from 0.01 to 0.99")


def test_an_empty_test_part_is_refused(tmp_path):
    labels = np.arange(20) % 10
    images = cifar_format.class_images(labels, np.random.default_rng(0))
    with pytest.raises(DataError, match="data set prepared cannot be compared on: the test part holds no images"):
        write_prepared(tmp_path / "prepared", (images, labels), (images[:0], labels[:0]), cifar_format.CLASSES)
    assert not (tmp_path / "prepared").exists()


# --- a killed preparation leaves nothing behind ----------------------------------------------------------

# Runs formats.prepare_dataset in a process of its own; with a pause, the
# process stops once the archive is extracted to its scratch folder (before it
# is parsed), creates the marker file and waits there to be killed.
PREPARE_DRIVER = """
import json, logging, sys, time
from pathlib import Path
sys.path.insert(0, SCRIPTS)
logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(message)s")
from cnncompare.data.formats import cifar, prepare_dataset

block, downloads, out_dir, md5, marker = json.loads(sys.argv[1])
if marker:
    real_extract = cifar.safe_extract

    def safe_extract(archive, target):
        real_extract(archive, target)
        Path(marker).touch()
        time.sleep(600)

    cifar.safe_extract = safe_extract
prepare_dataset(block, downloads, out_dir, md5)
"""


def start_prepare(archive: dict, out: Path, log: Path, marker: Path | None = None) -> subprocess.Popen:
    name = "cifar-10-python.tar.gz"
    args = [{"format": "cifar10"}, {name: str(archive["path"])}, str(out), {name: archive["md5"]},
            str(marker) if marker else None]
    with open(log, "a") as err:
        return subprocess.Popen([sys.executable, "-c", PREPARE_DRIVER.replace("SCRIPTS", repr(SCRIPTS)),
                                 json.dumps(args)], stderr=err)


def test_a_killed_preparation_leaves_a_scratch_folder_that_the_next_start_removes(tmp_path):
    archive = cifar_format.write_archive(tmp_path / "c.tar.gz", n_train=500, n_test=100)
    out, log, marker = tmp_path / "cifar10", tmp_path / "log.txt", tmp_path / "extracted"
    proc = start_prepare(archive, out, log, marker)
    deadline = time.monotonic() + 120
    while not marker.exists():
        assert proc.poll() is None, log.read_text()
        assert time.monotonic() < deadline, "the pause was not reached in time"
        time.sleep(0.02)
    proc.kill()
    assert proc.wait(timeout=60) == -signal.SIGKILL
    scratch = [p for p in out.iterdir() if p.name.startswith(".extract-")]
    assert len(scratch) == 1 and any(scratch[0].rglob("data_batch_1")), list(out.iterdir())
    size = sum(p.stat().st_size for p in scratch[0].rglob("*") if p.is_file())

    assert start_prepare(archive, out, log).wait(timeout=120) == 0, log.read_text()
    assert sorted(p.name for p in out.iterdir()) == ["classes.json", "prepared.json", "test.npz", "train.npz"]
    assert f"removed {scratch[0]}, left by a preparation that was interrupted" in log.read_text()
    print(f"\nkilled after extraction: {scratch[0].name} held {size} bytes; removed at the next start")


# --- disk full while checkpointing -----------------------------------------------------------------------

# Trains in a process of its own; after the first checkpoint is saved it
# creates the marker file and waits for the go file (the test fills the disk
# meanwhile). The code under test is unchanged.
TRAIN_DRIVER = """
import json, logging, sys, time
from pathlib import Path
sys.path.insert(0, SCRIPTS)
logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(message)s")
from cnncompare.train import checkpoint, training

args, marker, go = json.loads(sys.argv[1])
real_save, saved = checkpoint.save, []


def save(path, **state):
    real_save(path, **state)
    saved.append(state["epoch"])
    if marker and len(saved) == 1:
        Path(marker).touch()
        while not Path(go).exists():
            time.sleep(0.02)


checkpoint.save = save
training.train_run(**args)
"""


@pytest.fixture
def small_disk(tmp_path):
    """A 16 MB tmpfs, mounted for the test and unmounted after (needs root, as in CI)."""
    mount = tmp_path / "small-disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(mount)], capture_output=True,
                          text=True)
    if done.returncode != 0:
        if os.environ.get("CI"):
            pytest.fail(f"cannot mount a tmpfs in CI: {done.stderr}")
        pytest.skip(f"cannot mount a tmpfs here (root is needed): {done.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=True)


@pytest.mark.slow
def test_a_full_disk_while_checkpointing_says_so_and_keeps_the_previous_checkpoint(prepared_run, small_disk,
                                                                                  tmp_path):
    data, args = prepared_run
    args["block"]["epochs"] = 3
    ckpt = small_disk / "checkpoints" / "d" / "two" / "m" / "seed0.pt"
    args.update(checkpoint_path=ckpt, checkpoint_root=small_disk / "checkpoints")
    args = {k: str(v) if isinstance(v, Path) else v for k, v in args.items()}
    log, marker, go = tmp_path / "train.log", tmp_path / "saved", tmp_path / "go"
    with open(log, "w") as err:
        proc = subprocess.Popen([sys.executable, "-c", TRAIN_DRIVER.replace("SCRIPTS", repr(SCRIPTS)),
                                 json.dumps([args, str(marker), str(go)])], stderr=err)
    deadline = time.monotonic() + 240
    while not marker.exists():
        assert proc.poll() is None, log.read_text()
        assert time.monotonic() < deadline
        time.sleep(0.05)
    filler = small_disk / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT)
    try:  # fill the disk to the last byte
        for block in (65536, 1):
            try:
                while True:
                    os.write(fd, b"\0" * block)
            except OSError as exc:
                assert exc.errno == errno.ENOSPC
    finally:
        os.close(fd)
    go.touch()
    assert proc.wait(timeout=240) != 0
    text = log.read_text()
    assert f"OSError: [Errno 28] no space left on {small_disk} while writing {ckpt}; the previous seed0.pt is kept" \
           in text
    assert "unexpected pos" not in text and "enforce fail" not in text
    assert torch.load(ckpt, weights_only=True)["epoch"] == 1  # the previous checkpoint, whole
    assert sorted(p.name for p in ckpt.parent.iterdir()) == ["seed0.pt"]  # no torn temporary file
    assert not Path(args["model_path"]).exists()

    filler.unlink()  # space again: the next start resumes from the kept checkpoint
    with open(log, "a") as err:
        again = subprocess.run([sys.executable, "-c", TRAIN_DRIVER.replace("SCRIPTS", repr(SCRIPTS)),
                                json.dumps([args, None, None])], stderr=err, timeout=240)
    assert again.returncode == 0, log.read_text()[-3000:]
    assert "resuming after epoch 1" in log.read_text()
    assert list(small_disk.iterdir()) == []  # the checkpoint and its folders, up to checkpoints/, are gone
    print("\n" + next(line for line in text.splitlines() if "no space left" in line))


# --- checkpoint folders --------------------------------------------------------------------------------


def test_removing_a_checkpoint_removes_its_empty_folders_but_not_one_another_run_uses(tmp_path):
    root = tmp_path / "results" / "checkpoints"
    first, second = root / "d" / "two" / "m" / "seed0.pt", root / "d" / "two" / "m" / "seed1.pt"
    for path in (first, second):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"state")
    checkpoint.remove(first, up_to=root)
    assert sorted(p.name for p in second.parent.iterdir()) == ["seed1.pt"]  # still used by seed1
    checkpoint.remove(second, up_to=root)
    assert sorted(p.name for p in (tmp_path / "results").iterdir()) == []


@pytest.mark.workflow
def test_a_finished_workflow_leaves_no_checkpoint_folders(finished):
    results = Path(finished["config"]["results_dir"])
    assert (results / "runs" / "cifar10" / "three" / "custom_cnn" / "seed0" / "model.pt").exists()
    assert not (results / "checkpoints").exists()


@pytest.mark.workflow
def test_every_run_records_the_data_it_used(finished):
    """The `data` contract: every run's train.json and metrics.json, and summary.csv."""
    config = finished["config"]
    record = record_of(Path(config["data_dir"]) / "cifar10")
    source = [{"file": "cifar-10-python.tar.gz", "md5": config["datasets"]["cifar10"]["md5"]}]
    results = Path(config["results_dir"])
    for split in ("two", "three"):
        run = results / "runs" / "cifar10" / split / "custom_cnn" / "seed0"
        for name in ("train.json", "metrics.json"):
            data = json.loads((run / name).read_text())["data"]
            assert data == {"sha256": record["sha256"], "sources": source, "warnings": []}, (split, name)
    with open(results / "summary.csv", newline="") as fh:
        assert [row["data_sha256"] for row in csv.DictReader(fh)] == [record["sha256"]] * 2
