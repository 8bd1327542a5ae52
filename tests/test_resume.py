"""Training and evaluation that survive being killed: SIGKILL or SIGTERM after
the second epoch, SIGKILL in the middle of an epoch, while a checkpoint is being
written, or during evaluation; then a plain re-run ends exactly as an
uninterrupted run (on the CPU)."""

from __future__ import annotations

import csv
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from cnncompare.columns import INFERENCE_TIMING_KEYS
from cnncompare.plan.config import resolve_config
from small_runs import prepared_data

# Whole jobs in processes of their own, killed and started again: minutes (docs/tests.md, "Tiers").
pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
EPOCHS = 5

# Runs train_run or evaluate_run in a process of its own, so the test can kill
# it for real. With a pause, the process stops at that point, creates the
# marker file and waits there to be killed; the code under test is unchanged,
# only the function the pause wraps is replaced in this process:
#   mid-epoch         epoch_batches, after `step` optimizer steps of epoch `epoch`
#   checkpoint-write  torch.save of the checkpoint after epoch `epoch`, half its bytes written
#   evaluation        write_misclassified: confusion.csv written, metrics.json not yet
DRIVER = """
import io, json, logging, sys, time
from pathlib import Path
sys.path.insert(0, SCRIPTS)
logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(message)s")
import torch
from cnncompare.train import evaluation, training

entry, args, pause = sys.argv[1], json.loads(sys.argv[2]), json.loads(sys.argv[3])


def wait_to_be_killed():
    Path(pause["marker"]).touch()
    time.sleep(600)


if pause and pause["at"] == "mid-epoch":
    real_batches, epochs_started = training.epoch_batches, []

    def epoch_batches(*a, **k):
        epochs_started.append(True)
        for step, batch in enumerate(real_batches(*a, **k)):
            if len(epochs_started) == pause["epoch"] and step == pause["step"]:
                wait_to_be_killed()
            yield batch

    training.epoch_batches = epoch_batches
elif pause and pause["at"] == "checkpoint-write":
    real_save, checkpoints_saved = torch.save, []

    def save(obj, f, *a, **k):  # f: the open temporary file the checkpoint is written to
        if Path(f.name).name.startswith("." + Path(args["checkpoint_path"]).name + "."):
            checkpoints_saved.append(True)
            if len(checkpoints_saved) == pause["epoch"]:
                whole = io.BytesIO()
                real_save(obj, whole, *a, **k)
                f.write(whole.getvalue()[: len(whole.getvalue()) // 2])
                f.flush()
                wait_to_be_killed()
        return real_save(obj, f, *a, **k)

    torch.save = save
elif pause and pause["at"] == "evaluation":
    evaluation.write_misclassified = lambda *a, **k: wait_to_be_killed()

getattr(training if entry == "train_run" else evaluation, entry)(**args)
"""


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    return prepared_data(tmp_path_factory.mktemp("resume-data"))


def arguments(dataset: Path, out: Path) -> dict:
    # 16 px, as conftest's tiny config: a quarter of 32 px's multiply-adds for the training these
    # tests run again and again (killed, resumed, uninterrupted); resuming does not depend on the size.
    config = {"models": {"m": {"arch": "custom_cnn", "image_size": 16, "epochs": EPOCHS, "batch_size": 50,
                               "warmup_epochs": 1}},
              "compare": {"models": ["m"]}}
    out.mkdir(parents=True, exist_ok=True)
    return {
        "data_dir": str(dataset), "split_path": str(dataset / "three.npz"),
        "block": resolve_config(config)["models"]["m"],
        "run": {"dataset": "d", "split": "three", "model": "m", "seed": 0}, "seed": 0,
        "device_setting": "cpu", "threads": 1,
        "model_path": str(out / "model.pt"), "history_path": str(out / "history.csv"),
        "info_path": str(out / "train.json"), "checkpoint_path": str(out / "checkpoint" / "run.pt"),
    }


def start(args: dict, log: Path, entry: str = "train_run", pause: dict | None = None) -> subprocess.Popen:
    driver = DRIVER.replace("SCRIPTS", repr(str(REPO / "workflow" / "scripts")))
    with open(log, "a") as err:
        return subprocess.Popen([sys.executable, "-c", driver, entry, json.dumps(args), json.dumps(pause)], stderr=err)


