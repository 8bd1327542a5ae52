"""Successive halving of a sweep (models.<block>.halving): the plan's rungs and
costs, its errors before any job, the rung decisions on fabricated results, the
halving.json builder, and (marked workflow) the tiny config .test/halving.yaml
run once for all its assertions, with its winner trained alone beside it: a
halved run is a prefix of its full run, bit for bit."""

from __future__ import annotations

import copy
import csv
import itertools
import json
import re
from pathlib import Path

import pytest
import yaml

from conftest import REPO, planned_jobs, snakemake, write_config
from cnncompare.columns import HISTORY_COLUMNS
from cnncompare.plan import notices
from cnncompare.plan.halving import kept, rung_epochs
from cnncompare.plan.plan import PlanError, make_plan
from cnncompare.plan.sweeps import variant_name
from cnncompare.report import rungs

STUDY = yaml.safe_load((REPO / "config.yaml").read_text())
TINY = yaml.safe_load((REPO / ".test/halving.yaml").read_text())


def config_of(sweep=None, halving=None, seeds=(0, 1), **block) -> dict:
    """The study's config with custom_cnn swept (and halved) on digits, one split."""
    config = copy.deepcopy(STUDY)
    custom = {**config["models"].get("custom_cnn", {}), "epochs": 9, **block}
    if sweep is not None:
        custom["sweep"] = sweep
    if halving is not None:
        custom["halving"] = halving
    config["models"]["custom_cnn"] = custom
    config["compare"] = {**config["compare"], "datasets": ["digits"], "splits": ["three"],
                         "models": ["custom_cnn"], "seeds": list(seeds)}
    return config


GRID_27 = {"lr": [0.005, 0.02, 0.08], "batch_size": [32, 64, 128], "dropout": [0.0, 0.25, 0.5]}


def problems_of(config) -> str:
    with pytest.raises(PlanError) as err:
        make_plan(config)
    return str(err.value)


# --- the plan ----------------------------------------------------------------------------------------


def test_rungs_multiply_by_eta_and_end_at_the_full_budget():
    assert rung_epochs(1, 3, 9) == (1, 3, 9)
    assert rung_epochs(1, 3, 10) == (1, 3, 10)
    assert rung_epochs(2, 2, 20) == (2, 4, 8, 20)
    assert [kept(n, 3) for n in (27, 9, 3, 2, 1)] == [9, 3, 1, 1, 1]


def test_the_plan_of_a_27_variant_sweep_tells_its_rungs_and_cost():
    plan = make_plan(config_of(GRID_27, {"eta": 3, "min_epochs": 1}))
    halving = plan.halving["custom_cnn"]
    assert (halving.eta, halving.min_epochs, halving.brackets, halving.rungs) == (3, 1, 1, (1, 3, 9))
    assert [(r["variants"], r["runs"], r["epochs"], r["trained_epochs"]) for r in halving.rung_table(0)] == [
        (27, 54, 1, 54), (9, 18, 3, 36), (3, 6, 9, 36)]
    assert (halving.planned_epochs(0), halving.full_grid_epochs(0)) == (126, 486)
    lines = notices.plan_lines(plan)
    # Said where the run count is said: max_runs counts the first rung's runs, every variant and seed.
    assert lines[0].startswith("54 runs: custom_cnn 54 (27 variants)")
    assert "  rung 1: 9 variants, 18 runs to epoch 3, 36 epochs trained" in lines
    assert lines[-1] == ("  126 epochs planned (before ties) against 486 for the full grid (26%); over 1 data "
                         "set and split pair: 126 against 486")


def test_a_variant_of_a_halved_sweep_has_the_settings_it_has_alone():
    """A variant's block holds no halving: trained alone it is the very same run."""
    plan = make_plan(config_of({"lr": [0.01, 0.02]}, {}))
    alone = make_plan(config_of({"lr": [0.01]}))
    assert plan.models["custom_cnn.lr-0.01"].params == alone.models["custom_cnn.lr-0.01"].params
    assert plan.halving_of("custom_cnn.lr-0.01").rungs == (1, 3, 9)  # the schema's defaults: eta 3, min 1
    assert alone.halving == {} and alone.halving_of("custom_cnn.lr-0.01") is None
    assert [r.model for r in plan.unhalved_runs] == []


