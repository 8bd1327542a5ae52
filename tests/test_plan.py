"""cnncompare.plan.plan: the config resolved once into a frozen Plan: runs that
answer their own paths, models that know their block, swept and written keys."""

from __future__ import annotations

import copy
import dataclasses

import pytest
import yaml

from cnncompare.plan.plan import REPORT_ONLY_KEYS, Model, PlanError, Run, make_plan
from cnncompare.plan.report_files import run_figure
from conftest import REPO

STUDY = yaml.safe_load((REPO / "config.yaml").read_text())


def study(**compare) -> dict:
    config = copy.deepcopy(STUDY)
    config["results_dir"] = "out/"  # a trailing / is dropped from every path
    config["compare"].update(compare)
    return config


def swept(**sweep) -> dict:
    config = study(models=["custom_cnn"], seeds=[0], splits=["three"])
    config["models"]["custom_cnn"]["sweep"] = sweep
    return config


# --- runs -------------------------------------------------------------------------------------


def test_the_runs_are_the_grid_in_the_order_of_its_lists():
    plan = make_plan(study(splits=["three", "two"], models=["vgg16", "custom_cnn"], seeds=[1, 0]))
    assert [(r.split, r.model, r.seed) for r in plan.runs] == [
        ("three", "vgg16", 1), ("three", "vgg16", 0), ("three", "custom_cnn", 1), ("three", "custom_cnn", 0),
        ("two", "vgg16", 1), ("two", "vgg16", 0), ("two", "custom_cnn", 1), ("two", "custom_cnn", 0),
    ]
    assert len({r.dataset for r in plan.runs}) == 1
    assert plan.runs[0].wildcards == {"dataset": plan.runs[0].dataset, "split": "three", "model": "vgg16", "seed": 1}


def test_a_run_answers_each_of_its_paths():
    run = Run(dataset="digits", split="three", model="custom_cnn", seed=0, results_dir="out")
    assert run.label == "digits/three/custom_cnn/seed0"
    assert run.folder == "out/runs/digits/three/custom_cnn/seed0"
    assert run.file("metrics.json") == "out/runs/digits/three/custom_cnn/seed0/metrics.json"
    assert run.checkpoint == "out/checkpoints/digits/three/custom_cnn/seed0.pt"
    assert run.tensorboard == "out/tensorboard/digits/three/custom_cnn/seed0"
    assert run.figure("curves") == "out/figures/curves/custom_cnn/digits/three/seed0_curves.svg"
    assert run.figure("confusion") == run_figure("out/figures", run.wildcards, "confusion")


def test_the_pattern_run_gives_the_rules_patterns_and_a_jobs_wildcards_its_run():
    plan = make_plan(study())
    pattern = plan.run_pattern
    assert pattern.file("model.pt") == "out/runs/{dataset}/{split}/{model}/seed{seed}/model.pt"
    assert pattern.checkpoint == "out/checkpoints/{dataset}/{split}/{model}/seed{seed}.pt"
    wildcards = {"dataset": "digits", "split": "two", "model": "vgg16", "seed": "3"}
    run = plan.run(wildcards)
    assert run.file("model.pt") == pattern.file("model.pt").format(**wildcards)
    assert run.tensorboard == pattern.tensorboard.format(**wildcards)


def test_the_plan_is_frozen():
    plan = make_plan(study())
    with pytest.raises(dataclasses.FrozenInstanceError):
        plan.runs = ()
    with pytest.raises(dataclasses.FrozenInstanceError):
        plan.runs[0].seed = 5


# --- models -----------------------------------------------------------------------------------


def test_a_model_of_its_own_has_no_parent_and_its_written_keys():
    plan = make_plan(study())
    model = plan.models["custom_cnn"]
    assert isinstance(model, Model) and model.parent is None and model.swept == {}
    assert model.written == frozenset(STUDY["models"]["custom_cnn"])
    assert "image_size" in model.block  # resolved: defaults filled
    assert list(model.params) == sorted(model.params) and not set(REPORT_ONLY_KEYS) & set(model.params)
    # Its texts: description and reference (a sweep's select rule is told in its variants' sweep text).
    assert set(model.texts) == set(REPORT_ONLY_KEYS) - {"select"}
    assert plan.models["vgg16"].weights == plan.weights["vgg16"]
    assert plan.models["custom_cnn"].weights is None


