"""Which keys of a model block take effect (cnncompare/plan/settings.py)."""

from cnncompare.plan.config import resolve_config
from cnncompare.plan.settings import effective_settings, unused_settings


def _block(**keys):
    config = resolve_config({"models": {"m": keys}, "compare": {"models": ["m"]}})
    return config["models"]["m"]


def test_adam_ignores_momentum_and_nesterov():
    unused = unused_settings(_block(arch="resnet18", optimizer="adam"))
    assert {"momentum", "nesterov"} <= set(unused)
    assert "adam" in unused["momentum"]


def test_sgd_keeps_momentum():
    assert "momentum" not in unused_settings(_block(arch="resnet18", optimizer="sgd"))


def test_weights_without_pretrained_and_dropout_of_a_torchvision_arch_are_unused():
    unused = unused_settings(_block(arch="vgg16", pretrained=False, weights="IMAGENET1K_V1"))
    assert "weights" in unused and "random" in unused["weights"]
    assert "dropout" in unused
    assert "weights" not in unused_settings(_block(arch="vgg16", pretrained=True))


def test_custom_cnn_reads_no_head_but_its_dropout():
    block = _block(arch="custom_cnn")
    unused = unused_settings(block)
    assert "head" in unused and "dropout" not in unused
    shown = effective_settings(block)
    assert "head" not in shown and shown["dropout"] == block["dropout"]


def test_warmup_is_unused_by_step_and_constant_schedules():
    assert "warmup_epochs" in unused_settings(_block(arch="custom_cnn", schedule="step"))
    assert "warmup_epochs" not in unused_settings(_block(arch="custom_cnn", schedule="cosine"))