def test_halving_on_the_two_split_is_said_to_cut_on_the_test_set():
    config = config_of({"lr": [0.01, 0.02, 0.05]}, {})
    assert not make_plan(config).warnings
    config["compare"]["splits"] = ["three", "two"]
    (warning,) = make_plan(config).warnings
    assert warning.startswith("models.custom_cnn.halving: on the two split its rungs rank the variants on the "
                              "test set")


def test_hyperband_deals_variants_into_brackets_that_start_later():
    plan = make_plan(config_of(GRID_27, {"eta": 3, "min_epochs": 1, "brackets": 3}, seeds=[0]))
    halving = plan.halving["custom_cnn"]
    assert [len(halving.bracket_variants(b)) for b in range(3)] == [9, 9, 9]
    assert [[(r["rung"], r["variants"]) for r in halving.rung_table(b)] for b in range(3)] == [
        [(0, 9), (1, 3), (2, 1)], [(1, 9), (2, 3)], [(2, 9)]]
    # bracket 1 trains 9 x 3 epochs, then 3 x 6 more; bracket 2 is the plain grid at 9 epochs.
    assert [halving.planned_epochs(b) for b in range(3)] == [9 + 6 + 6, 27 + 18, 81]
    assert len(plan.halving_groups()) == 3


@pytest.mark.parametrize("halving, block, expected", [
    ({"eta": 3}, {"sweep": None}, "models.custom_cnn.halving: halving stops the losing variants of a sweep, "
                                  "and models.custom_cnn has no sweep"),
    ({"min_epochs": 9}, {}, "models.custom_cnn.halving.min_epochs: 9 is not below models.custom_cnn.epochs (9)"),
    ({"min_epochs": 4}, {}, "models.custom_cnn.halving.min_epochs: 4 x eta 3 = 12 is above models.custom_cnn."
                            "epochs (9), which leaves one rung"),
    ({"eta": 1}, {}, "models.custom_cnn.halving.eta"),
    ({"brackets": 4}, {}, "models.custom_cnn.halving.brackets: 4 brackets need as many rungs to start at"),
    ({"brackets": 3}, {"sweep": {"lr": [0.01, 0.02]}}, "models.custom_cnn.halving.brackets: 3 brackets for 2 "
                                                       "variants leave a bracket empty"),
    ({}, {"sweep": {"epochs": [3, 9]}}, "models.custom_cnn.sweep.epochs: a halved sweep gives every variant the "
                                        "same budget"),
    ({"typo": 1}, {}, "models.custom_cnn.halving"),
])
def test_a_bad_halving_block_is_refused_naming_the_key(halving, block, expected):
    sweep = block.pop("sweep", {"lr": [0.01, 0.02, 0.05]})
    config = config_of(sweep, halving, **block)
    if sweep is None:
        config["models"]["custom_cnn"].pop("sweep", None)
    assert expected in problems_of(config)


def test_max_epochs_counts_the_planned_rungs_not_the_full_grid():
    config = config_of(GRID_27, {"eta": 3, "min_epochs": 1})
    config["compare"]["max_epochs"] = 126
    make_plan(config)  # the planned rungs, 126, not the full grid's 486
    config["compare"]["max_epochs"] = 125
    text = problems_of(config)
    assert "compare.max_epochs: the plan trains 126 epochs (halved sweeps counted by their planned rungs: " \
           "models.custom_cnn), over compare.max_epochs (125)" in text
    unhalved = config_of(GRID_27)
    unhalved["compare"]["max_epochs"] = 485
    assert "compare.max_epochs: the plan trains 486 epochs, over compare.max_epochs (485)" in problems_of(unhalved)


# --- the rung decisions --------------------------------------------------------------------------------


def result(acc, size=400, status="completed", epochs=3, start=1):
    return {"val_acc": acc, "val_size": size, "status": status, "epochs_run": epochs, "start_epoch": start}


def test_a_rung_promotes_the_best_third_by_the_mean_over_seeds():
    results = {f"v{i}": {"0": result(0.5 + i / 100), "1": result(0.5 + i / 100)} for i in range(9)}
    results["v0"] = {"0": result(0.99), "1": result(0.01)}  # mean 0.5: the best seed alone does not count
    promoted, tied = rungs.decide(results, eta=3)
    # Within noise of v6 at 400 images: v5 (0.55 and 0.56 overlap) and v4; v3 (0.53) and below too?
    assert promoted[:3] == ["v8", "v7", "v6"] and set(tied) == set(promoted[3:])
    assert "v0" in tied  # its seeds' Wilson span (0.01 to 0.99) overlaps everything: within noise