def run_to_end(args: dict, log: Path, entry: str = "train_run") -> None:
    assert start(args, log, entry).wait(timeout=300) == 0, log.read_text()


def kill_at(args: dict, log: Path, entry: str, **pause) -> None:
    """Start `entry`, let it reach the pause, SIGKILL it there."""
    marker = log.with_name("paused")
    proc = start(args, log, entry, {**pause, "marker": str(marker)})
    deadline = time.monotonic() + 240
    while not marker.exists():
        assert proc.poll() is None, f"ended before reaching the pause:\n{log.read_text()}"
        assert time.monotonic() < deadline, "the pause was not reached in time"
        time.sleep(0.02)
    proc.kill()
    assert proc.wait(timeout=60) == -signal.SIGKILL


def wait_for_checkpoint_epoch(path: Path, epoch: int, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        assert proc.poll() is None, "training ended before it could be interrupted"
        if path.exists():
            try:
                if torch.load(path, weights_only=True)["epoch"] >= epoch:
                    return
            except Exception:  # replaced while being read: look again
                pass
        time.sleep(0.05)
    raise AssertionError(f"no checkpoint of epoch {epoch} in time")


def outcome(out: Path) -> tuple[list[dict], dict, dict]:
    """History without wall times, train.json without timings, and the saved weights."""
    with open(out / "history.csv", newline="") as fh:
        history = [{k: v for k, v in row.items() if "seconds" not in k} for row in csv.DictReader(fh)]
    info = json.loads((out / "train.json").read_text())
    timing = {"train_seconds", "setup_seconds", "images_per_second", "peak_rss_mb", "started_at", "checkpoint_bytes"}
    return history, {k: v for k, v in info.items() if k not in timing}, torch.load(out / "model.pt", weights_only=True)


@pytest.fixture(scope="module")
def uninterrupted_dir(dataset, tmp_path_factory):
    out = tmp_path_factory.mktemp("uninterrupted")
    run_to_end(arguments(dataset, out), out / "log.txt")
    assert not (out / "checkpoint" / "run.pt").exists()  # removed once the outputs are complete
    return out


@pytest.fixture(scope="module")
def uninterrupted(uninterrupted_dir):
    return outcome(uninterrupted_dir)


def assert_same_as_uninterrupted(out: Path, uninterrupted) -> None:
    history, info, weights = outcome(out)
    expected_history, expected_info, expected_weights = uninterrupted
    assert history == expected_history
    assert info == expected_info
    assert weights.keys() == expected_weights.keys()
    assert all(torch.equal(weights[k], expected_weights[k]) for k in weights)


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM], ids=["SIGKILL", "SIGTERM"])
def test_killed_after_the_second_epoch_then_rerun_ends_as_if_never_killed(dataset, uninterrupted, tmp_path, sig,
                                                                          capsys):
    args = arguments(dataset, tmp_path)
    log = tmp_path / "log.txt"
    ckpt = Path(args["checkpoint_path"])
    proc = start(args, log)
    wait_for_checkpoint_epoch(ckpt, 2, proc)
    proc.send_signal(sig)
    code = proc.wait(timeout=60)
    assert code != 0
    if sig == signal.SIGTERM:
        assert code == 128 + signal.SIGTERM, log.read_text()  # saved state, exited non-zero
        assert "SIGTERM" in log.read_text()
    kept = torch.load(ckpt, weights_only=True)
    assert 2 <= kept["epoch"] < EPOCHS
    assert not Path(args["model_path"]).exists()  # nothing half-done passed off as output

    run_to_end(args, log)
    assert f"resuming after epoch {kept['epoch']}" in log.read_text()
    assert_same_as_uninterrupted(tmp_path, uninterrupted)
    assert not ckpt.exists()
    history, _, weights = outcome(tmp_path)
    with capsys.disabled():  # the comparison, in the log
        last, expected_last = history[-1], uninterrupted[0][-1]
        print(f"\n{sig.name} after epoch {kept['epoch']}, resumed: epoch {last['epoch']} val_acc {last['val_acc']} "
              f"val_loss {last['val_loss']}; uninterrupted: val_acc {expected_last['val_acc']} "
              f"val_loss {expected_last['val_loss']}; {len(weights)} weight tensors, all equal")


