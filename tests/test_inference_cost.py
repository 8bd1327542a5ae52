"""The inference figures evaluation records: multiply-adds counted by
torch.utils.flop_counter against a count by hand, and throughput and latency
measured for real."""

from __future__ import annotations

import math

import pytest
import torch

from cnncompare.train import inference_cost
from cnncompare.plan.config import resolve_config
from cnncompare.train.models import build_model
from synthetic_runs import model_block


def test_custom_cnn_macs_at_32_px_equal_a_count_by_hand():
    """custom_cnn, 10 classes, 32 px: a 3x3 convolution costs H_out * W_out * C_out * C_in * 9
    multiply-adds (padding 1 keeps the size, each 2x2 max pooling halves it); the dense layer
    in * out. Batch norm, ReLU, pooling and the input normalisation hold no multiply-add
    that the count includes (as in the figures of CNN papers).

      conv 3->32     at 32x32: 32*32 * 32 * 3 * 9   =   884,736
      conv 32->32    at 32x32: 32*32 * 32 * 32 * 9  = 9,437,184
      conv 32->64    at 16x16: 16*16 * 64 * 32 * 9  = 4,718,592
      conv 64->64    at 16x16: 16*16 * 64 * 64 * 9  = 9,437,184
      conv 64->128   at 8x8:   8*8 * 128 * 64 * 9   = 4,718,592
      conv 128->128  at 8x8:   8*8 * 128 * 128 * 9  = 9,437,184
      dense (128 * 4 * 4) -> 10:  2048 * 10           =    20,480
                                                total = 38,653,952
    """
    by_hand = (
        32 * 32 * 32 * 3 * 9 + 32 * 32 * 32 * 32 * 9
        + 16 * 16 * 64 * 32 * 9 + 16 * 16 * 64 * 64 * 9
        + 8 * 8 * 128 * 64 * 9 + 8 * 8 * 128 * 128 * 9
        + 2048 * 10
    )
    assert by_hand == 38_653_952
    model = build_model(model_block(), 10)
    assert inference_cost.count_macs(model, 32) == by_hand
    # At image_size 64: four times the convolutions; the dense layer stays (AvgPoolTo(4) fixes its input).
    wide = build_model(model_block(image_size=64), 10)
    assert inference_cost.count_macs(wide, 64) == 4 * (by_hand - 20_480) + 20_480
    # The model resizes what it gets to its image_size: 32 px images cost what 64 px ones do.
    assert inference_cost.count_macs(wide, 32) == inference_cost.count_macs(wide, 64)
    assert model.training, "counting leaves the model's mode as it was"


def test_resnet50_at_224_px_is_about_4_point_09_gmacs():
    """torchvision's weights tables give ResNet50 4.09 GFLOPS (multiply-adds, in their sense) at
    224 px; our head (dense 1024, 512, 10 instead of 1000 classes) adds under 0.001 G."""
    settings = {"arch": "resnet50", "head": {"hidden": [1024, 512], "dropout": 0.5}, "image_size": 224}
    block = resolve_config({"models": {"m": settings}, "compare": {"models": ["m"]}})["models"]["m"]
    with torch.device("meta"):  # shapes only: no memory, no arithmetic
        model = build_model(block, 10)
    gmacs = inference_cost.count_macs(model, 224, "meta") / 1e9
    assert gmacs == pytest.approx(4.09, abs=0.01)


def test_throughput_and_latency_are_measured_positive_and_finite():
    model = build_model(model_block(), 10)
    images = torch.randint(0, 256, (40, 32, 32, 3), dtype=torch.uint8)  # fewer than the batch: repeated
    found = inference_cost.measure(model, images, 32, batch_size=64, budget_s=0.2)
    assert found["gmacs"] * 1e9 == found["inference_measured"]["macs"] == 38_653_952
    for key in ("inference_images_per_second", "latency_ms"):
        assert math.isfinite(found[key]) and found[key] > 0, key
    measured = found["inference_measured"]
    assert measured["batch_size"] == 64 and measured["throughput_passes"] >= 1
    # The timed passes fill the budget: their time, passes * batch / rate, reaches it.
    assert measured["throughput_passes"] * 64 / found["inference_images_per_second"] >= 0.2 * 0.99
    assert measured["throughput_seconds"] == 0.2
    assert model.training


def test_the_throughput_budget_not_given_is_the_schemas_default():
    """A caller that leaves the budget out (a user's script, the bench) times what the workflow's
    default inference_timing.throughput_seconds times."""
    from cnncompare.plan.defaults import schema_default

    model = build_model(model_block(image_size=8), 10)
    found = inference_cost.measure(model, torch.zeros((2, 8, 8, 3), dtype=torch.uint8), 8, batch_size=2)
    assert found["inference_measured"]["throughput_seconds"] == schema_default("inference_timing", "throughput_seconds") == 1.0


