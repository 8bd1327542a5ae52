"""Unit tests of cnncompare.config: defaults, error messages, key-sorted params."""

from __future__ import annotations

import copy
import os
import subprocess
import sys

import pytest
import yaml

from cnncompare.config import SCHEMA_PATH, ConfigError, key_sorted, resolve_config

MINIMAL = {
    "models": {"m": {"arch": "custom_cnn"}},
    "compare": {"models": ["m"], "datasets": ["digits"]},
}


def minimal(**top) -> dict:
    config = copy.deepcopy(MINIMAL)
    config.update(top)
    return config


# --- defaults ----------------------------------------------------------------------------


def test_minimal_config_is_completed_with_the_schema_defaults():
    resolved = resolve_config(minimal())

    model = resolved["models"]["m"]
    assert model["epochs"] == 20
    assert model["batch_size"] == 128
    assert model["schedule"] == "onecycle"
    assert model["augment"] == {"crop_padding": 4, "flip": True}
    assert resolved["results_dir"] == "results"
    assert resolved["device"] == "auto"
    assert resolved["datasets"]["cifar10"]["md5"] == "c58f30108f718f92721af3b95e74349a"
    assert resolved["datasets"]["cifar10"]["url"].startswith("https://")
    assert resolved["datasets"]["digits"] == {"test_fraction": 0.2, "seed": 0}
    assert resolved["splits"] == {"val_fraction": 0.1, "seed": 0}
    assert resolved["compare"]["splits"] == ["two", "three"]
    assert resolved["compare"]["seeds"] == [0]
    assert resolved["resources"]["train_model"]["gpu"] == 1


def test_given_values_win_over_defaults_and_partial_blocks_are_completed():
    config = minimal()
    config["models"]["m"].update({"epochs": 3, "augment": {"flip": False}})
    resolved = resolve_config(config)
    assert resolved["models"]["m"]["epochs"] == 3
    assert resolved["models"]["m"]["augment"] == {"crop_padding": 4, "flip": False}


def test_two_models_get_their_own_default_dicts():
    config = minimal()
    config["models"]["n"] = {"arch": "custom_cnn"}
    resolved = resolve_config(config)

    a, b = resolved["models"]["m"], resolved["models"]["n"]
    assert a["augment"] == b["augment"]
    assert a["augment"] is not b["augment"]
    a["augment"]["crop_padding"] = 0
    assert b["augment"]["crop_padding"] == 4
    # Nor do later resolutions see the change (the schema's default is not shared).
    assert resolve_config(minimal())["models"]["m"]["augment"]["crop_padding"] == 4


def test_resolve_does_not_mutate_its_input():
    config = minimal()
    config["models"]["m"]["augment"] = {"flip": False}
    before = copy.deepcopy(config)
    resolved = resolve_config(config)
    assert config == before
    assert resolved is not config
    assert resolved["models"]["m"]["augment"] is not config["models"]["m"]["augment"]


def test_resolving_twice_changes_nothing():
    once = resolve_config(minimal())
    assert resolve_config(once) == once


def test_the_repository_config_is_valid():
    repo = SCHEMA_PATH.parents[2]
    with open(repo / "config.yaml") as fh:
        resolved = resolve_config(yaml.safe_load(fh))
    assert "custom_cnn" in resolved["models"]


def test_config_module_imports_without_torch():
    # The Snakefile imports it on every invocation, a dry run included.
    code = "import sys, cnncompare.config; print('torch' in sys.modules)"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"


# --- errors ----------------------------------------------------------------------------------


def set_model(key, value):
    def change(config):
        config["models"]["m"][key] = value
    return change


def set_top(key, value):
    def change(config):
        config[key] = value
    return change


def set_in(section, key, value):
    def change(config):
        config.setdefault(section, {})[key] = value
    return change


def set_dataset(name, key, value):
    def change(config):
        config.setdefault("datasets", {}).setdefault(name, {})[key] = value
    return change