@pytest.mark.parametrize("point", ["mid-epoch", "checkpoint-write"])
def test_killed_in_an_epoch_or_while_saving_then_rerun_ends_as_if_never_killed(dataset, uninterrupted, tmp_path,
                                                                                point):
    """SIGKILL after 4 optimizer steps of epoch 3 (the model in memory already
    differs from the checkpoint), or while the checkpoint of epoch 3 is half
    written: the checkpoint of epoch 2 is what survives and what the re-run
    resumes, and the torn file is removed."""
    args = arguments(dataset, tmp_path)
    log = tmp_path / "log.txt"
    ckpt = Path(args["checkpoint_path"])
    kill_at(args, log, "train_run", at=point, epoch=3, step=4)

    assert torch.load(ckpt, weights_only=True)["epoch"] == 2
    torn = [p for p in ckpt.parent.iterdir() if p != ckpt]
    if point == "checkpoint-write":
        assert len(torn) == 1 and torn[0].name.startswith(".run.pt.") and torn[0].stat().st_size > 0, torn
    else:
        assert torn == []
    assert not Path(args["model_path"]).exists()

    run_to_end(args, log)
    assert "resuming after epoch 2" in log.read_text()
    assert_same_as_uninterrupted(tmp_path, uninterrupted)
    assert list(ckpt.parent.iterdir()) == []  # neither the checkpoint nor the torn write


def evaluation_arguments(dataset: Path, trained: Path, out: Path) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    train_args = arguments(dataset, trained)
    return {
        "data_dir": train_args["data_dir"], "split_path": train_args["split_path"], "block": train_args["block"],
        "train_info_path": str(trained / "train.json"), "model_path": str(trained / "model.pt"),
        "device_setting": "cpu", "threads": 1, "metrics_path": str(out / "metrics.json"),
        "confusion_path": str(out / "confusion.csv"), "misclassified_path": str(out / "misclassified.npz"),
    }


def test_evaluation_killed_then_rerun_gives_the_same_metrics(dataset, uninterrupted_dir, tmp_path):
    """SIGKILL after confusion.csv is written and before metrics.json: no
    metrics.json passes for a result; the re-run writes the same files as an
    evaluation that was never interrupted."""
    whole, killed = tmp_path / "whole", tmp_path / "killed"
    run_to_end(evaluation_arguments(dataset, uninterrupted_dir, whole), tmp_path / "whole.log", "evaluate_run")
    args = evaluation_arguments(dataset, uninterrupted_dir, killed)
    kill_at(args, killed / "log.txt", "evaluate_run", at="evaluation")
    assert (killed / "confusion.csv").exists() and not (killed / "metrics.json").exists()

    run_to_end(args, killed / "log.txt", "evaluate_run")
    timing = {"eval_seconds", *INFERENCE_TIMING_KEYS}
    metrics = [{k: v for k, v in json.loads((d / "metrics.json").read_text()).items() if k not in timing}
               for d in (whole, killed)]
    assert metrics[0] == metrics[1]
    assert (whole / "confusion.csv").read_bytes() == (killed / "confusion.csv").read_bytes()
    with np.load(whole / "misclassified.npz") as a, np.load(killed / "misclassified.npz") as b:
        assert a.files == b.files and all(np.array_equal(a[k], b[k]) for k in a.files)
    assert sorted(p.name for p in killed.iterdir()) == ["confusion.csv", "log.txt", "metrics.json",
                                                        "misclassified.npz", "paused"]


def test_a_checkpoint_of_other_settings_is_not_resumed(dataset, tmp_path):
    args = arguments(dataset, tmp_path)
    proc = start(args, tmp_path / "log.txt")
    wait_for_checkpoint_epoch(Path(args["checkpoint_path"]), 1, proc)
    proc.kill()
    proc.wait()
    args["block"]["lr"] = args["block"]["lr"] / 2
    run_to_end(args, tmp_path / "log.txt")
    text = (tmp_path / "log.txt").read_text()
    assert "written for other settings or inputs" in text and "resuming" not in text
    with open(tmp_path / "history.csv") as fh:
        assert len(list(csv.DictReader(fh))) == EPOCHS