def test_images_at_the_data_sets_size_are_resized_and_counted_at_image_size():
    """A model trained at 64 px on 32 px data: its figures are those of 64 px images."""
    model = build_model(model_block(image_size=64), 10)
    images = torch.randint(0, 256, (8, 32, 32, 3), dtype=torch.uint8)
    found = inference_cost.measure(model, images, 64, batch_size=8, budget_s=0.05)
    assert found["inference_measured"]["macs"] == 4 * (38_653_952 - 20_480) + 20_480
    assert found["inference_measured"]["counted_at_px"] == 64


def test_a_network_is_measured_once_and_its_runs_copy_the_figures(tmp_path):
    """measure_network (rule measure_inference) times the network on the data set's test images
    and says where the figures come from; shared_cost gives evaluation exactly those figures."""
    from small_runs import model_block as full_block, prepared_data

    data_dir = prepared_data(tmp_path / "data")
    block = full_block(eval_batch_size=64)
    out = tmp_path / "inference" / "cifar10" / "custom_cnn.json"
    cost = inference_cost.measure_network(data_dir=data_dir, block=block, device_setting="cpu", threads=1,
                                          output_path=out, cores_claimed=2, alone=True)
    assert cost["gmacs"] * 1e9 == 38_653_952  # custom_cnn at 32 px, 10 classes (counted by hand above)
    assert cost["inference_images_per_second"] > 0 and cost["latency_ms"] > 0
    measured = cost["inference_measured"]
    assert measured["batch_size"] == 64 and measured["threads"] == 1
    assert (measured["cores_claimed"], measured["alone"]) == (2, True)
    assert measured["by"].startswith("rule measure_inference") and len(measured["load_average"]) == 2
    shared = inference_cost.shared_cost(out)
    assert shared == {k: cost[k] for k in ("gmacs", "inference_images_per_second", "latency_ms",
                                           "inference_measured")}


def test_measuring_a_network_refuses_prepared_data_that_changed(tmp_path):
    """The test images are read through the prepared data's checksum, like training's."""
    import numpy as np

    from cnncompare.data.checksums import ChecksumError
    from small_runs import model_block as full_block, prepared_data

    data_dir = prepared_data(tmp_path / "data")
    with np.load(data_dir / "test.npz") as npz:
        images, labels = npz["images"].copy(), npz["labels"]
    images[0, 0, 0, 0] ^= 1
    np.savez(data_dir / "test.npz", images=images, labels=labels)
    with pytest.raises(ChecksumError, match="test.npz"):
        inference_cost.measure_network(data_dir=data_dir, block=full_block(), device_setting="cpu", threads=1,
                                       output_path=tmp_path / "out.json")
    assert not (tmp_path / "out.json").exists()


def test_blocks_that_differ_in_training_only_are_one_network():
    """Model.network names what measure_inference measures: an lr or freezing variant
    shares its block's network (one measurement); an image size or a head does not."""
    from cnncompare.plan.plan import make_plan

    base = {"arch": "vgg16", "pretrained": False, "keep_blocks": 3, "head": {"hidden": [512], "norm": True}}
    plan = make_plan({"models": {"a": base, "b": {**base, "lr": 0.1, "freeze": "base", "epochs": 3},
                                 "c": {**base, "image_size": 64}, "d": {**base, "head": {"hidden": [256]}}},
                      "compare": {"datasets": ["digits"], "models": ["a", "b", "c", "d"]}})
    networks = {name: plan.models[name].network for name in "abcd"}
    assert networks["a"] == networks["b"] and len(set(networks.values())) == 3
    assert networks["a"].startswith("vgg16-")
    assert plan.networks[networks["a"]] == "a"  # the block measure_inference builds: first by name


def test_the_network_keys_are_every_setting_the_model_is_built_from():
    """models.py builds the network from block[...] keys; each is in NETWORK_KEYS unless it
    only sets what trains (freeze, lr_base: requires_grad; lr: the optimizer's groups)."""
    import re
    from pathlib import Path

    from cnncompare.plan.plan import NETWORK_KEYS

    source = (Path(inference_cost.__file__).parent / "models.py").read_text()
    read = set(re.findall(r'block\[\s*"(\w+)"\s*\]', source)) | set(re.findall(r'block\.get\(\s*"(\w+)"', source))
    training_only = {"freeze", "lr_base", "lr"}
    assert read - training_only <= set(NETWORK_KEYS), read - training_only - set(NETWORK_KEYS)
    assert "eval_batch_size" in NETWORK_KEYS  # the batch of the throughput figure
