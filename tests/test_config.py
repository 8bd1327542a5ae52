"""Unit tests of cnncompare.plan.config: defaults, error messages, key-sorted params."""

from __future__ import annotations

import copy
import os
import subprocess
import sys

import pytest
import yaml

from cnncompare.plan.config import SCHEMA_PATH, ConfigError, key_sorted, resolve_config

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
    assert resolved["datasets"]["digits"] == {"format": "digits", "test_fraction": 0.2, "seed": 0}
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
    code = "import sys, cnncompare.plan.config; print('torch' in sys.modules)"
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
    ("unknown-dataset", set_in("compare", "datasets", ["digits", "cifar1000"]),
     ["compare.datasets[1]", "unknown dataset 'cifar1000'", "did you mean 'cifar100'"]),
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
    ("unknown-dataset-block", set_dataset("mnsit", "url", "https://x"),
     ["datasets.mnsit", "did you mean 'mnist'", "needs format", "imagefolder"]),
    ("unknown-dataset-format", set_dataset("photos", "format", "imgfolder"),
     ["datasets.photos.format", "'imgfolder' is not one of", "imagefolder"]),
    ("format-of-a-named-block", set_dataset("mnist", "format", "svhn"),
     ["datasets.mnist.format", "must be 'mnist'", "a block of another name can take format 'svhn'"]),
    ("key-of-another-format", set_dataset("svhn", "image_size", 64), ["datasets.svhn.image_size", "unknown key"]),
    ("mnist-md5-as-text", set_dataset("mnist", "md5", "f68b3c2dcbeaaa9fbdd348bbdeb94873"),
     ["datasets.mnist.md5", "expected object"]),
    ("mnist-md5-unknown-file", set_dataset("mnist", "md5", {"train-images.gz": "0" * 32}),
     ["datasets.mnist.md5.train-images.gz", "unknown key", "train-images-idx3-ubyte.gz"]),
    ("mnist-padded-smaller", set_dataset("mnist", "image_size", 24),
     ["datasets.mnist.image_size", "24 is smaller than the 28 px", "fit: resize"]),
    ("mnist-unknown-fit", set_dataset("fashion_mnist", "fit", "crop"),
     ["datasets.fashion_mnist.fit", "'crop' is not one of", "pad, resize"]),
    ("cifar100-labels", set_dataset("cifar100", "labels", "superclass"),
     ["datasets.cifar100.labels", "fine, coarse"]),
    ("dataset-name-with-capitals", set_dataset("My-Photos", "format", "imagefolder"),
     ["datasets", "'My-Photos'", "lower-case"]),
    ("imagefolder-without-block", set_in("compare", "datasets", ["imagefolder"]),
     ["compare.datasets[0]", "needs a block datasets.imagefolder", "path"]),
    ("imagefolder-without-path", set_dataset("imagefolder", "image_size", 64),
     ["datasets.imagefolder.path", "missing", "train_path and test_path"]),
    ("imagefolder-train-without-test", set_dataset("imagefolder", "train_path", "x"),
     ["datasets.imagefolder.test_path", "missing"]),
    ("imagefolder-path-and-train-path", lambda c: c.setdefault("datasets", {}).update(
        imagefolder={"path": "a", "train_path": "b", "test_path": "c"}),
     ["datasets.imagefolder", "either path or train_path and test_path"]),
    ("imagefolder-fit-pad", set_dataset("imagefolder", "fit", "pad"),
     ["datasets.imagefolder.fit", "'pad' is not one of", "crop, stretch"]),
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


# --- data set blocks -----------------------------------------------------------------------------


def test_every_downloaded_data_set_defaults_to_its_official_files():
    datasets = resolve_config(minimal())["datasets"]
    assert datasets["cifar100"] == {
        "format": "cifar100", "url": "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz",
        "md5": "eb9058c3a382ffc7106e4002c42a8d85", "labels": "fine",
    }
    assert datasets["mnist"]["md5"]["t10k-labels-idx1-ubyte.gz"] == "ec29112dd5afa0611ce80d1b7f02629c"
    assert (datasets["mnist"]["image_size"], datasets["mnist"]["fit"]) == (32, "pad")
    assert datasets["fashion_mnist"]["md5"]["train-images-idx3-ubyte.gz"] == "8d4fb7e6c68d591d4c3dfef9ec88bf0d"
    assert datasets["svhn"]["url"] == "http://ufldl.stanford.edu/housenumbers/"
    assert datasets["svhn"]["md5"] == {
        "train_32x32.mat": "e26dedcc434d2e4c54c9b2d4a06d8373", "test_32x32.mat": "eb5a983be6a315427106f1b164d9cef3",
    }
    assert "imagefolder" not in datasets  # it has no default folder


def test_a_block_of_another_name_takes_its_formats_keys_and_defaults():
    config = minimal(datasets={
        "mnist_64": {"format": "mnist", "image_size": 64, "fit": "resize"},
        "photos": {"format": "imagefolder", "path": "anywhere"},
    })
    datasets = resolve_config(config)["datasets"]
    assert datasets["mnist_64"]["md5"] == datasets["mnist"]["md5"]  # the official files
    assert (datasets["mnist_64"]["image_size"], datasets["mnist"]["image_size"]) == (64, 32)
    assert datasets["photos"] == {
        "format": "imagefolder", "path": "anywhere", "train_path": None, "test_path": None,
        "image_size": 32, "fit": "crop", "test_fraction": 0.2, "seed": 0,
    }


def test_a_partly_given_md5_mapping_keeps_the_other_files_defaults():
    config = minimal(datasets={"mnist": {"url": "file:///mirror/", "md5": {"train-images-idx3-ubyte.gz": "a" * 32}}})
    md5 = resolve_config(config)["datasets"]["mnist"]["md5"]
    assert md5["train-images-idx3-ubyte.gz"] == "a" * 32
    assert md5["t10k-images-idx3-ubyte.gz"] == "9fb629c4189551a2d022fa330f9573f3"


def test_image_folders_must_exist_for_compared_data_sets_only(tmp_path):
    (tmp_path / "train").mkdir()
    config = minimal(datasets={
        "photos": {"format": "imagefolder", "train_path": str(tmp_path / "train"), "test_path": str(tmp_path / "gone")},
        "elsewhere": {"format": "imagefolder", "path": "/on/another/machine"},
    })
    config["compare"]["datasets"] = ["photos"]
    message = config_error(lambda c: c.update(copy.deepcopy(config)))
    assert f"datasets.photos.test_path: folder {tmp_path / 'gone'} does not exist" in message
    assert "train_path" not in message and "elsewhere" not in message
    (tmp_path / "gone").mkdir()
    resolve_config(config)