def test_a_clear_cut_names_no_tie_and_a_diverged_seed_stops_its_variant():
    results = {"good": {"0": result(0.95), "1": result(0.96)},
               "lucky": {"0": result(0.99), "1": result(float("nan"), status="diverged")},
               "bad": {"0": result(0.30), "1": result(0.31)},
               "worse": {"0": result(0.10), "1": result(0.12)}}
    promoted, tied = rungs.decide(results, eta=3)
    assert (promoted, tied) == (["good"], [])
    scores = rungs.scores(results)
    assert scores["lucky"]["diverged"] and scores["lucky"]["mean_val_acc"] is None
    assert scores["good"] == {"mean_val_acc": 0.955, "val_acc": {"0": 0.95, "1": 0.96}, "diverged": False}


def test_a_tie_at_the_cut_promotes_both_instead_of_luck():
    results = {"a": {"0": result(0.90)}, "b": {"0": result(0.89)}, "c": {"0": result(0.40)}}
    assert rungs.decide(results, eta=3) == (["a", "b"], ["b"])
    # With ten times the validation images, 0.90 and 0.89 are apart (0.865 to 0.92 ...): still a tie;
    # 0.90 against 0.80 at 4,000 images is not.
    results = {"a": {"0": result(0.90, 4000)}, "b": {"0": result(0.80, 4000)}, "c": {"0": result(0.40, 4000)}}
    assert rungs.decide(results, eta=3) == (["a"], [])


def _write_run(folder: Path, accs: list[float], status="completed") -> tuple[str, str]:
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "history.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, HISTORY_COLUMNS)
        writer.writeheader()
        for epoch, acc in enumerate(accs, 1):
            writer.writerow({c: 0.0 for c in HISTORY_COLUMNS} | {"epoch": epoch, "val_acc": acc})
    (folder / "train.json").write_text(json.dumps({"status": status, "val_size": 400}))
    return str(folder / "history.csv"), str(folder / "train.json")


def test_halving_json_is_built_true_and_complete_from_fabricated_rungs(tmp_path):
    """Three variants, one seed, eta 3, rungs at 1 and 3: a wins rung 0; its full run is the last rung."""
    runs = {v: tmp_path / v for v in ("a", "b", "c")}
    rung0 = {v: {"0": rungs.read_run(*_write_run(runs[v] / "rung0", [acc]), 0)}
             for v, acc in (("a", 0.9), ("b", 0.5), ("c", 0.1))}
    decision = tmp_path / "rung0.json"
    decision.write_text(json.dumps(rungs.rung_record(0, 1, rung0, 3, last=False)))
    history, info = _write_run(runs["a"], [0.9, 0.95, 0.97])
    group = {"dataset": "digits", "split": "three", "block": "cnn", "bracket": 0, "eta": 3, "min_epochs": 1,
             "epochs": 3, "seeds": [0], "rung_epochs": [1, 3], "full_grid_epochs": 9, "planned_epochs": 5,
             "decisions": [str(decision)],
             "histories": [{v: {"0": str(runs[v] / "rung0/history.csv")} for v in runs}],
             "last": {"rung": 1, "epochs": 3, "start_epoch": 1, "runs": [["a", 0, history, info]]}}
    record = rungs.halving_record([group])
    (found,) = record["groups"]
    assert {k: found[k] for k in ("dataset", "split", "block", "bracket", "eta", "min_epochs", "epochs",
                                  "seeds", "full_grid_epochs", "planned_epochs", "spent_epochs")} == {
        "dataset": "digits", "split": "three", "block": "cnn", "bracket": 0, "eta": 3, "min_epochs": 1,
        "epochs": 3, "seeds": [0], "full_grid_epochs": 9, "planned_epochs": 5, "spent_epochs": 3 + 2}
    first, last = found["rungs"]
    assert (first["rung"], first["epochs"], first["variants"], first["runs"], first["promoted"],
            first["tied"], first["finished"]) == (0, 1, ["a", "b", "c"], 3, ["a"], [], True)
    assert first["scores"]["b"] == {"mean_val_acc": 0.5, "val_acc": {"0": 0.5}, "diverged": False}
    assert (last["rung"], last["epochs"], last["variants"], last["promoted"], last["scores"]["a"]["mean_val_acc"]) \
        == (1, 3, ["a"], [], 0.97)
    assert found["variants"] == {
        "a": {"last_rung": 1, "stopped_epoch": 3, "pruned": False, "history": {"0": history}},
        "b": {"last_rung": 0, "stopped_epoch": 1, "pruned": True, "history": {"0": str(runs["b"] / "rung0/history.csv")}},
        "c": {"last_rung": 0, "stopped_epoch": 1, "pruned": True, "history": {"0": str(runs["c"] / "rung0/history.csv")}},
    }


