"""Live curves: the TensorBoard event files a run writes, read back with
TensorBoard's own reader, hold one value per epoch of each scalar, equal to
history.csv, also after a kill and a resume; the settings are there as hparams."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.plugins.hparams import plugin_data_pb2

from cnncompare.track.live_curves import SCALARS
from cnncompare.track.record import run_params
from small_runs import prepared_data
from test_resume import EPOCHS, arguments, kill_at, run_to_end


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    return prepared_data(tmp_path_factory.mktemp("tensorboard-data"))


def tensorboard_arguments(dataset: Path, out: Path) -> dict:
    return {**arguments(dataset, out), "tensorboard_dir": str(out / "tensorboard" / "d" / "three" / "m" / "seed0")}


def read_events(folder) -> EventAccumulator:
    """Every event file of the folder, as TensorBoard reads them (purges included)."""
    events = EventAccumulator(str(folder), size_guidance={"scalars": 0, "tensors": 0})
    events.Reload()
    return events


def steps(events: EventAccumulator, tag: str) -> list[int]:
    return [e.step for e in events.Scalars(tag)]


def read_history(out: Path) -> list[dict]:
    with open(out / "history.csv", newline="") as fh:
        return list(csv.DictReader(fh))


def assert_curves_equal_history(folder, history: list[dict]) -> EventAccumulator:
    events = read_events(folder)
    assert set(SCALARS.values()) <= set(events.Tags()["scalars"])
    for column, tag in SCALARS.items():
        scalars = events.Scalars(tag)
        assert [e.step for e in scalars] == [int(row["epoch"]) for row in history], tag
        # TensorBoard stores float32: each value is history.csv's, rounded to float32.
        assert [e.value for e in scalars] == [float(np.float32(float(row[column]))) for row in history], tag
    return events


def test_each_epoch_is_one_value_per_scalar_equal_to_history_with_the_settings_as_hparams(dataset, tmp_path):
    args = tensorboard_arguments(dataset, tmp_path)
    run_to_end(args, tmp_path / "log.txt")
    history = read_history(tmp_path)
    assert len(history) == EPOCHS
    events = assert_curves_equal_history(args["tensorboard_dir"], history)

    # The final metrics, as the HPARAMS tab reads them: scalars at the last epoch.
    final = events.Scalars("hparams/val_acc")
    assert [(e.step, e.value) for e in final] == [(EPOCHS, float(np.float32(float(history[-1]["val_acc"]))))]
    best = max(float(row["val_acc"]) for row in history)
    assert events.Scalars("hparams/best_val_acc")[0].value == pytest.approx(best, rel=1e-6)
    # The settings: the run's identity and its model block, flattened.
    content = events.PluginTagToContent("hparams")
    start = next(plugin_data_pb2.HParamsPluginData.FromString(c).session_start_info
                 for c in content.values() if plugin_data_pb2.HParamsPluginData.FromString(c).HasField("session_start_info"))
    hparams = {name: value.WhichOneof("kind") and getattr(value, value.WhichOneof("kind"))
               for name, value in start.hparams.items()}
    assert hparams["model"] == "m" and hparams["dataset"] == "d" and hparams["seed"] == 0
    assert hparams["lr"] == pytest.approx(args["block"]["lr"]) and hparams["epochs"] == EPOCHS
    assert hparams["augment.crop_padding"] == 4 and hparams["augment.flip"] == "true"  # nested, flattened; a bool as JSON text
    assert "head.pool" not in hparams  # a setting custom_cnn does not read is left out
    assert hparams["optimizer"] == args["block"]["optimizer"]
    # Exactly the params every tracker records of the run (numbers read back as floats).
    assert hparams == run_params(args["run"], args["block"])


@pytest.mark.slow
def test_killed_and_resumed_the_curves_hold_one_value_per_step(dataset, tmp_path):
    """SIGKILL while the checkpoint of epoch 3 is being written: epoch 3 is
    already in the event file, but the run resumes after epoch 2 and trains
    epoch 3 again. TensorBoard must show it once, with the resumed value."""
    args = tensorboard_arguments(dataset, tmp_path)
    log = tmp_path / "log.txt"
    kill_at(args, log, "train_run", at="checkpoint-write", epoch=3, step=0)
    # Live: the killed run's first three epochs were on disk already.
    assert steps(read_events(args["tensorboard_dir"]), "accuracy/val") == [1, 2, 3]

    run_to_end(args, log)
    assert "resuming after epoch 2" in log.read_text()
    assert len(list(Path(args["tensorboard_dir"]).glob("events.out.tfevents.*"))) >= 2  # one file per start
    assert_curves_equal_history(args["tensorboard_dir"], read_history(tmp_path))


@pytest.mark.slow
def test_a_run_trained_again_from_the_start_replaces_its_old_curves(dataset, tmp_path):
    """The same folder, a finished run trained anew (other settings): the old
    values are dropped, not shown beside the new ones."""
    args = tensorboard_arguments(dataset, tmp_path)
    run_to_end(args, tmp_path / "log.txt")
    args["block"]["lr"] = args["block"]["lr"] / 2
    run_to_end(args, tmp_path / "log.txt")
    assert_curves_equal_history(args["tensorboard_dir"], read_history(tmp_path))


@pytest.mark.workflow
def test_the_workflow_writes_each_runs_curves_under_results_tensorboard(finished):
    """Through Snakemake: train_model gets its run's folder from the rule."""
    results = Path(finished["config"]["results_dir"])
    for split in ("two", "three"):
        folder = results / "tensorboard" / "cifar10" / split / "custom_cnn" / "seed0"
        history = read_history(results / "runs" / "cifar10" / split / "custom_cnn" / "seed0")
        assert_curves_equal_history(folder, history)
