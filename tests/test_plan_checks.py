"""cnncompare.plan.plan_checks: every check before the first job, each problem named by
its key, all at once; warnings for settings that do nothing; image sizes settled."""

from __future__ import annotations

import builtins
import copy
import io
from pathlib import Path

import pytest
import yaml

from cnncompare.plan.plan import PlanError, make_plan
from conftest import REPO

STUDY = yaml.safe_load((REPO / "config.yaml").read_text())


def plan_of(change=None, **kwargs):
    # Sections the study leaves to the schema's defaults, empty, so that a change can write into them.
    config = {"splits": {}, "datasets": {"cifar10": {}}, **copy.deepcopy(STUDY)}
    if change:
        change(config)
    return make_plan(config, **kwargs)


def problems_of(change, **kwargs) -> str:
    with pytest.raises(PlanError) as err:
        plan_of(change, **kwargs)
    return str(err.value)


def model(name, **block):
    def change(config):
        config["models"][name] = block
        config["compare"]["models"] = [name]
    return change


def test_the_study_plans_without_a_problem_or_a_warning():
    plan = plan_of()
    assert plan.warnings == ()
    assert {m: w.label for m, w in plan.weights.items()} == {
        "vgg16": "VGG16_Weights.IMAGENET1K_V1", "vgg16_finetune": "VGG16_Weights.IMAGENET1K_V1",
        "resnet50": "ResNet50_Weights.IMAGENET1K_V1",
    }
    assert plan.weights["vgg16"].file == "vgg16-397923af.pth" and plan.weights["vgg16"].sha256_prefix == "397923af"


def test_the_demo_plans_at_16_px():
    demo = yaml.safe_load((REPO / ".test" / "demo.yaml").read_text())
    config = copy.deepcopy(STUDY)
    for name, block in demo["models"].items():
        config["models"][name].update(block)
    plan = make_plan({**config, "compare": demo["compare"]})
    assert plan.config["models"]["vgg16"]["image_size"] == 16 and plan.config["models"]["resnet50"]["image_size"] == 16


@pytest.mark.parametrize("block, phrases", [
    ({"arch": "vgg11", "image_size": 16},
     ["models.m.image_size: 16 is too small for vgg11", "5 feature blocks", "set image_size: 32"]),
    ({"arch": "vit_b_16", "image_size": 32},
     ["models.m.image_size: 32 is too small for vit_b_16", "exactly 224 px", "set image_size: 224"]),
    ({"arch": "vit_b_16", "image_size": 384}, ["models.m.image_size: 384 is too large", "set image_size: 224"]),
    ({"arch": "maxvit_t", "image_size": 64}, ["models.m.image_size", "221 to 224 px", "set image_size: 224"]),
    ({"arch": "inception_v3", "image_size": 64}, ["models.m.image_size", "at least 75 px", "set image_size: 75"]),
    ({"arch": "swin_t", "pretrained": True, "image_size": 32},
     ["models.m.image_size", "Swin_T_Weights.IMAGENET1K_V1 declare a minimum of 224 px", "set image_size: 224"]),
    ({"arch": "vit_b_16", "pretrained": True, "weights": "IMAGENET1K_SWAG_E2E_V1", "image_size": 224},
     ["models.m.weights", "made for 384 px", "IMAGENET1K_SWAG_LINEAR_V1, IMAGENET1K_V1"]),
    ({"arch": "resnet18", "keep_blocks": 9}, ["models.m", "keep_blocks: 9 asked, but resnet18 has 5 feature blocks"]),
    ({"arch": "vgg16", "pretrained": True, "weights": "IMAGENET9K"}, ["models.m.weights", "no weights 'IMAGENET9K'"]),
])
def test_what_an_arch_cannot_take_is_refused_with_what_to_use(block, phrases):
    message = problems_of(model("m", **block))
    for phrase in phrases:
        assert phrase in message, (phrase, message)


@pytest.mark.parametrize("block, size", [
    ({"arch": "vit_b_16"}, 224), ({"arch": "maxvit_t"}, 224), ({"arch": "inception_v3"}, 75),
    ({"arch": "alexnet"}, 63), ({"arch": "swin_t", "pretrained": True}, 224), ({"arch": "swin_t"}, 32),
    ({"arch": "vgg16", "keep_blocks": 3}, 32), ({"arch": "efficientnet_v2_s", "pretrained": True}, 33),
    ({"arch": "alexnet", "keep_blocks": 3}, 32),
])
def test_a_block_holding_only_arch_gets_a_size_the_arch_takes(block, size):
    """The schema's default (32) where the arch takes it, else the arch's own smallest size."""
    assert plan_of(model("m", **block)).config["models"]["m"]["image_size"] == size


