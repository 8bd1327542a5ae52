"""Transfer learning: torchvision models adapted by a model block, pretrained
weights read from the local cache only, freezing, learning rates per part."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch
import yaml

from cnncompare.train.arch_table import weights_info
from cnncompare.plan.archs import weights_file_path
from cnncompare.plan.config import resolve_config
from cnncompare.train.models import build_model, count_parameters, feature_blocks
from cnncompare.train.training import make_optimizer, train_run
from weights_format import write_random_weights

REPO = Path(__file__).resolve().parents[1]


def block(**settings) -> dict:
    config = resolve_config({"models": {"m": settings}, "compare": {"models": ["m"]}})
    return config["models"]["m"]


def test_cache_path_is_torchvisions_own_layout():
    file, url, label = weights_info("resnet18", "IMAGENET1K_V1")
    assert url.endswith("/" + file) and file.startswith("resnet18-") and file.endswith(".pth")
    assert label == "ResNet18_Weights.IMAGENET1K_V1"
    assert weights_file_path("cache", file) == os.path.join("cache", "hub", "checkpoints", file)
    assert weights_info("resnet50", "DEFAULT")[2] == "ResNet50_Weights.IMAGENET1K_V2"
    with pytest.raises(ValueError, match="IMAGENET1K_V1"):
        weights_info("vgg16", "IMAGENET9K")


def test_pretrained_loads_exactly_the_cached_values(tmp_path):
    path, state = write_random_weights("resnet18", tmp_path)
    settings = block(arch="resnet18", pretrained=True, head={"hidden": [16]})
    net = build_model(settings, 10, weights_path=path)[1]
    ours = net.base
    stem_conv, stem_bn = ours[0][0], ours[0][1]
    assert torch.equal(stem_conv.weight, state["conv1.weight"])
    assert torch.equal(stem_bn.running_mean, state["bn1.running_mean"])
    for i in range(1, 5):
        prefix = f"layer{i}."
        expected = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
        got = ours[i].state_dict()
        assert set(got) == set(expected)
        assert all(torch.equal(got[k], expected[k]) for k in expected), f"layer{i} differs"


def test_pretrained_models_normalise_with_imagenet_statistics(tmp_path):
    path, _ = write_random_weights("resnet18", tmp_path)
    model = build_model(block(arch="resnet18", pretrained=True), 10, mean=(0.1,) * 3, std=(0.2,) * 3, weights_path=path)
    assert torch.allclose(model[0].mean.flatten(), torch.tensor([0.485, 0.456, 0.406]))
    random_start = build_model(block(arch="resnet18"), 10, mean=(0.1,) * 3, std=(0.2,) * 3)
    assert torch.allclose(random_start[0].mean.flatten(), torch.tensor([0.1] * 3))


def test_missing_weights_fail_before_any_data_is_read(tmp_path):
    missing = tmp_path / "weights/hub/checkpoints" / weights_info("resnet18", "DEFAULT")[0]
    outputs = {name: tmp_path / name for name in ("model.pt", "history.csv", "train.json")}
    with pytest.raises(FileNotFoundError) as err:
        train_run(
            data_dir=tmp_path / "no-data-here", split_path=tmp_path / "no-split.npz",
            block=block(arch="resnet18", pretrained=True), run={"dataset": "d", "split": "two", "model": "m", "seed": 0},
            seed=0, device_setting="cpu", threads=1, model_path=outputs["model.pt"],
            history_path=outputs["history.csv"], info_path=outputs["train.json"], weights_path=missing,
        )
    message = str(err.value)
    assert str(missing) in message
    assert f"snakemake --cores 1 {missing}" in message
    assert "never downloads" in message
    assert not any(p.exists() for p in outputs.values())


def one_step(model, settings, images=8, size=32):
    optimizer = make_optimizer(model, settings)
    model.train()
    x = torch.rand(images, 3, size, size)
    y = torch.arange(images) % 10
    loss = torch.nn.functional.cross_entropy(model(x), y)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return optimizer


def test_one_step_leaves_frozen_blocks_bit_identical_and_changes_the_rest():
    torch.manual_seed(0)
    settings = block(arch="resnet18", freeze=2, lr=0.1, lr_base=0.05, optimizer="sgd", head={"hidden": [32], "norm": True})
    model = build_model(settings, 10)
    net = model[1]
    before = {k: v.clone() for k, v in net.state_dict().items()}
    optimizer = one_step(model, settings)
    after = net.state_dict()
    frozen = [k for k in before if k.startswith(("base.0.", "base.1."))]
    trained = [k for k in before if k.startswith(("base.2.", "base.3.", "base.4.", "head.")) and k.endswith("weight")]
    assert frozen and trained
    # Parameters and batch-norm statistics of frozen blocks: unchanged to the bit.
    assert all(torch.equal(before[k], after[k]) for k in frozen)
    assert all(not torch.equal(before[k], after[k]) for k in trained)
    assert {g["name"]: g["lr"] for g in optimizer.param_groups} == {"base": 0.05, "head": 0.1}
    in_optimizer = {id(p) for g in optimizer.param_groups for p in g["params"]}
    assert not any(id(p) in in_optimizer for p in net.base[:2].parameters())


def test_freeze_base_trains_only_the_head():
    settings = block(arch="vgg11", keep_blocks=2, freeze="base", lr=4.0e-4, optimizer="adam")
    model = build_model(settings, 10)
    optimizer = one_step(model, settings)
    trainable = sum(p.numel() for g in optimizer.param_groups for p in g["params"])
    assert trainable == sum(p.numel() for p in model[1].head.parameters())
    assert [g["lr"] for g in optimizer.param_groups] == [4.0e-4]


def test_lr_base_zero_freezes_the_base():
    model = build_model(block(arch="resnet18", lr_base=0.0), 10)
    assert not any(p.requires_grad for p in model[1].base.parameters())


def test_keep_blocks_cuts_vgg16_after_its_third_pooling():
    model = build_model(block(arch="vgg16", keep_blocks=3), 10)
    blocks = model[1].base
    assert len(blocks) == 3
    assert isinstance(blocks[-1][-1], torch.nn.MaxPool2d)
    assert blocks[-1][-3].out_channels == 256


def test_keep_blocks_beyond_the_arch_is_refused():
    with pytest.raises(ValueError, match="keep_blocks: 9 asked, but resnet18 has 5"):
        build_model(block(arch="resnet18", keep_blocks=9), 10)


@pytest.mark.parametrize("arch", ["mobilenet_v3_small", "efficientnet_b0", "densenet121", "convnext_tiny",
                                  "shufflenet_v2_x0_5", "regnet_y_400mf", "squeezenet1_0", "swin_t"])
def test_generic_torchvision_models_give_one_logit_per_class(arch):
    settings = block(arch=arch, head={"hidden": [8]})
    model = build_model(settings, 7).eval()
    with torch.no_grad():
        out = model(torch.rand(2, 3, 32, 32))
    assert out.shape == (2, 7)


def test_models_without_feature_blocks_refuse_keep_blocks():
    from torchvision import models as tvm

    assert feature_blocks(tvm.get_model("swin_t")) is None
    with pytest.raises(ValueError, match="no feature blocks"):
        build_model(block(arch="swin_t", keep_blocks=2), 10)


def test_image_size_resizes_inside_the_model():
    model = build_model(block(arch="custom_cnn", image_size=64), 10).eval()
    seen = {}

    def record(_module, args):
        seen["shape"] = args[0].shape

    model[1].register_forward_pre_hook(record)
    with torch.no_grad():
        model(torch.rand(2, 3, 32, 32))
    assert seen["shape"] == (2, 3, 64, 64)


def test_parameter_counts_of_the_default_config():
    config = resolve_config(yaml.safe_load((REPO / "config.yaml").read_text()))
    counts = {name: count_parameters(build_model(b, 10)) for name, b in config["models"].items()}
    assert abs(counts["custom_cnn"][1] - 300_000) <= 30_000
    assert abs(counts["vgg16"][1] - 134_000) <= 13_400  # the study: about 134k trainable
    assert counts["vgg16"][0] > 10 * counts["vgg16"][1]  # the frozen base dominates
    assert counts["vgg16_finetune"][1] == counts["vgg16_finetune"][0] == counts["vgg16"][0]
    assert counts["resnet50"][1] == counts["resnet50"][0] > 23_000_000


@pytest.mark.parametrize("arch", ["googlenet", "inception_v3"])
def test_googlenet_and_inception_lose_their_auxiliary_heads_and_rescale_only_when_pretrained(arch):
    size = 75 if arch == "inception_v3" else 32
    random_start = build_model(block(arch=arch, image_size=size), 10)
    trainable, total = count_parameters(random_start)[1], count_parameters(random_start)[0]
    assert trainable == total
    backbone = random_start[1].base[0]
    assert backbone.aux_logits is False and backbone.transform_input is False
    assert not any("aux" in name.lower() for name, _ in backbone.named_children())
    out = random_start.train()(torch.rand(2, 3, size, size))
    assert isinstance(out, torch.Tensor) and out.shape == (2, 10)
    # What ImageNet weights expect, decided by the block, so evaluation builds the same net.
    assert build_model(block(arch=arch, pretrained=True, image_size=size), 10)[1].base[0].transform_input is True
