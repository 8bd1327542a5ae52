"""A run's predictions.csv, as evaluation writes it: one row per test image in
the split's test order, agreeing with the run's own confusion matrix, test
accuracy and loss, and the trained model's outputs."""

from __future__ import annotations

import csv
import json

import numpy as np
import pandas as pd
import pytest
import torch

import cnncompare
from cnncompare.columns import PREDICTIONS_COLUMNS
from cnncompare.data.datasets import load_prepared
from cnncompare.data.splits import read_split


@pytest.fixture(scope="module")
def run(evaluated_run):
    """One short epoch (a model that still errs), evaluated as the workflow's job does (conftest)."""
    return evaluated_run


def test_one_row_per_test_image_agreeing_with_the_runs_evaluation(run):
    out, dataset = run["out"], run["dataset"]
    table = pd.read_csv(out / "predictions.csv")
    assert list(table.columns) == PREDICTIONS_COLUMNS
    indices = read_split(dataset / "three.npz")["test"][1]
    _, labels = load_prepared(dataset, "test")
    assert table["index"].tolist() == indices.tolist() and table["true"].tolist() == labels[indices].tolist()
    metrics = json.loads((out / "metrics.json").read_text())
    assert (table["true"] == table["predicted"]).mean() == metrics["test_acc"]
    assert 0.2 < metrics["test_acc"] < 1  # it errs: the file holds the mistakes the comparisons count
    with open(out / "confusion.csv", newline="") as fh:
        matrix = np.array([[int(v) for v in row[1:]] for row in list(csv.reader(fh))[1:]])
    ours = np.zeros_like(matrix)
    np.add.at(ours, (table["true"].to_numpy(), table["predicted"].to_numpy()), 1)
    assert ours.tolist() == matrix.tolist()


def test_the_probability_is_the_models_softmax_of_its_prediction(run):
    out, dataset = run["out"], run["dataset"]
    model, preprocess, classes = cnncompare.load_trained(out)
    images, _ = load_prepared(dataset, "test")
    table = pd.read_csv(out / "predictions.csv")
    with torch.no_grad():
        logits = torch.cat([model(preprocess(images[i])) for i in table["index"]])
    probabilities = logits.softmax(1)
    assert logits.argmax(1).tolist() == table["predicted"].tolist()
    assert table["probability"].to_numpy() == pytest.approx(probabilities.amax(1).numpy(), abs=2e-6)
    assert (table["probability"] >= 1 / len(classes) - 1e-6).all() and (table["probability"] <= 1).all()
    # The loss evaluation reports is that of the same outputs: the probability was read off the logits
    # the loss and accuracy used, and changed neither.
    metrics = json.loads((out / "metrics.json").read_text())
    loss = torch.nn.functional.cross_entropy(logits, torch.tensor(table["true"].to_numpy())).item()
    assert loss == pytest.approx(metrics["test_loss"], rel=1e-5)