def test_the_smaller_pretrained_minimum_does_not_bind_a_cut_network():
    # torchvision's 32 px for VGG16's weights is for all 5 blocks; the 3 the study keeps take 8.
    plan = plan_of(model("m", arch="vgg16", pretrained=True, keep_blocks=3, image_size=8))
    assert plan.config["models"]["m"]["image_size"] == 8


@pytest.mark.parametrize("block, warned, silent", [
    ({"arch": "resnet18", "weights": "IMAGENET1K_V1"}, ["models.m.weights has no effect: pretrained is false"], []),
    ({"arch": "resnet18", "optimizer": "adam", "momentum": 0.5, "nesterov": False},
     ["models.m.momentum has no effect: adam has no momentum", "models.m.nesterov has no effect"], []),
    ({"arch": "custom_cnn", "optimizer": "adamw"}, [], ["momentum", "nesterov"]),  # defaults: not told
    ({"arch": "resnet18", "dropout": 0.5}, ["models.m.dropout has no effect: torchvision archs use head.dropout"], []),
])
def test_settings_that_do_nothing_are_warned_only_when_written(block, warned, silent):
    warnings = "\n".join(plan_of(model("m", **block)).warnings)
    for text in warned:
        assert text in warnings, (text, warnings)
    for key in silent:
        assert f"models.m.{key}" not in warnings


@pytest.mark.parametrize("change, phrases", [
    (lambda c: c["compare"].update(seeds=[2**32]), ["compare.seeds[0]", "4294967296 must be <= 4294967295"]),
    (lambda c: c["compare"].update(seeds=[-1]), ["compare.seeds[0]", "-1 must be >= 0"]),
    (lambda c: c["splits"].update(seed=2**40), ["splits.seed", "must be <= 4294967295"]),
    (lambda c: c["models"]["custom_cnn"].update(lr=float("nan")), ["models.custom_cnn.lr: nan is not a finite number"]),
    (lambda c: c["models"]["vgg16"]["head"].update(dropout=float("inf")),
     ["models.vgg16.head.dropout: inf is not a finite number"]),
    (lambda c: c["splits"].update(val_fraction=float("nan")), ["splits.val_fraction: nan is not a finite number"]),
    (lambda c: c["models"]["custom_cnn"].update(epochs=1_000_000_000),
     ["max_planned_hours", "models.custom_cnn (epochs: 1000000000", "raise max_planned_hours"]),
    (lambda c: c.update(results_dir="results/{name}"), ["results_dir", "'results/{name}'", "wildcard"]),
    (lambda c: c.update(data_dir="data<x>"), ["data_dir", "path variable"]),
    (lambda c: c["datasets"]["cifar10"].update(url="file://mirror/cifar-10-python.tar.gz"),
     ["datasets.cifar10.url", "relative file:// URL", "must be absolute", "file:///"]),
    (lambda c: (c["datasets"].update(downloads={"format": "digits"}), c["compare"].update(datasets=["downloads"])),
     ["datasets.downloads", "{data_dir}/downloads/"]),
    (lambda c: (c.update(results_dir="same", data_dir="same"), c["datasets"].update(runs={"format": "digits"})),
     ["datasets.runs", "{results_dir}/runs/ (data_dir is results_dir)"]),
])
def test_mistakes_caught_before_the_first_job(change, phrases):
    message = problems_of(change)
    for phrase in phrases:
        assert phrase in message, (phrase, message)


def test_a_grid_above_the_bound_plans_when_the_bound_is_raised():
    def huge(config):
        config["models"]["custom_cnn"]["epochs"] = 2_000_000
    assert "max_planned_hours" in problems_of(huge)
    # compare.max_epochs (4,000,000 planned epochs here) is a bound of its own: raised too.
    plan_of(lambda c: (huge(c), c.update(max_planned_hours=1e12), c["compare"].update(max_epochs=10**7)))


def test_every_problem_at_once_and_schema_problems_beside_plan_problems():
    def many(config):
        config["device"] = "tpu"
        config["models"]["m"] = {"arch": "vit_b_16", "image_size": 32}
        config["compare"]["models"] = ["m", "custom_cnn"]
        config["results_dir"] = "r{x}"
    message = problems_of(many)
    for phrase in ("device", "models.m.image_size", "results_dir"):
        assert phrase in message


def test_home_is_expanded_never_a_folder_named_tilde():
    plan = plan_of(lambda c: c.update(results_dir="~/cnncompare-results", data_dir="~"))
    assert plan.config["results_dir"] == str(Path.home() / "cnncompare-results")
    assert plan.config["data_dir"] == str(Path.home())