# --- the tiny config, run once -------------------------------------------------------------------------


def _merged(base: dict, overlay: dict) -> dict:
    """overlay onto base key by key, as Snakemake merges a --configfile onto config.yaml."""
    merged = copy.deepcopy(base)
    for key, value in overlay.items():
        both = isinstance(value, dict) and isinstance(merged.get(key), dict)
        merged[key] = _merged(merged[key], value) if both else copy.deepcopy(value)
    return merged


def _tiny(workdir: Path, results: str) -> dict:
    """config.yaml with .test/halving.yaml over it, in the test's folders."""
    config = _merged(STUDY, TINY)
    config.update(results_dir=str(workdir / results), data_dir=str(workdir / "data"))
    config["inference_timing"] = {"throughput_seconds": 0.1}  # as conftest's tiny config: timing is not tested here
    return config


@pytest.fixture(scope="module")
def halved(tmp_path_factory):
    """.test/halving.yaml trained to its report; then its winner (by validation at the last
    rung) alone, to the full budget, in a sibling results folder on the same data."""
    workdir = tmp_path_factory.mktemp("halving")
    proc = snakemake(workdir, write_config(workdir / "halving.yaml", _tiny(workdir, "results")))
    record = json.loads((workdir / "results/sweeps/halving.json").read_text())
    (group,) = record["groups"]
    scores = group["rungs"][-1]["scores"]
    winner = max(scores, key=lambda v: scores[v]["mean_val_acc"])
    alone = _tiny(workdir, "alone")
    block = alone["models"]["custom_cnn"]
    del block["halving"]
    grid = TINY["models"]["custom_cnn"]["sweep"]
    (settings,) = [dict(zip(grid, values)) for values in itertools.product(*grid.values())
                   if variant_name("custom_cnn", dict(zip(grid, values))) == winner]
    block["sweep"] = {key: [value] for key, value in settings.items()}  # the winner's variant, of the same name
    run = f"runs/digits/three/{winner}/seed0"
    snakemake(workdir, write_config(workdir / "alone.yaml", alone), "--", f"{workdir}/alone/{run}/metrics.json")
    return {"workdir": workdir, "log": proc.stdout + proc.stderr, "group": group, "winner": winner,
            "halved": workdir / "results" / run, "alone": workdir / "alone" / run}