ERROR_CASES = [
    # (id, change, phrases the message must contain)
    ("unknown-top-level-key", set_top("reslts_dir", "x"),
     ["reslts_dir", "unknown key", "did you mean 'results_dir'"]),
    ("unknown-model-key", set_model("foo", 1), ["models.m.foo", "unknown key", "allowed keys"]),
    ("misspelt-model-key", set_model("epochz", 3), ["models.m.epochz", "did you mean 'epochs'"]),
    ("epochs-as-text", set_model("epochs", "ten"), ["models.m.epochs", "expected integer", "'ten'"]),
    ("lr-as-yaml-string", set_model("lr", "1e-3"), ["models.m.lr", "not a number", "1.0e-3"]),
    ("zero-epochs", set_model("epochs", 0), ["models.m.epochs", "must be >= 1"]),
    ("negative-batch-size", set_model("batch_size", -32), ["models.m.batch_size", "-32", "must be >= 1"]),
    ("zero-lr", set_model("lr", 0), ["models.m.lr", "must be > 0"]),
    ("unknown-arch", set_model("arch", "custm_cnn"),
     ["models.m.arch", "unknown arch 'custm_cnn'", "close names: custom_cnn", "torchvision"]),
    ("misspelt-torchvision-arch", set_model("arch", "resnet5"),
     ["models.m.arch", "unknown arch 'resnet5'", "resnet50", "resnet34"]),
    ("pretrained-custom-cnn", set_model("pretrained", True),
     ["models.m.pretrained", "custom_cnn has no pretrained weights"]),
    ("keep-blocks-on-custom-cnn", set_model("keep_blocks", 2), ["models.m.keep_blocks", "torchvision archs only"]),
    ("freeze-unknown-word", set_model("freeze", "all"), ["models.m.freeze"]),
    ("image-size-too-small", set_model("image_size", 4), ["models.m.image_size", "must be >= 8"]),
    ("head-dropout-one", set_model("head", {"dropout": 1.0}), ["models.m.head.dropout", "must be < 1"]),
    ("unknown-optimizer", set_model("optimizer", "rmsprop"),
     ["models.m.optimizer", "'rmsprop' is not one of", "adamw"]),
    ("negative-crop-padding", set_model("augment", {"crop_padding": -1}),
     ["models.m.augment.crop_padding", "must be >= 0"]),
    ("unknown-dataset", set_in("compare", "datasets", ["digits", "cifar100"]),
     ["compare.datasets[1]", "unknown dataset 'cifar100'", "did you mean 'cifar10'"]),
    ("split-four", set_in("compare", "splits", ["two", "four"]),
     ["compare.splits[1]", "'four' is not one of", "three"]),
    ("model-without-block", set_in("compare", "models", ["m", "resnet50"]),
     ["compare.models[1]", "resnet50", "no block under models"]),
    ("seeds-as-text", set_in("compare", "seeds", ["0", "1"]),
     ["compare.seeds[0]", "'0'", "not a number"]),
    ("seeds-as-floats", set_in("compare", "seeds", [1.5]), ["compare.seeds[0]", "expected integer"]),
    ("seeds-not-a-list", set_in("compare", "seeds", 3), ["compare.seeds", "expected array"]),
    ("ftp-url", set_dataset("cifar10", "url", "ftp://x"),
     ["datasets.cifar10.url", "'ftp://x'", "https://"]),
    ("short-md5", set_dataset("cifar10", "md5", "c58f30108f"),
     ["datasets.cifar10.md5", "32 hexadecimal digits"]),
    ("non-hex-md5", set_dataset("cifar10", "md5", "z" * 32), ["datasets.cifar10.md5", "32 hexadecimal"]),
    ("val-fraction-above-one", set_in("splits", "val_fraction", 1.5),
     ["splits.val_fraction", "1.5", "must be < 1"]),
    ("unknown-device", set_top("device", "tpu"), ["device", "'tpu' is not one of", "cuda"]),
    ("digits-test-fraction-zero", set_dataset("digits", "test_fraction", 0),
     ["datasets.digits.test_fraction", "must be > 0"]),
    ("unknown-dataset-block", set_dataset("mnist", "url", "https://x"),
     ["datasets.mnist", "unknown key"]),
    ("model-without-arch", set_model("arch", None), ["models.m.arch", "expected string"]),
]


