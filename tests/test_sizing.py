"""Default job limits scale with the model, the data set, the image size and the device."""

from __future__ import annotations

import pytest
import yaml

from cnncompare.plan.config import resolve_config
from cnncompare.plan.sizing import dataset_images, job_limits

from conftest import REPO, snakemake, write_config


def blocks(model: str = "custom_cnn", dataset: str = "cifar10", **model_overrides) -> tuple[dict, dict]:
    config = resolve_config({"models": {"m": {"arch": model, **model_overrides}}, "compare": {"models": ["m"]}})
    return config["models"]["m"], config["datasets"][dataset]


def test_resnet50_gets_more_time_than_the_custom_cnn():
    small = job_limits("train_model", *blocks("custom_cnn"), on_gpu=True)
    large = job_limits("train_model", *blocks("resnet50"), on_gpu=True)
    assert large["runtime"] > 3 * (small["runtime"] - 10)


def test_time_grows_with_epochs_image_size_and_data_and_on_the_cpu():
    base = job_limits("train_model", *blocks(epochs=20), on_gpu=True)["runtime"] - 10
    assert job_limits("train_model", *blocks(epochs=40), on_gpu=True)["runtime"] - 10 >= 2 * base - 1
    assert job_limits("train_model", *blocks(image_size=64), on_gpu=True)["runtime"] - 10 >= 4 * base - 1
    assert job_limits("train_model", *blocks(dataset="svhn"), on_gpu=True)["runtime"] > base + 10
    assert job_limits("train_model", *blocks(dataset="digits"), on_gpu=True)["runtime"] < base + 10
    assert job_limits("train_model", *blocks(), on_gpu=False)["runtime"] > 20 * base


def test_memory_holds_the_arrays_and_on_the_cpu_the_activations():
    gpu = job_limits("train_model", *blocks("resnet50"), on_gpu=True)["mem_mb"]
    cpu = job_limits("train_model", *blocks("resnet50"), on_gpu=False)["mem_mb"]
    assert 3000 < gpu < cpu
    larger_batch = job_limits("train_model", *blocks("resnet50", batch_size=512), on_gpu=False)["mem_mb"]
    assert larger_batch > cpu
    model, _ = blocks("resnet50")
    larger_data = job_limits("train_model", model, {"format": "mnist", "image_size": 64}, on_gpu=True)["mem_mb"]
    assert larger_data > gpu


def test_image_folders_are_counted(tmp_path):
    for cls, n in (("cats", 3), ("dogs", 2)):
        (tmp_path / cls).mkdir()
        for i in range(n):
            (tmp_path / cls / f"{i}.png").write_bytes(b"")
    (tmp_path / "cats" / "notes.txt").write_text("not an image")
    assert dataset_images({"format": "imagefolder", "path": str(tmp_path)}) == 5


def _train_limits(output: str) -> dict:
    """{model: runtime} of the two-split train_model jobs a dry run lists."""
    found = {}
    for block in output.split("\n\n"):
        if "rule train_model:" in block and "split=two" in block:
            model = block.split("model=")[1].split(",")[0]
            found[model] = int(block.split("runtime=")[1].split(",")[0].split()[0])
    return found


@pytest.mark.workflow
def test_dry_run_shows_scaled_limits_and_a_number_in_the_config_wins(tmp_path, study_dry_run):
    auto = _train_limits(study_dry_run["output"])
    assert set(auto) == {"custom_cnn", "vgg16", "vgg16_finetune", "resnet50"}
    assert auto["resnet50"] > auto["custom_cnn"]
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    config.setdefault("resources", {})["train_model"] = {"runtime": 90}  # the rest from the schema
    proc = snakemake(tmp_path, write_config(tmp_path / "fixed.yaml", config), "--dry-run")
    assert set(_train_limits(proc.stdout + proc.stderr).values()) == {90}
