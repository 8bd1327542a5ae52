"""Training that survives being killed: SIGKILL or SIGTERM after the second
epoch, then a plain re-run, ends exactly as an uninterrupted run (on the CPU)."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

import cifar_format
from cnncompare.config import resolve_config
from cnncompare.datasets import write_prepared
from cnncompare.splits import make_split, write_split

REPO = Path(__file__).resolve().parents[1]
EPOCHS = 5

# Runs train_run in a process of its own, so the test can kill it for real.
DRIVER = """
import json, logging, sys
sys.path.insert(0, {scripts!r})
logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(message)s")
from cnncompare.training import train_run
train_run(**json.loads(sys.argv[1]))
"""


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("resume-data")
    rng = np.random.default_rng(0)
    train_labels, test_labels = np.arange(600) % 10, np.arange(200) % 10
    write_prepared(
        root,
        (cifar_format.class_images(train_labels, rng), train_labels),
        (cifar_format.class_images(test_labels, rng), test_labels),
        cifar_format.CLASSES,
    )
    write_split(root / "three.npz", make_split("three", train_labels, test_labels, 0.2, 0))
    return root


def arguments(dataset: Path, out: Path) -> dict:
    config = {"models": {"m": {"arch": "custom_cnn", "epochs": EPOCHS, "batch_size": 50, "warmup_epochs": 1}},
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


def start(args: dict, log: Path) -> subprocess.Popen:
    driver = DRIVER.format(scripts=str(REPO / "workflow" / "scripts"))
    with open(log, "a") as err:
        return subprocess.Popen([sys.executable, "-c", driver, json.dumps(args)], stderr=err)


def run_to_end(args: dict, log: Path) -> None:
    assert start(args, log).wait(timeout=300) == 0, log.read_text()


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
def uninterrupted(dataset, tmp_path_factory):
    out = tmp_path_factory.mktemp("uninterrupted")
    run_to_end(arguments(dataset, out), out / "log.txt")
    assert not (out / "checkpoint" / "run.pt").exists()  # removed once the outputs are complete
    return outcome(out)


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
    history, info, weights = outcome(tmp_path)
    expected_history, expected_info, expected_weights = uninterrupted
    assert history == expected_history
    assert info == expected_info
    assert weights.keys() == expected_weights.keys()
    assert all(torch.equal(weights[k], expected_weights[k]) for k in weights)
    assert not ckpt.exists()
    with capsys.disabled():  # the comparison, in the log
        last, expected_last = history[-1], expected_history[-1]
        print(f"\n{sig.name} after epoch {kept['epoch']}, resumed: epoch {last['epoch']} val_acc {last['val_acc']} "
              f"val_loss {last['val_loss']}; uninterrupted: val_acc {expected_last['val_acc']} "
              f"val_loss {expected_last['val_loss']}; {len(weights)} weight tensors, all equal")


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
