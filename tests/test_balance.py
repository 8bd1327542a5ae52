"""Chance, balanced accuracy and macro-F1: evaluation writes them to metrics.json from the test set's
confusion matrix, aggregate carries them into summary.csv, with the uniform rate beside chance.
Each is recomputed here with scikit-learn from the run's confusion.csv."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from PIL import Image
from sklearn.metrics import balanced_accuracy_score, f1_score

from cnncompare.data.class_balance import balance_scores
from cnncompare.data.datasets import load_prepared
from cnncompare.data.formats.imagefolder import prepare_imagefolder
from cnncompare.data.splits import make_split, write_split
from cnncompare.report.aggregate import summary_row
from cnncompare.train.evaluation import evaluate_run
from cnncompare.train.training import train_run
from test_resume import arguments


def _folder(root, counts: dict[str, int], colours: dict[str, tuple], seed: int) -> None:
    rng = np.random.default_rng(seed)
    for cls, n in counts.items():
        (root / cls).mkdir(parents=True)
        for i in range(n):
            noise = rng.integers(-40, 40, size=(32, 32, 3))
            pixels = np.clip(np.array(colours[cls]) + noise, 0, 255).astype(np.uint8)
            Image.fromarray(pixels).save(root / cls / f"{i:03d}.png")


def _labels_of(matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(true, predicted) of every test image, back from the confusion counts."""
    pairs = [(i, j) for i in range(len(matrix)) for j in range(len(matrix)) for _ in range(matrix[i, j])]
    return np.array([p[0] for p in pairs]), np.array([p[1] for p in pairs])


@pytest.fixture(scope="module")
def skewed_run(tmp_path_factory):
    """A 90/10 image folder (train and test folders each 90 'common' to 10 'rare' images), trained
    for one epoch and evaluated as the workflow's jobs do."""
    root = tmp_path_factory.mktemp("skewed")
    colours = {"common": (200, 60, 60), "rare": (150, 90, 80)}
    _folder(root / "train", {"common": 180, "rare": 20}, colours, 0)
    _folder(root / "test", {"common": 90, "rare": 10}, colours, 1)
    data = root / "data"
    prepare_imagefolder({}, {"train_path": str(root / "train"), "test_path": str(root / "test"),
                             "image_size": 32, "fit": "crop"}, data)
    write_split(data / "three.npz", make_split("three", load_prepared(data, "train")[1],
                                               load_prepared(data, "test")[1], 0.2, 0))
    out = root / "run"
    args = arguments(data, out)
    args["block"].update(epochs=1, warmup_epochs=0)
    train_run(**args)
    metrics = evaluate_run(
        data_dir=args["data_dir"], split_path=args["split_path"], block=args["block"],
        train_info_path=out / "train.json", model_path=out / "model.pt", device_setting="cpu", threads=1,
        metrics_path=out / "metrics.json", confusion_path=out / "confusion.csv")
    return out, metrics


def test_a_90_10_folder_gives_chance_0_9_with_the_uniform_rate_beside_it(skewed_run):
    out, metrics = skewed_run
    assert json.loads((out / "metrics.json").read_text())["chance_acc"] == pytest.approx(0.9)
    row = summary_row(metrics)
    assert row["chance_acc"] == pytest.approx(0.9) and row["uniform_acc"] == 0.5


def test_balanced_accuracy_and_macro_f1_agree_with_scikit_learn(skewed_run):
    out, metrics = skewed_run
    with open(out / "confusion.csv", newline="") as fh:
        matrix = np.array([[int(v) for v in r[1:]] for r in list(csv.reader(fh))[1:]])
    true, predicted = _labels_of(matrix)
    assert (true == predicted).mean() == pytest.approx(metrics["test_acc"])
    assert metrics["balanced_acc"] == pytest.approx(balanced_accuracy_score(true, predicted))
    assert metrics["macro_f1"] == pytest.approx(f1_score(true, predicted, average="macro"))
    row = summary_row(metrics)
    assert (row["balanced_acc"], row["macro_f1"]) == (metrics["balanced_acc"], metrics["macro_f1"])


@pytest.mark.parametrize("matrix", [
    [[90, 0], [10, 0]],  # always the majority: balanced accuracy 0.5, F1 of the rare class 0
    [[5, 3, 2], [0, 7, 1], [4, 0, 9]],
    [[4, 0, 1], [0, 0, 0], [2, 0, 3]],  # a class without test images or predictions is left out
    [[4, 0, 1], [0, 0, 0], [2, 1, 3]],  # ... but one that is predicted counts, with F1 0
])
def test_balance_scores_agree_with_scikit_learn(matrix):
    matrix = np.array(matrix)
    true, predicted = _labels_of(matrix)
    found = balance_scores(matrix)
    assert found["chance_acc"] == pytest.approx(np.bincount(true).max() / len(true))
    assert found["balanced_acc"] == pytest.approx(balanced_accuracy_score(true, predicted))
    assert found["macro_f1"] == pytest.approx(f1_score(true, predicted, average="macro", zero_division=0))


def test_the_report_shows_chance_with_the_uniform_rate_and_the_balanced_scores(tmp_path):
    """Through aggregate and the page: the data set's line names chance and the uniform rate where they
    differ, the accuracy figure draws chance at the majority share, and the metrics table shows
    balanced accuracy and macro-F1 as summary.csv has them."""
    import synthetic_runs
    from conftest import REPO
    from cnncompare.report.aggregate import aggregate
    from cnncompare.report.render import render_files

    results = tmp_path / "results"
    scores = {"chance_acc": 0.9, "balanced_acc": 0.6125, "macro_f1": 0.58}
    for split in ("two", "three"):
        synthetic_runs.write_run(results / "runs/skewed" / split / "m/seed0", "skewed", split, "m", 0, accuracy=0.92,
                                 epoch_seconds=1.0, params=1000, epochs=2, classes=["common", "rare"], extra=scores)
    metrics = sorted(results.glob("runs/**/metrics.json"))
    aggregate(metrics, [m.with_name("history.csv") for m in metrics], results / "summary.csv", results / "history.csv")
    out = tmp_path / "report.html"
    render_files(results / "summary.csv", results / "history.csv", REPO / "report/report.html.j2", out,
                 metrics=metrics, confusion=[m.with_name("confusion.csv") for m in metrics],
                 misclassified=[m.with_name("misclassified.npz") for m in metrics])
    html = out.read_text()
    assert "chance 90.0% (always answering the largest class of the test set); 50.0% for a uniform guess" in html
    accuracy = html.split('id="figure-accuracy"')[1].split("</div>")[0]
    assert "chance 90.0%" in accuracy and "chance (largest class)" in accuracy
    table = html.split('id="metrics-table"')[1].split("</table>")[0]
    assert "test, balanced" in table and "macro-F1 (%)" in table
    assert ">61.3<" in table and ">58.0<" in table
