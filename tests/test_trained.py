"""Using a trained run: cnncompare.load_trained rebuilds the model a run
tested, whose predictions on the test images are the run's own evaluation
(its confusion matrix, accuracy and misclassified gallery); and the run's
provenance records cnncompare's version."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import torch
from PIL import Image

import cnncompare
from cnncompare.data.datasets import load_prepared
from cnncompare.data.formats.imagefolder import load_images
from cnncompare.train.augment import to_float
from cnncompare.data.splits import read_split
from cnncompare.train.training import train_run
from test_resume import arguments


@pytest.fixture(scope="module")
def dataset(evaluated_run):
    return evaluated_run["dataset"]


@pytest.fixture(scope="module")
def run_dir(evaluated_run):
    """A run trained and evaluated like the workflow's jobs, its files in one folder (conftest)."""
    return evaluated_run["out"]


def test_load_trained_predicts_what_the_run_evaluated(dataset, run_dir):
    model, preprocess, classes = cnncompare.load_trained(run_dir)
    assert not model.training
    test_images, test_labels = load_prepared(dataset, "test")
    indices = read_split(dataset / "three.npz")["test"][1]
    images, labels = test_images[indices], test_labels[indices]

    with torch.no_grad():
        logits = torch.cat([model(preprocess(image)) for image in images])
    predicted = logits.argmax(1).numpy()

    with open(run_dir / "confusion.csv", newline="") as fh:
        rows = list(csv.reader(fh))
    assert rows[0][1:] == classes  # the class names, in the model's output order
    expected = np.array([[int(v) for v in row[1:]] for row in rows[1:]])
    ours = np.zeros_like(expected)
    np.add.at(ours, (labels, predicted), 1)
    assert ours.tolist() == expected.tolist()
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert (predicted == labels).mean() == metrics["test_acc"]
    assert 0.2 < metrics["test_acc"] < 1  # it learned something, and it errs
    # The same outputs, not just the same argmax: the mean cross-entropy agrees to float precision.
    loss = torch.nn.functional.cross_entropy(logits, torch.from_numpy(labels)).item()
    assert loss == pytest.approx(metrics["test_loss"], rel=1e-5)
    with np.load(run_dir / "misclassified.npz") as gallery:
        positions = [int(np.flatnonzero(indices == i)[0]) for i in gallery["index"]]
        assert len(positions) > 0 and predicted[positions].tolist() == gallery["predicted"].tolist()


def test_preprocess_takes_pil_images_of_any_size(run_dir):
    _, preprocess, _ = cnncompare.load_trained(run_dir)
    image = np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    as_array = preprocess(image)
    assert as_array.shape == (1, 3, 32, 32) and as_array.dtype == torch.float32
    assert torch.equal(preprocess(Image.fromarray(image)), as_array)
    assert float(as_array.max()) <= 1.0 and torch.equal(as_array[0, :, 3, 5] * 255, torch.tensor(image[3, 5]).float())
    # A larger, non-square, grey photo: made RGB, centre-cropped and scaled to the prepared size.
    assert preprocess(Image.new("L", (120, 80), 200)).shape == (1, 3, 32, 32)
    with pytest.raises(TypeError, match="uint8"):
        preprocess(image.astype(np.float32))


def test_preprocess_gives_the_model_what_evaluation_gives_it_bit_for_bit(run_dir, tmp_path):
    """Photos of other sizes and shapes, as an image folder is prepared (fit: crop)
    and evaluation then feeds them, and as load_trained's preprocess makes them:
    one centre crop (cnncompare.data.formats.imagefolder.fit_image) for both."""
    model, preprocess, _ = cnncompare.load_trained(run_dir)
    size = json.loads((run_dir / "train.json").read_text())["prepared_size"]
    rng = np.random.default_rng(1)
    shapes = [(45, 30, 3), (30, 45, 3), (size, size, 3), (97, 64, 3), (20, 50, 3), (70, 70, 3), (33, 80)]
    files = []
    for i, shape in enumerate(shapes):  # lossless files, as a user's photos would be read
        files.append(tmp_path / f"photo{i}.png")
        Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8)).save(files[-1])
    prepared, _ = load_images([(path, 0) for path in files], size, "crop")
    evaluated = to_float(torch.from_numpy(prepared))  # what predict() feeds the model, batch by batch
    ours = torch.cat([preprocess(Image.open(path)) for path in files])
    assert torch.equal(ours, evaluated)
    with torch.no_grad():
        assert torch.equal(model(ours), model(evaluated))


def test_a_folder_without_a_trained_run_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"train.json is missing"):
        cnncompare.load_trained(tmp_path)


def test_the_run_records_the_cnncompare_version(run_dir):
    for name in ("train.json", "metrics.json"):
        versions = json.loads((run_dir / name).read_text())["versions"]
        assert versions["cnncompare"] == cnncompare.__version__, name


@pytest.fixture(scope="module")
def diverged_dir(dataset, tmp_path_factory):
    """A run whose training loss became infinite in its first epoch: status diverged, NaN weights."""
    out = tmp_path_factory.mktemp("diverged-run")
    args = arguments(dataset, out)
    args["block"] = {**args["block"], "epochs": 2, "lr": 1.0e8, "warmup_epochs": 0, "keep_weights": "last"}
    train_run(**args)
    return out


def test_a_diverged_run_is_refused_naming_its_status_unless_asked_for(diverged_dir, dataset):
    info = json.loads((diverged_dir / "train.json").read_text())
    assert info["status"] == "diverged"
    with pytest.raises(ValueError, match=r"status is 'diverged', not 'completed'.*any_status=True") as refused:
        cnncompare.load_trained(diverged_dir)
    print(refused.value)
    # Asked for, it loads: the NaN predictions the refusal warns of.
    model, preprocess, _ = cnncompare.load_trained(diverged_dir, any_status=True)
    image = load_prepared(dataset, "test")[0][0]
    with torch.no_grad():
        assert not torch.isfinite(model(preprocess(image))).all()


def test_a_run_without_a_status_is_refused(run_dir, tmp_path):
    # A train.json whose status is missing (or any other than completed): nothing says the model is sound.
    for name in ("model.pt", "train.json"):
        (tmp_path / name).write_bytes((run_dir / name).read_bytes())
    info = json.loads((tmp_path / "train.json").read_text())
    del info["status"]
    (tmp_path / "train.json").write_text(json.dumps(info))
    with pytest.raises(ValueError, match="status is None"):
        cnncompare.load_trained(tmp_path)
    assert cnncompare.load_trained(tmp_path, any_status=True).classes == info["classes"]