def _jobs(log: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    for rule in re.findall(r"^(?:local)?(?:rule|checkpoint) (\w+):", log, re.M):
        counts[rule] = counts.get(rule, 0) + 1
    return counts


@pytest.mark.workflow
def test_the_rungs_ran_as_planned_and_halving_json_says_so(halved):
    group, jobs = halved["group"], _jobs(halved["log"])
    assert (group["eta"], group["min_epochs"], group["epochs"], group["seeds"]) == (3, 1, 9, [0])
    assert [r["epochs"] for r in group["rungs"]] == [1, 3, 9] and all(r["finished"] for r in group["rungs"])
    first, second, last = group["rungs"]
    assert len(first["variants"]) == 9 and first["runs"] == 9 and group["full_grid_epochs"] == 81
    # Each rung enters exactly whom the previous one promoted: the best third, plus the ties it names.
    assert second["variants"] == first["promoted"] and last["variants"] == second["promoted"]
    for rung in (first, second):
        assert len(rung["promoted"]) == len(rung["variants"]) // 3 + len(rung["tied"])
        best = sorted(rung["scores"], key=lambda v: -rung["scores"][v]["mean_val_acc"])
        assert rung["promoted"][:len(rung["variants"]) // 3] == best[:len(rung["variants"]) // 3]
    # One training job per run and rung short of the last, then ordinary runs for the survivors.
    assert jobs["train_rung"] == first["runs"] + second["runs"]
    assert jobs["train_model"] == jobs["evaluate_model"] == last["runs"]
    assert jobs["promote_rung"] == 2 and jobs["summarize_halving"] == 1
    assert group["spent_epochs"] == 9 * 1 + second["runs"] * 2 + last["runs"] * 6 < group["full_grid_epochs"]
    # The report waits for halving.json.
    render = re.search(r"rule render_report:\n\s+input: ([^\n]+)", halved["log"]).group(1)
    assert "sweeps/halving.json" in render


@pytest.mark.workflow
def test_a_sweep_interrupted_after_a_rung_goes_on_from_that_rung(halved):
    """Without rung 1's decision and what follows it (as if stopped once rung 1's runs had run:
    Snakemake makes a missing file again only when a missing or older output needs it), the plan
    is that decision and what follows it: no run of rung 0 or 1 trains again."""
    workdir = halved["workdir"]
    sweeps = workdir / "results/sweeps"
    gone = [sweeps / "digits/three/custom_cnn/bracket0/rung1.json", sweeps / "halving.json",
            workdir / "results/report.html"]
    for path in gone:
        path.rename(path.with_name(path.name + ".moved"))
    try:
        proc = snakemake(workdir, workdir / "halving.yaml", "--dry-run")
    finally:
        for path in gone:
            path.with_name(path.name + ".moved").rename(path)
    jobs = planned_jobs(proc.stdout + proc.stderr)
    assert jobs.get("promote_rung") == 1 and jobs.get("summarize_halving") == 1
    assert not {"train_rung", "train_model", "evaluate_model"} & set(jobs)
    assert "rung1.json" in re.search(r"checkpoint promote_rung:\n\s+input: [^\n]+\n\s+output: ([^\n]+)",
                                      proc.stdout + proc.stderr).group(1)


@pytest.mark.workflow
def test_pruned_runs_stop_at_their_rung_and_survivors_are_ordinary_runs(halved):
    workdir, group = halved["workdir"], halved["group"]
    summary = list(csv.DictReader(open(workdir / "results/summary.csv")))
    assert sorted(r["model"] for r in summary) == sorted(group["rungs"][-1]["variants"])
    for variant, entry in group["variants"].items():
        history = list(csv.DictReader(open(workdir / entry["history"]["0"])))
        assert list(history[0]) == HISTORY_COLUMNS and len(history) == entry["stopped_epoch"]
        assert entry["pruned"] == (variant not in group["rungs"][-1]["variants"])
        folder = workdir / "results/runs/digits/three" / variant / "seed0"
        assert (folder / "metrics.json").is_file() != entry["pruned"]
    assert sum(e["pruned"] for e in group["variants"].values()) == 9 - len(group["rungs"][-1]["variants"])


@pytest.mark.workflow
def test_tensorboard_tags_each_pruned_run_with_its_last_rung(halved):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.plugins.hparams import plugin_data_pb2

    workdir, group = halved["workdir"], halved["group"]
    tagged = json.loads((workdir / "results/sweeps/tensorboard-pruned.json").read_text())
    pruned = {v: e for v, e in group["variants"].items() if e["pruned"]}
    assert sorted(tagged) == sorted(f"digits/three/{v}/seed0" for v in pruned)
    variant, entry = next(iter(pruned.items()))
    events = EventAccumulator(str(workdir / tagged[f"digits/three/{variant}/seed0"]["tensorboard"]),
                              size_guidance={"scalars": 0, "tensors": 0})
    events.Reload()
    starts = [plugin_data_pb2.HParamsPluginData.FromString(c).session_start_info
              for c in events.PluginTagToContent("hparams").values()
              if plugin_data_pb2.HParamsPluginData.FromString(c).HasField("session_start_info")]
    hparams = {name: getattr(value, value.WhichOneof("kind")) for name, value in starts[0].hparams.items()}
    assert (hparams["halving.pruned"], hparams["halving.last_rung"]) == ("true", str(entry["last_rung"]))
    # Its curves stop at its rung; its final metrics are those of that epoch.
    assert [e.step for e in events.Scalars("accuracy/val")] == list(range(1, entry["stopped_epoch"] + 1))
    assert [e.step for e in events.Scalars("hparams/val_acc")] == [entry["stopped_epoch"]]


# History columns that time a run: the rest are computed, and equal bit for bit.
TIMINGS = ("epoch_seconds", "elapsed_seconds")


@pytest.mark.workflow
def test_the_winner_of_the_halved_sweep_is_its_run_trained_alone(halved):
    """Trained in three jobs (epoch 1, 2-3, 4-9, resumed from checkpoints) or in one: the same run."""
    halved_history = list(csv.DictReader(open(halved["halved"] / "history.csv")))
    alone_history = list(csv.DictReader(open(halved["alone"] / "history.csv")))
    strip = lambda rows: [{k: v for k, v in row.items() if k not in TIMINGS} for row in rows]  # noqa: E731
    assert len(halved_history) == 9 and strip(halved_history) == strip(alone_history)
    halved_metrics = json.loads((halved["halved"] / "metrics.json").read_text())
    alone_metrics = json.loads((halved["alone"] / "metrics.json").read_text())
    for key in ("test_acc", "test_loss", "val_acc", "val_loss", "train_acc", "train_loss", "best_epoch"):
        assert halved_metrics[key] == alone_metrics[key], key


def _pruned_record(tmp_path: Path):
    """A pruned run (cnn.lr-0.1, stopped at rung 0) read from a fabricated halving.json."""
    from cnncompare.track.record import read_pruned_records

    rung = tmp_path / "runs/digits/three/cnn.lr-0.1/seed0/rung0"
    history, _ = _write_run(rung, [0.2])
    identity = {"dataset": "digits", "split": "three", "model": "cnn.lr-0.1", "seed": 0}
    (rung / "train.json").write_text(json.dumps({**identity, "status": "completed", "val_size": 400,
                                                 "config": {"arch": "custom_cnn", "lr": 0.1}}))
    halving_file = tmp_path / "halving.json"
    halving_file.write_text(json.dumps({"groups": [{"variants": {
        "cnn.lr-0.1": {"last_rung": 0, "stopped_epoch": 1, "pruned": True, "history": {"0": history}},
        "cnn.lr-0.01": {"last_rung": 1, "stopped_epoch": 3, "pruned": False, "history": {"0": "unread"}}}}]}))
    (record,) = read_pruned_records(halving_file)
    return record


@pytest.mark.slow  # seconds of MLflow's import and its sqlite store's migrations
def test_a_pruned_run_goes_to_mlflow_tagged_with_its_last_rung(tmp_path):
    """A real MLflow store (sqlite)."""
    from mlflow.tracking import MlflowClient

    from cnncompare.track.mlflow_export import export_runs

    record = _pruned_record(tmp_path)
    report = tmp_path / "report.html"
    report.write_text("<html></html>")
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    manifest = export_runs([], report, uri, "halved", artifact_location=str(tmp_path / "artifacts"),
                           pruned=[record])
    assert list(manifest["runs"]) == ["digits/three/cnn.lr-0.1/seed0"]
    (run,) = MlflowClient(tracking_uri=uri).search_runs([manifest["experiment_id"]])
    tags = run.data.tags
    assert (tags["halving.pruned"], tags["halving.last_rung"], tags["halving.stopped_epoch"]) == ("true", "0", "1")
    assert run.data.params["lr"] == "0.1" and run.data.metrics["val_acc"] == 0.2


@pytest.mark.slow  # seconds of W&B's import and its service process
def test_a_pruned_run_goes_to_wandb_offline_with_its_halving_tags(tmp_path):
    from wandb_files import read_offline_run

    from cnncompare.track.wandb_offline import export_runs

    manifest = export_runs([], tmp_path / "wandb", "halved", pruned=[_pruned_record(tmp_path)])
    (entry,) = manifest["runs"].values()
    run = read_offline_run(entry["folder"])
    assert run["name"] == "digits/three/cnn.lr-0.1/seed0" and run["config"]["lr"] == 0.1
    assert (run["summary"]["halving.pruned"], run["summary"]["halving.last_rung"]) == ("true", "0")
