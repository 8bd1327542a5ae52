"""Sweeps: a model block's `sweep:` expands into variants (grid or random
search), each checked like any block; the plan's size is guarded; adding a
value trains only the new variants; and the report picks the winner on
validation accuracy, never on the test set."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

import synthetic_runs
from conftest import REPO, planned_jobs, snakemake, tiny_config, write_config
from cnncompare.plan.config import config_problems
from cnncompare.plan.plan import PlanError, make_plan
from cnncompare.report.render import render
from cnncompare.report.report_data import read_run_files
from cnncompare.plan.sweeps import value_text, variant_name


def _config(sweep: dict, **block) -> dict:
    return {
        "device": "cpu",
        "models": {"custom_cnn": {"arch": "custom_cnn", "epochs": 2, **block, "sweep": sweep}},
        "compare": {"datasets": ["digits"], "splits": ["three"], "models": ["custom_cnn"], "seeds": [0]},
    }


def _expand(config: dict) -> tuple[dict, dict]:
    sweeps: dict = {}
    resolved, problems = config_problems(config, sweeps=sweeps)
    assert problems == []
    return resolved, sweeps


# --- expansion ------------------------------------------------------------------------------------------


def test_a_3_by_2_grid_gives_6_variants_with_names_and_settings():
    resolved, sweeps = _expand(_config({"lr": [0.01, 0.02, 0.05], "batch_size": [64, 128]}))
    expected = {
        f"custom_cnn.batch_size-{b}.lr-{lr}": {"batch_size": b, "lr": lr}
        for b in (64, 128) for lr in (0.01, 0.02, 0.05)
    }
    assert sorted(resolved["compare"]["models"]) == sorted(expected)
    assert sweeps["custom_cnn"]["variants"] == expected
    for name, settings in expected.items():
        block = resolved["models"][name]
        assert block["lr"] == settings["lr"] and block["batch_size"] == settings["batch_size"]
        assert block["epochs"] == 2 and "sweep" not in block  # the rest of the block, without the sweep
    assert "custom_cnn" not in resolved["models"]


def test_names_do_not_depend_on_the_order_of_keys_or_values():
    a, _ = _expand(_config({"lr": [0.01, 0.05], "batch_size": [64, 128]}))
    b, _ = _expand(_config({"batch_size": [128, 64], "lr": [0.05, 0.01]}))
    assert sorted(a["compare"]["models"]) == sorted(b["compare"]["models"])
    assert a["models"] == b["models"]


def test_values_are_named_safely_for_wildcards_and_files():
    assert [value_text(v) for v in (0.01, 1.0e-4, 1.0e-5, 3, True, None, [1024, 512], [], "a b/c", 1.0e20)] == [
        "0.01", "0.0001", "1e-05", "3", "true", "null", "1024_512", "none", "a_b_c", "1e20"]
    assert variant_name("m", {"lr": 0.01, "head.hidden": [64]}) == "m.head.hidden-64.lr-0.01"
    for name in (variant_name("m", {"x": v}) for v in (0.5, -1, "x/y{z}", [1, 2])):
        assert re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", name), name


def test_a_dotted_path_reaches_a_nested_key():
    resolved, _ = _expand({
        "device": "cpu",
        "models": {"r": {"arch": "resnet18", "head": {"hidden": [64]},
                         "sweep": {"head.dropout": [0.0, 0.5], "augment.flip": [True, False]}}},
        "compare": {"datasets": ["digits"], "models": ["r"]},
    })
    block = resolved["models"]["r.augment.flip-false.head.dropout-0.5"]
    assert block["head"] == {"hidden": [64], "dropout": 0.5, "pool": "avg", "norm": False}  # siblings kept
    assert block["augment"] == {"flip": False, "crop_padding": 4}
    assert resolved["models"]["r.augment.flip-true.head.dropout-0.0"]["head"]["dropout"] == 0.0


def test_random_search_is_reproducible_and_raising_samples_extends_it():
    def names(samples, seed=7):
        config = _config({"lr": {"log_uniform": [1.0e-4, 1.0e-1]}, "batch_size": {"choice": [32, 64, 128]},
                          "dropout": {"uniform": [0.0, 0.5]}}, sweep_samples=samples, sweep_seed=seed)
        return _expand(config)

    first, sweeps = names(8)
    again, _ = names(8)
    assert first["compare"]["models"] == again["compare"]["models"] and len(first["compare"]["models"]) == 8
    for settings in sweeps["custom_cnn"]["variants"].values():
        assert 1.0e-4 <= settings["lr"] <= 1.0e-1 and settings["batch_size"] in (32, 64, 128)
        assert 0.0 <= settings["dropout"] <= 0.5
    more, _ = names(12)
    assert more["compare"]["models"][:8] == first["compare"]["models"]  # the drawn ones are kept
    assert len(more["compare"]["models"]) == 12
    other, _ = names(8, seed=8)
    assert other["compare"]["models"] != first["compare"]["models"]
    # Spread over the log range, not crowded at its top as a uniform draw would be.
    lrs = [s["lr"] for s in names(40)[1]["custom_cnn"]["variants"].values()]
    assert min(lrs) < 1.0e-3


@pytest.mark.parametrize("sweep, block, expected", [
    ({"lr": [0.01, -0.1]}, {}, ["models.custom_cnn.sweep: variant custom_cnn.lr--0.1: lr: -0.1 must be > 0"]),
    ({"head.dropot": [0.1]}, {}, ["models.custom_cnn.sweep.head.dropot: 'dropot' is not a key of head of a model "
                                  "block; known: dropout, hidden, norm, pool"]),
    ({"epochs": [1, 3]}, {"warmup_epochs": 1},
     ["models.custom_cnn.sweep: variant custom_cnn.epochs-1: warmup_epochs: 1 is not less than epochs (1); the "
      "schedule would never come down from its peak"]),
    ({"lr": {"log_uniform": [1.0e-4, 1.0e-1]}}, {},
     ["models.custom_cnn.sweep.lr: log_uniform draws values at random, which needs sweep_samples (how many "
      "variants to draw) in the block; for a grid give a list of values"]),
    ({"optimizer": ["sgd", "adagrad"]}, {},
     ["models.custom_cnn.sweep: variant custom_cnn.optimizer-adagrad: optimizer: 'adagrad' is not one of: "
      "sgd, adam, adamw"]),
    # A nested swept key: the variant's whole head is checked (config._swept_validator).
    ({"head.dropout": [0.5, 1.5]}, {},
     ["models.custom_cnn.sweep: variant custom_cnn.head.dropout-1.5: head.dropout: 1.5 must be < 1"]),
])
def test_a_bad_value_or_path_names_the_variant_and_the_key(sweep, block, expected):
    with pytest.raises(PlanError) as error:
        make_plan(_config(sweep, **block))
    assert error.value.problems == expected


def test_a_variant_may_not_take_the_name_of_another_block():
    config = _config({"lr": [0.01, 0.02]})
    config["models"]["custom_cnn.lr-0.01"] = {"arch": "custom_cnn"}
    with pytest.raises(PlanError) as error:
        make_plan(config)
    assert error.value.problems == [
        "models.custom_cnn.sweep: variant custom_cnn.lr-0.01 has the name of another model block; rename one"]


def test_a_bad_sweep_fails_before_any_job(tmp_path):
    """Each variant of the grid that takes the bad value is named (tests/test_workflow.py checks
    once that such a message reaches the user through Snakemake, before any job)."""
    config = {**_config({"lr": [0.01, -0.1], "batch_size": [32, 64]}), "results_dir": str(tmp_path / "results"),
              "data_dir": str(tmp_path / "data")}
    with pytest.raises(PlanError) as error:
        make_plan(config)
    output = str(error.value)
    assert "variant custom_cnn.batch_size-32.lr--0.1: lr: -0.1 must be > 0" in output
    assert "variant custom_cnn.batch_size-64.lr--0.1: lr: -0.1 must be > 0" in output
    assert not (tmp_path / "results").exists() and not (tmp_path / "data").exists()


def test_a_grid_over_max_runs_is_refused_with_the_count():
    config = _config({"lr": [0.01, 0.02, 0.05, 0.1], "batch_size": [32, 64, 128], "dropout": [0.0, 0.25, 0.5]})
    config["compare"].update(splits=["two", "three"], seeds=[0, 1, 2], max_runs=200)
    with pytest.raises(PlanError) as error:
        make_plan(config)
    assert error.value.problems == [
        "compare.max_runs: the grid holds 216 runs (1 data sets x 2 splits x 36 models and variants x 3 seeds; "
        "models.custom_cnn sweeps 36 variants), over compare.max_runs (200); make it smaller, or raise "
        "compare.max_runs if you mean it"]
    config["compare"]["max_runs"] = 216
    assert len(make_plan(config).config["compare"]["models"]) == 36
    config["compare"].pop("max_runs")  # the default, 500
    config["models"]["custom_cnn"]["sweep"]["weight_decay"] = [0.0, 1.0e-4, 5.0e-4]
    with pytest.raises(PlanError, match=r"the grid holds 648 runs .* over compare.max_runs \(500\)"):
        make_plan(config)


# --- plans of the real workflow --------------------------------------------------------------------------


def _dry_run(workdir: Path, config: dict, name: str = "config.yaml"):
    proc = snakemake(workdir, write_config(workdir / name, config), "--dry-run")
    return planned_jobs(proc.stdout + proc.stderr), proc


@pytest.mark.workflow
def test_the_plan_of_a_3_by_2_sweep_over_two_seeds(tmp_path):
    config = {**_config({"lr": [0.01, 0.02, 0.05], "batch_size": [64, 128]}), "results_dir": str(tmp_path / "r"),
              "data_dir": str(tmp_path / "data")}
    config["compare"].update(splits=["three", "two"], seeds=[0, 1])
    jobs, proc = _dry_run(tmp_path, config)
    # One network: the variants differ in training only, so its inference cost is measured once.
    assert jobs == {"prepare_dataset": 1, "make_split": 2, "measure_inference": 1, "train_model": 24,
                    "evaluate_model": 24,
                    "aggregate_results": 1, "render_report": 1, "all": 1}
    planned = set(re.findall(r"r/runs/digits/(?:two|three)/([^/]+)/seed[01]/model\.pt", proc.stdout))
    assert planned == {f"custom_cnn.batch_size-{b}.lr-{lr}" for b in (64, 128) for lr in (0.01, 0.02, 0.05)}
    assert ("cnncompare: 24 runs: custom_cnn 24 (6 variants) (each model or variant: 1 data set x 2 splits x "
            "2 seeds)") in proc.stderr


@pytest.fixture(scope="module")
def swept(tmp_path_factory, cifar_archive):
    """A real sweep of three learning rates, trained and reported."""
    workdir = tmp_path_factory.mktemp("sweep")
    config = tiny_config(workdir, cifar_archive)
    config["models"]["custom_cnn"].update(epochs=2, sweep={"lr": [0.005, 0.02, 0.08]})
    config["compare"].update(splits=["three"])
    snakemake(workdir, write_config(workdir / "config.yaml", config))
    return {"workdir": workdir, "config": config}


@pytest.mark.workflow
def test_the_real_sweep_reports_every_variant(swept):
    html = (swept["workdir"] / "results/report.html").read_text()
    section = re.search(r'<section id="sweeps">(.*?)</section>', html, re.S).group(1)
    names = [f"custom_cnn.lr-{lr}" for lr in (0.005, 0.02, 0.08)]
    rows = re.findall(r'<tr data-dataset="cifar10" data-split="three" data-model="([^"]+)"', section)
    assert sorted(rows) == names
    assert len(re.findall(r'<svg [^>]*data-sweep="custom_cnn" data-key="lr"', section)) == 1
    chosen = re.findall(r'data-model="([^"]+)" class="chosen"', section)
    assert len(chosen) == 1 and chosen[0] in names
    overview = re.search(r'<ul class="overview" id="overview-sweeps">(.*?)</ul>', html, re.S).group(1)
    assert f"validation accuracy of the three-split runs picks {chosen[0]}" in overview


@pytest.mark.workflow
def test_adding_a_value_trains_only_the_new_variant_and_removing_one_re_renders(swept):
    workdir = swept["workdir"]
    config = yaml.safe_load(yaml.safe_dump(swept["config"]))
    config["models"]["custom_cnn"]["sweep"]["lr"] = [0.005, 0.01, 0.02, 0.08]
    jobs, proc = _dry_run(workdir, config, "added.yaml")
    assert jobs == {"train_model": 1, "evaluate_model": 1, "aggregate_results": 1, "render_report": 1, "all": 1}
    assert set(re.findall(r"runs/cifar10/three/([^/]+)/seed0/model\.pt", proc.stdout)) == {"custom_cnn.lr-0.01"}
    config["models"]["custom_cnn"]["sweep"]["lr"] = [0.08, 0.02]  # one removed, the others reordered
    assert _dry_run(workdir, config, "removed.yaml")[0] == {"aggregate_results": 1, "render_report": 1, "all": 1}
    config["models"]["custom_cnn"]["sweep"]["lr"] = [0.08, 0.005, 0.02]  # only reordered
    assert _dry_run(workdir, config, "reordered.yaml")[0] == {}


@pytest.mark.workflow
def test_a_sweep_over_max_runs_is_refused_by_the_workflow(swept):
    config = yaml.safe_load(yaml.safe_dump(swept["config"]))
    config["compare"]["max_runs"] = 2
    proc = snakemake(swept["workdir"], write_config(swept["workdir"] / "big.yaml", config), "--dry-run",
                     check=False)
    assert proc.returncode != 0
    output = proc.stdout + proc.stderr
    # The sweep's own check, before any variant is made (tests/bad_configs.py has its full text).
    assert "variants, each at least one run, are over compare.max_runs (2)" in output and "Job stats" not in output


# --- the winner is chosen on validation ------------------------------------------------------------------


def _variant(name: str, lr: float) -> dict:
    return {"description": "", "reference": {}, "sweep": {"block": "m", "keys": ["lr"], "settings": {"lr": lr}}}


def _render_fabricated(tmp_path, runs: list[tuple]) -> str:
    """runs: (split, lr, seed, val_acc, test_acc); returns the page."""
    results, infos, files = tmp_path / "results", [], []
    for split, lr, seed, val, test in runs:
        folder = results / f"{split}-{lr}-{seed}"
        infos.append(synthetic_runs.write_run(folder, "digits", split, f"m.lr-{lr}", seed, accuracy=test,
                                              epoch_seconds=1.0, params=1000,
                                              extra={"val_acc": val, "test_acc": test}))
        files.append(read_run_files(folder / "metrics.json", folder / "confusion.csv", folder / "misclassified.npz"))
    models = {f"m.lr-{lr}": _variant(f"m.lr-{lr}", lr) for _, lr, *_ in runs}
    out = tmp_path / "report.html"
    render(infos, [], files, REPO / "report/report.html.j2", out, models=models)
    return out.read_text()


def test_the_validation_winner_is_chosen_not_the_test_winner(tmp_path):
    html = _render_fabricated(tmp_path, [
        # lr 0.01: best on validation; lr 0.1: best on test.
        ("three", 0.01, 0, 0.95, 0.90), ("three", 0.01, 1, 0.94, 0.91),
        ("three", 0.1, 0, 0.90, 0.94), ("three", 0.1, 1, 0.91, 0.93),
        ("three", 0.001, 0, 0.80, 0.80), ("three", 0.001, 1, 0.81, 0.79),
    ])
    overview = re.search(r'<ul class="overview" id="overview-sweeps">(.*?)</ul>', html, re.S).group(1)
    assert "validation accuracy of the three-split runs picks m.lr-0.01 (validation 94.5%" in overview
    assert "its test accuracy is 90.5%" in overview
    assert ("The highest test accuracy, 93.5% (range 93.0–94.0%), belongs to m.lr-0.1; it is not the choice: picking the "
            "variant on the test set would bias the figure reported upwards.") in overview
    assert re.findall(r'data-model="([^"]+)" class="chosen"', html) == ["m.lr-0.01"]
    # The overview's answer and the best-model table rank the block by its chosen variant only.
    answer = re.search(r'<ul class="overview" id="overview-digits">(.*?)</ul>', html, re.S).group(1)
    assert "m.lr-0.01" in answer and "m.lr-0.1 " not in answer and "m.lr-0.1/" not in answer
    best = re.search(r'<table id="best-table".*?</table>', html, re.S).group(0)
    assert "m.lr-0.1/" not in best and "m.lr-0.1 " not in best


def test_with_two_splits_only_the_choice_is_said_to_be_made_on_the_test_set(tmp_path):
    html = _render_fabricated(tmp_path, [("two", 0.01, 0, 0.93, 0.93), ("two", 0.1, 0, 0.95, 0.95)])
    overview = re.search(r'<ul class="overview" id="overview-sweeps">(.*?)</ul>', html, re.S).group(1)
    assert "only two-split runs, whose validation part is the test set, so the choice of m.lr-0.1 was made on " \
           "the test set" in overview


def test_a_hundred_variants_stay_readable(tmp_path):
    runs = [("three", lr, 0, 0.5 + i / 250, 0.5 + i / 260)
            for i, lr in enumerate(round(1.0e-4 * 1.08 ** k, 8) for k in range(100))]
    html = _render_fabricated(tmp_path, runs)
    section = re.search(r'<section id="sweeps">(.*?)</section>', html, re.S).group(1)
    assert len(re.findall(r"<tr data-dataset", section)) == 100
    assert len(re.findall(r"<svg xmlns", section)) == 1  # one figure per swept key, not per variant
    assert "(log axis)" in section
    assert ".sweep-table { max-height: 24rem; overflow-y: auto; }" in html


def test_with_two_keys_each_figure_draws_one_line_per_value_of_the_other():
    from cnncompare.report.stats import mean_interval
    from cnncompare.report.sweep_report import sensitivity_figure

    entries = [{"variant": f"m.batch_size-{b}.lr-{lr}", "settings": {"batch_size": b, "lr": lr},
                "val": mean_interval([0.8 + lr, 0.81 + lr]), "test": mean_interval([0.79 + lr, 0.8 + lr]), "n": 2,
                "runs": 2} for b in (64, 128) for lr in (0.005, 0.02, 0.08)]
    figures = {f["key"]: f for f in sensitivity_figure("m", "digits", "three", ["batch_size", "lr"], entries,
                                                       {**entries[2], "split": "three"})}
    assert figures["lr"]["log"] and not figures["batch_size"]["log"]
    labels = re.findall(r'class="line"[^>]*data-label="([^"]+)"', figures["lr"]["svg"])
    assert sorted(labels) == ["batch_size = 128 · test", "batch_size = 128 · val", "batch_size = 64 · test",
                              "batch_size = 64 · val"]
    assert sorted(re.findall(r'class="line"[^>]*data-label="([^"]+)"', figures["batch_size"]["svg"])) == sorted(
        f"lr = {lr} · {s}" for lr in (0.005, 0.02, 0.08) for s in ("test", "val"))
    assert "<title>chosen: m.batch_size-64.lr-0.08</title>" in figures["lr"]["svg"]


def test_a_variant_that_lost_two_of_three_seeds_is_not_chosen(tmp_path):
    """lr 0.1 has the best validation accuracy on the one seed that survived (seed 1 diverged, seed 2
    failed): it is not eligible, the sentence names its lost seeds, and lr 0.01 is chosen."""
    results, infos, files = tmp_path / "results", [], []
    runs = [(0.01, 0, 0.90, 0.89, "completed"), (0.01, 1, 0.91, 0.90, "completed"), (0.01, 2, 0.89, 0.88, "completed"),
            (0.1, 0, 0.97, 0.96, "completed"), (0.1, 1, None, None, "diverged"),
            (0.001, 0, 0.70, 0.70, "completed"), (0.001, 1, 0.71, 0.70, "completed"),
            (0.001, 2, 0.72, 0.71, "completed")]
    for lr, seed, val, test, status in runs:
        folder = results / f"{lr}-{seed}"
        infos.append(synthetic_runs.write_run(folder, "digits", "three", f"m.lr-{lr}", seed, accuracy=test or 0.1,
                                              epoch_seconds=1.0, params=1000,
                                              extra={"val_acc": val, "test_acc": test, "status": status}))
        files.append(read_run_files(folder / "metrics.json", folder / "confusion.csv", folder / "misclassified.npz"))
    # Seed 2 of lr 0.1 failed: the partial report's row for a run without metrics.json.
    infos.append({"dataset": "digits", "split": "three", "model": "m.lr-0.1", "seed": 2, "status": "failed",
                  "epochs_run": 3, "note": "train.log: ERROR out of memory"})
    models = {f"m.lr-{lr}": _variant(f"m.lr-{lr}", lr) for lr in (0.01, 0.1, 0.001)}
    out = tmp_path / "report.html"
    render(infos, [], files, REPO / "report/report.html.j2", out, models=models)
    html = out.read_text()
    overview = re.search(r'<ul class="overview" id="overview-sweeps">(.*?)</ul>', html, re.S).group(1)
    assert "validation accuracy of the three-split runs picks m.lr-0.01 (validation 90.0%" in overview
    assert ("m.lr-0.1 had the highest validation accuracy (97.0%, one seed) but is not eligible: seed 1 diverged, "
            "seed 2 failed (1 of 3 planned seeds completed).") in overview
    assert "picks m.lr-0.1" not in overview
    assert re.findall(r'data-model="([^"]+)" class="chosen"', html) == ["m.lr-0.01"]
    assert "1 / 3 (not eligible)" in html


def test_variants_within_noise_of_the_chosen_one_are_named():
    """Wilson intervals recomputed by hand: 360 validation images, 0.95 and 0.94 overlap, 0.80 does not."""
    from scipy.stats import binomtest
    from cnncompare.report.study import Study
    from cnncompare.report.sweep_report import sweep_section

    rows = [{"dataset": "d", "split": "three", "model": f"m.lr-{lr}", "seed": 0, "status": "completed",
             "val_acc": val, "test_acc": val, "val_size": 360} for lr, val in ((0.01, 0.95), (0.1, 0.94), (1, 0.80))]
    models = {f"m.lr-{lr}": _variant(f"m.lr-{lr}", lr) for lr in (0.01, 0.1, 1)}
    lines = sweep_section(Study.of(rows, models=models))["choices"][0]["lines"]
    ci = {v: binomtest(round(v * 360), 360).proportion_ci(method="wilson") for v in (0.95, 0.94, 0.80)}
    assert ci[0.94].high >= ci[0.95].low and ci[0.80].high < ci[0.95].low
    assert any(line.startswith("Within noise of m.lr-0.01 on validation") and line.endswith(": m.lr-0.1.")
               for line in lines), lines