def config_error(change) -> str:
    """The ConfigError message for the minimal config after `change`."""
    config = minimal()
    change(config)
    with pytest.raises(ConfigError) as err:
        resolve_config(config)
    return str(err.value)


@pytest.mark.parametrize(
    "change, phrases", [pytest.param(c, p, id=i) for i, c, p in ERROR_CASES]
)
def test_bad_config_raises_config_error_naming_the_key(change, phrases):
    message = config_error(change)
    for phrase in phrases:
        assert phrase in message, f"{phrase!r} not in:\n{message}"


def test_missing_arch_is_reported():
    config = minimal()
    del config["models"]["m"]["arch"]
    with pytest.raises(ConfigError, match="models.m.*arch"):
        resolve_config(config)


def test_every_problem_is_reported_at_once():
    config = minimal(device="tpu")
    config["models"]["m"]["epochs"] = 0
    config["models"]["m"]["foo"] = 1
    config["models"]["m"]["arch"] = "custm_cnn"
    with pytest.raises(ConfigError) as err:
        resolve_config(config)
    message = str(err.value)
    assert "device" in message
    assert "models.m.epochs" in message
    assert "models.m.foo" in message
    assert "models.m.arch" in message


@pytest.mark.parametrize(
    "change, key",
    [
        (set_model("epochs", "20"), "models.m.epochs"),
        (set_in("compare", "seeds", ["0"]), "compare.seeds[0]"),
    ],
    ids=["epochs", "seeds"],
)
def test_integer_written_as_text_is_not_told_to_use_a_float_form(change, key):
    # '20' for epochs must become 20, not 2.0e+1: the hint written for lr
    # ("write it with a dot and a signed exponent, e.g. 1.0e-3") leads to a
    # second error on an integer key.
    message = config_error(change)
    assert key in message
    assert "1.0e-3" not in message, message
    assert "integer" in message, message


@pytest.mark.parametrize(
    "change, get",
    [
        (set_model("epochs", 2.0), lambda r: r["models"]["m"]["epochs"]),
        (set_model("batch_size", 64.0), lambda r: r["models"]["m"]["batch_size"]),
        (set_in("compare", "seeds", [0.0]), lambda r: r["compare"]["seeds"][0]),
    ],
    ids=["epochs", "batch_size", "seeds"],
)
def test_integer_key_given_as_float_is_refused_or_made_int(change, get):
    # JSON Schema counts 2.0 as an integer; passed on as a float it breaks
    # range(epochs) in training and names run folders 'seed0.0'.
    config = minimal()
    change(config)
    try:
        resolved = resolve_config(config)
    except ConfigError:
        return
    assert type(get(resolved)) is int, repr(get(resolved))


def test_config_that_is_not_a_mapping_is_refused():
    with pytest.raises(ConfigError, match="mapping"):
        resolve_config(["models"])


def test_config_error_is_a_value_error():
    assert issubclass(ConfigError, ValueError)


# --- key_sorted -------------------------------------------------------------------------------


def test_key_sorted_makes_repr_independent_of_insertion_order():
    a = {"b": 1, "a": {"y": [1, {"q": 1, "p": 2}], "x": 2}, "c": "text"}
    b = {"c": "text", "a": {"x": 2, "y": [1, {"p": 2, "q": 1}]}, "b": 1}
    assert repr(a) != repr(b)  # the test means something
    assert repr(key_sorted(a)) == repr(key_sorted(b))
    assert key_sorted(a) == a  # same content


def test_key_sorted_sorts_every_level():
    value = key_sorted({"z": {"d": 1, "c": {"f": 0, "e": 0}}, "y": [{"b": 0, "a": 0}]})
    assert list(value) == ["y", "z"]
    assert list(value["z"]) == ["c", "d"]
    assert list(value["z"]["c"]) == ["e", "f"]
    assert list(value["y"][0]) == ["a", "b"]


def test_key_sorted_leaves_its_input_and_scalars_alone():
    original = {"b": {"d": 1, "c": 2}, "a": 1}
    before = repr(original)
    key_sorted(original)
    assert repr(original) == before
    assert key_sorted(3) == 3
    assert key_sorted("s") == "s"
    assert key_sorted(None) is None
