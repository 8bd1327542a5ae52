"""The training loop itself, on small in-memory data on the CPU."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

import cifar_format
from small_runs import model_block, run_data
from cnncompare.train.models import build_model
from cnncompare.train.training import RunData, fit, load_run_data, predict, seed_everything, describe_tested_weights

DEVICE = torch.device("cpu")


block = model_block


@pytest.fixture(scope="module")
def data() -> RunData:
    return run_data(240, seed=0, val_size=60)


def train(data: RunData, settings: dict, seed: int = 0):
    seed_everything(seed)
    model = build_model(settings, 10, data.mean, data.std)
    return fit(model, data, settings, seed, DEVICE)


def without_times(history):
    return [{k: v for k, v in row.items() if "seconds" not in k} for row in history]


def test_same_seed_gives_the_same_history_on_the_cpu(data):
    settings = block(epochs=2, batch_size=40)
    first, second = train(data, settings), train(data, settings)
    assert without_times(first.history) == without_times(second.history)
    for key in first.tested_state:
        assert torch.equal(first.tested_state[key], second.tested_state[key])


def test_another_seed_gives_another_history(data):
    settings = block(epochs=1, batch_size=40)
    assert without_times(train(data, settings, 0).history) != without_times(train(data, settings, 1).history)


def test_a_huge_learning_rate_stops_the_run_as_diverged(data):
    settings = block(epochs=6, batch_size=40, lr=1.0e8, warmup_epochs=0)
    result = train(data, settings)
    assert result.status == "diverged"
    assert len(result.history) < 6
    assert not np.isfinite(result.history[-1]["train_loss"])
    last = block(epochs=6, batch_size=40, lr=1.0e8, keep_weights="last")
    assert describe_tested_weights(last, train(data, last)).endswith("where training diverged")


def test_val_and_test_of_the_two_split_share_one_copy(tmp_path):
    from cnncompare.data.datasets import write_prepared
    from cnncompare.data.splits import make_split, write_split

    rng = np.random.default_rng(0)
    labels = np.arange(40) % 10
    part = (cifar_format.class_images(labels, rng), labels)
    write_prepared(tmp_path, part, part, cifar_format.CLASSES)
    write_split(tmp_path / "two.npz", make_split("two", labels, labels, 0.1, 0))
    loaded = load_run_data(tmp_path, tmp_path / "two.npz", DEVICE)
    assert loaded.parts["val"][0] is loaded.parts["test"][0]
    assert len(loaded.mean) == 3
    assert load_run_data(tmp_path, tmp_path / "two.npz", DEVICE, stats=False).mean == []


def test_history_has_one_row_per_epoch_and_the_schedule_rises_then_falls(data):
    result = train(data, block(epochs=4, batch_size=40, warmup_epochs=1))
    assert [row["epoch"] for row in result.history] == [1, 2, 3, 4]
    lrs = [row["lr"] for row in result.history]
    assert lrs[0] == pytest.approx(0.02)  # the end of warm-up is the peak
    assert lrs[1] > lrs[2] > lrs[3] > 0
    assert result.status == "completed"


def test_keep_weights_last_tests_the_final_epoch(data):
    settings = block(epochs=3, batch_size=40, keep_weights="last")
    assert train(data, settings).tested_epoch == 3
    best = train(data, block(epochs=3, batch_size=40))
    accuracies = [row["val_acc"] for row in best.history]
    assert best.tested_epoch == best.best_epoch == 1 + int(np.argmax(accuracies))


def test_frozen_input_normalisation_travels_in_the_state_dict(data):
    settings = block(epochs=1, batch_size=40)
    result = train(data, settings)
    rebuilt = build_model(settings, 10)  # placeholder statistics
    rebuilt.load_state_dict(result.tested_state)
    assert torch.allclose(rebuilt[0].mean.flatten(), torch.tensor(data.mean, dtype=torch.float32))


def test_predict_gives_an_exact_fraction(data):
    settings = block(epochs=1)
    model = build_model(settings, 10, data.mean, data.std)
    images, labels = data.parts["val"]
    _, accuracy, predicted = predict(model, images, labels, batch_size=7)
    assert accuracy == (predicted == labels).sum().item() / len(labels)
    assert len(predicted) == len(labels)


def test_settings_are_not_changed_by_training(data):
    settings = block(epochs=1, batch_size=40)
    before = copy.deepcopy(settings)
    train(data, settings)
    assert settings == before
