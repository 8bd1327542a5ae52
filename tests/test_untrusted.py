"""Files the workflow reads are data, never code: model.pt, checkpoints and
pretrained weights go through torch.load(weights_only=True), which refuses a
pickled object of any other class; CIFAR batches through an unpickler that
allows what numpy arrays need (tests/test_datasets.py::
test_load_pickle_refuses_forbidden_global_without_running_it); config strings
are escaped in the report (tests/test_report.py::test_config_text_is_escaped)."""

from __future__ import annotations

import ast
import os
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

import cifar_format
from cnncompare.train import checkpoint
from cnncompare.plan.config import resolve_config
from cnncompare.data.datasets import write_prepared
from cnncompare.train.evaluation import evaluate_run
from cnncompare.fileio import write_json
from cnncompare.train.models import build_model
from cnncompare.data.splits import make_split, write_split

REPO = Path(__file__).resolve().parents[1]


class RunsACommand:
    """Unpickled, it runs a shell command: what a doctored .pt file can hold."""

    def __init__(self, command: str):
        self.command = command

    def __reduce__(self):
        return (os.system, (self.command,))


def doctored(path: Path, marker: Path) -> Path:
    """A file torch.save wrote, holding beside a tensor an object that would create `marker`."""
    torch.save({"weight": torch.zeros(2), "payload": RunsACommand(f"touch {marker}")}, path)
    return path


def _calls(tree: ast.AST, module: str, name: str):
    for node in ast.walk(tree):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == name
                and isinstance(node.func.value, ast.Name) and node.func.value.id == module):
            yield node


def _keyword(call: ast.Call, name: str):
    value = next((k.value for k in call.keywords if k.arg == name), None)
    return value.value if isinstance(value, ast.Constant) else value


def test_every_load_in_the_workflow_refuses_pickled_code():
    sources = sorted((REPO / "workflow" / "scripts").rglob("*.py"))
    assert len(sources) > 20
    loads = 0
    for source in sources:
        tree = ast.parse(source.read_text(), filename=str(source))
        for call in _calls(tree, "torch", "load"):
            loads += 1
            assert _keyword(call, "weights_only") is True, f"{source}:{call.lineno}: torch.load without weights_only=True"
        for call in _calls(tree, "np", "load"):
            assert _keyword(call, "allow_pickle") in (None, False), f"{source}:{call.lineno}: np.load allows pickles"
        for name in ("load", "loads"):
            assert not list(_calls(tree, "pickle", name)), f"{source}: pickle.{name} (use the restricted unpickler)"
    assert loads == 4  # model.pt in evaluation and in trained.load_trained, checkpoints, pretrained weights
    for rules in (REPO / "workflow" / "rules").glob("*.smk"):
        assert "torch.load" not in rules.read_text() and "pickle" not in rules.read_text(), rules


def test_a_doctored_checkpoint_is_refused_without_running_it(tmp_path, caplog):
    marker = tmp_path / "command-ran"
    path = doctored(tmp_path / "seed0.pt", marker)
    assert checkpoint.load(path, "any fingerprint", "cpu") is None  # training starts over
    assert not marker.exists()
    assert not path.exists()
    assert "ignoring unreadable checkpoint" in caplog.text


def test_doctored_pretrained_weights_are_refused_without_running_them(tmp_path):
    marker = tmp_path / "command-ran"
    path = doctored(tmp_path / "resnet18-f37072fd.pth", marker)
    block = resolve_config({"models": {"m": {"arch": "resnet18", "pretrained": True}},
                            "compare": {"models": ["m"]}})["models"]["m"]
    with pytest.raises(pickle.UnpicklingError, match="Weights only load failed"):
        build_model(block, 10, weights_path=path)
    assert not marker.exists()


def test_a_doctored_model_pt_is_refused_by_evaluation_without_running_it(tmp_path):
    labels = np.arange(20) % 10
    images = cifar_format.class_images(labels, np.random.default_rng(0))
    write_prepared(tmp_path, (images, labels), (images, labels), cifar_format.CLASSES)
    write_split(tmp_path / "two.npz", make_split("two", labels, labels, 0.1, 0))
    write_json(tmp_path / "train.json", {"tested_weights": "epoch 1"})
    marker = tmp_path / "command-ran"
    block = resolve_config({"models": {"m": {"arch": "custom_cnn"}}, "compare": {"models": ["m"]}})["models"]["m"]
    out = tmp_path / "run"
    with pytest.raises(pickle.UnpicklingError, match="Weights only load failed"):
        evaluate_run(
            data_dir=tmp_path, split_path=tmp_path / "two.npz", block=block, train_info_path=tmp_path / "train.json",
            model_path=doctored(tmp_path / "model.pt", marker), device_setting="cpu", threads=1,
            metrics_path=out / "metrics.json", confusion_path=out / "confusion.csv",
            misclassified_path=out / "misclassified.npz",
        )
    assert not marker.exists()
    assert not out.exists()


def test_a_doctored_model_pt_is_refused_by_load_trained_without_running_it(tmp_path):
    import cnncompare

    block = resolve_config({"models": {"m": {"arch": "custom_cnn"}}, "compare": {"models": ["m"]}})["models"]["m"]
    write_json(tmp_path / "train.json", {"config": block, "num_classes": 10, "classes": cifar_format.CLASSES,
                                         "prepared_size": 32, "status": "completed"})
    marker = tmp_path / "command-ran"
    doctored(tmp_path / "model.pt", marker)
    with pytest.raises(pickle.UnpicklingError, match="Weights only load failed"):
        cnncompare.load_trained(tmp_path)
    assert not marker.exists()