def test_values_from_the_command_line_are_told_to_come_from_a_file():
    def given(config):
        config["models"]["custom_cnn"]["lr"] = "0.05"
    message = problems_of(given, command_line={"models": {"custom_cnn": {"lr": "0.05"}}})
    assert "models.custom_cnn.lr: '0.05' is text, not a number" in message and "--configfile" in message
    # The same text in a file is told as before, without --config.
    assert "--config" not in problems_of(given)


def test_a_missing_config_yaml_is_said_plainly(tmp_path):
    overlay = yaml.safe_load((REPO / ".test" / "demo.yaml").read_text())
    with pytest.raises(PlanError) as err:
        make_plan(overlay, config_files=[REPO / ".test" / "demo.yaml"], workflow_dir=REPO, workdir=tmp_path)
    message = str(err.value)
    assert message.startswith(f"no config.yaml in {tmp_path}")
    assert f"--configfile {REPO / 'config.yaml'} {REPO / '.test' / 'demo.yaml'}" in message
    # Given with the workflow's config.yaml, or run where config.yaml is, nothing is said about it.
    with pytest.raises(PlanError) as err:
        make_plan(overlay, config_files=[REPO / "config.yaml"], workflow_dir=REPO, workdir=tmp_path)
    assert "no config.yaml" not in str(err.value)


# --- image folders -------------------------------------------------------------------------------


def image_folder(root: Path, classes: dict) -> Path:
    for name, n in classes.items():
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            (root / name / f"{i}.png").write_bytes(b"")
    return root


def with_folder(**block):
    def change(config):
        config["datasets"]["photos"] = {"format": "imagefolder", **block}
        config["compare"]["datasets"] = ["photos"]
    return change


@pytest.mark.parametrize("classes, block, phrases", [
    ({"cat": 5}, {}, ["datasets.photos.path", "images of 1 class (cat)", "at least 2"]),
    ({"cat": 5, "dog": 0}, {}, ["datasets.photos.path"]),  # a class folder without images
    ({"cat": 5, "dog": 1}, {}, ["datasets.photos.test_fraction", "leaves no test image for 1 class: dog"]),
    ({"cat": 1, "dog": 1}, {}, ["leaves no test image for 2 classes: cat, dog"]),
    ({"cat{1}": 3, "dog": 3}, {}, ["datasets.photos.path", "class folder 'cat{1}'", "wildcard"]),
    ({"<unk>": 3, "dog": 3}, {}, ["class folder '<unk>'", "path variable"]),
])
def test_image_folders_that_cannot_make_a_comparison_are_refused(tmp_path, classes, block, phrases):
    root = image_folder(tmp_path / "photos", classes)
    message = problems_of(with_folder(path=str(root), **block))
    for phrase in phrases:
        assert phrase in message, (phrase, message)


def test_a_test_folder_without_a_class_of_the_train_folder_is_refused(tmp_path):
    train = image_folder(tmp_path / "train", {"cat": 3, "dog": 3})
    test = image_folder(tmp_path / "test", {"cat": 2})
    message = problems_of(with_folder(train_path=str(train), test_path=str(test)))
    assert "datasets.photos.test_path" in message and "no test image of 1 class: dog" in message


def test_a_large_image_folder_is_checked_from_file_names_alone(tmp_path, monkeypatch):
    # Every plan (a no-op re-run too) checks the folders: it must list them, never open
    # the 20,000 images. Asserted by what is opened, not by a timing that a busy machine breaks.
    root = image_folder(tmp_path / "photos", {f"class{i}": 2_000 for i in range(10)})
    opened = []
    real_open = builtins.open

    def recording_open(file, *args, **kwargs):
        if str(file).startswith(str(root)):
            opened.append(file)
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", recording_open)
    monkeypatch.setattr(io, "open", recording_open)
    plan = plan_of(with_folder(path=str(root)))
    assert plan.config["datasets"]["photos"]["path"] == str(root)
    assert opened == []


def test_a_batch_above_the_training_set_is_warned_and_summary_records_the_size_used():
    def on_digits(config):
        model("m", arch="custom_cnn", batch_size=2000, epochs=1)(config)
        config["datasets"]["digits"] = {"format": "digits"}
        config["compare"]["datasets"] = ["digits"]

    plan = plan_of(on_digits)
    warnings = "\n".join(plan.warnings)
    assert "models.m.batch_size: 2000 is above the training set of datasets.digits (fewer than its 1,797" \
           in warnings, warnings
    assert "batch_size" not in "\n".join(plan_of(model("m", arch="custom_cnn", batch_size=64)).warnings)
    # The batch training used (train.training.batching caps it at the training set), in summary.csv.
    from cnncompare.report.aggregate import summary_row

    row = summary_row({"config": {"batch_size": 2000}, "train_size": 1347})
    assert row["batch_size"] == 1347
    assert summary_row({"config": {"batch_size": 64}, "train_size": 1347})["batch_size"] == 64