def test_a_sweep_variant_knows_its_block_and_swept_keys():
    plan = make_plan(swept(lr=[0.01, 0.05], **{"head.dropout": [0.0]}))
    name = "custom_cnn.head.dropout-0.0.lr-0.01"
    model = plan.models[name]
    assert model.parent == "custom_cnn"
    assert model.swept == {"head.dropout": 0.0, "lr": 0.01}
    assert model.block["lr"] == 0.01 and model.block["head"]["dropout"] == 0.0
    # Its block's keys, and the top key of each swept path.
    assert model.written == frozenset({*STUDY["models"]["custom_cnn"], "sweep", "head", "lr"})
    assert model.texts["sweep"] == {"block": "custom_cnn", "keys": ["head.dropout", "lr"],
                                   "settings": {"head.dropout": 0.0, "lr": 0.01}}
    assert plan.compared == ["custom_cnn.head.dropout-0.0.lr-0.01", "custom_cnn.head.dropout-0.0.lr-0.05"]
    assert sorted(plan.model_texts()) == sorted(plan.compared)
    assert plan.run_count.startswith("2 runs: custom_cnn 2 (2 variants)")


def test_a_variants_warning_names_its_block_once():
    config = swept(lr=[0.01, 0.05])
    config["models"]["custom_cnn"].update(optimizer="adam", momentum=0.9, nesterov=True)
    plan = make_plan(config)
    assert plan.warnings == tuple(
        f"models.custom_cnn.{key} has no effect: adam has no {key} (sgd only)" for key in ("momentum", "nesterov"))


def test_a_size_left_out_is_settled_and_a_written_one_is_checked():
    config = study(models=["m"])
    config["models"]["m"] = {"arch": "vit_b_16"}
    assert make_plan(config).models["m"].block["image_size"] == 224
    config["models"]["m"]["image_size"] = 32
    with pytest.raises(PlanError, match=r"models\.m\.image_size: 32 is too small for vit_b_16"):
        make_plan(config)


def test_a_swept_size_is_written_so_a_size_the_arch_cannot_take_is_refused():
    config = study(models=["m"], seeds=[0], splits=["three"])
    config["models"]["m"] = {"arch": "vit_b_16", "sweep": {"image_size": [32]}}
    with pytest.raises(PlanError, match=r"models\.m\.image_size-32\.image_size: 32 is too small"):
        make_plan(config)


# --- data, limits, errors ------------------------------------------------------------------------


def test_data_sets_folders_and_limits():
    plan = make_plan(study(max_runs=50))
    assert plan.results_dir == "out" and plan.results_path("summary.csv") == "out/summary.csv"
    assert plan.figures_dir == "out/figures"
    dataset = plan.runs[0].dataset
    assert plan.datasets[dataset] is plan.config["datasets"][dataset]
    assert plan.prepared_data(dataset, "two") == {
        "train": plan.data_path(f"{dataset}/train.npz"), "test": plan.data_path(f"{dataset}/test.npz"),
        "classes": plan.data_path(f"{dataset}/classes.json"), "prepared": plan.data_path(f"{dataset}/prepared.json"),
        "split": plan.data_path(f"{dataset}/splits/two.npz"),
    }
    # A run's jobs depend on the record (written last) and their split, not on each prepared file.
    assert plan.run_data(dataset, "two") == {
        "prepared": plan.data_path(f"{dataset}/prepared.json"), "split": plan.data_path(f"{dataset}/splits/two.npz"),
    }
    assert plan.max_runs == 50 and plan.runs_per_gpu == plan.config["performance"]["runs_per_gpu"]
    assert plan.max_planned_hours == plan.config["max_planned_hours"]
    assert plan.run_count.startswith(f"{len(plan.runs)} runs: ")


def test_a_bad_config_raises_the_same_plan_error():
    config = study(models=["custom_cnn", "nope"])
    config["models"]["custom_cnn"]["epochs"] = "many"
    with pytest.raises(PlanError) as err:
        make_plan(config)
    assert str(err.value) == (
        "invalid configuration:\n"
        "  - models.custom_cnn.epochs: expected integer, got str 'many'\n"
        "  - compare.models[1]: unknown model (no block under models) 'nope'; known: custom_cnn, resnet50, "
        "vgg16, vgg16_finetune"
    )
