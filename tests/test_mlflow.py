"""`snakemake mlflow`: the finished runs in an MLflow tracking store.

Each run's files are written by the test (tests/synthetic_runs.py), then
Snakemake runs the real aggregate_results, render_report and mlflow rules on
them; the store is read back with MLflow's own API (mlflow.search_runs,
MlflowClient.get_metric_history) and compared with the run files."""

from __future__ import annotations

import json
import os

import pytest

import synthetic_runs
from conftest import planned_jobs, snakemake, write_config
from cnncompare.columns import HISTORY_COLUMNS
from cnncompare.fileio import read_csv, read_json
from cnncompare.plan.tracking_store import study_name
from cnncompare.track.mlflow_export import local_store
from cnncompare.track.record import as_text, read_record

mlflow = pytest.importorskip("mlflow", reason="mlflow is in requirements-track.txt (make test installs it)")
from mlflow.tracking import MlflowClient  # noqa: E402

pytestmark = pytest.mark.workflow

MODELS = {name: synthetic_runs.MODELS[name] for name in ("custom_cnn", "vgg16")}
EPOCHS = 6
# The rules that may run on the written runs; the option after the list ends it, so that
# a target after it is not read as one more allowed rule.
RULES = ("--allowed-rules", "aggregate_results", "render_report", "mlflow", "--rerun-incomplete")
CURVES = [c for c in HISTORY_COLUMNS if c != "epoch"]


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    """4 runs (2 models x 2 splits), exported once."""
    workdir = tmp_path_factory.mktemp("mlflow")
    results = workdir / "results"
    synthetic_runs.write_grid(results, seeds=1, models=MODELS, epochs=EPOCHS)
    config = {
        "results_dir": str(results), "data_dir": str(workdir / "data"), "device": "cpu",
        "models": {name: synthetic_runs.model_block(epochs=EPOCHS) for name in MODELS},
        "compare": {"datasets": ["digits"], "splits": ["two", "three"], "models": list(MODELS), "seeds": [0]},
    }
    configfile = write_config(workdir / "config.yaml", config)
    proc = snakemake(workdir, configfile, *RULES, "mlflow")
    uri, _ = local_store(results)
    return {"workdir": workdir, "results": results, "configfile": configfile, "config": config, "uri": uri,
            "experiment": study_name(results), "log": proc.stdout + proc.stderr}


def run_dirs(results):
    return sorted(p.parent for p in (results / "runs").rglob("metrics.json"))


def search(uri: str, experiment: str):
    mlflow.set_tracking_uri(uri)
    try:
        return mlflow.search_runs(experiment_names=[experiment])
    finally:
        mlflow.set_tracking_uri(None)


def history_of(client: MlflowClient, run_id: str) -> dict[str, list[tuple[int, float]]]:
    return {name: sorted((m.step, m.value) for m in client.get_metric_history(run_id, name)) for name in CURVES}


def history_file(run_dir) -> dict[str, list[tuple[int, float]]]:
    rows = read_csv(run_dir / "history.csv")
    return {name: [(int(r["epoch"]), float(r[name])) for r in rows] for name in CURVES}


def test_mlflow_is_not_in_the_default_target(study):
    # The store and its manifest exist, and a plain invocation has nothing left to do.
    assert (study["results"] / "mlflow.db").is_file()
    assert (study["results"] / "mlflow-export.json").is_file()
    proc = snakemake(study["workdir"], study["configfile"], *RULES, "-n")
    assert planned_jobs(proc.stdout + proc.stderr) == {}


def test_every_run_is_in_the_store_with_its_tags_params_and_test_accuracy(study):
    table = search(study["uri"], study["experiment"])
    dirs = run_dirs(study["results"])
    assert len(table) == len(dirs) == 4
    client = MlflowClient(tracking_uri=study["uri"])
    for run_dir in dirs:
        metrics = read_json(run_dir / "metrics.json")
        label = f"{metrics['dataset']}/{metrics['split']}/{metrics['model']}/seed{metrics['seed']}"
        rows = table[table["tags.cnncompare.run"] == label]
        assert len(rows) == 1, label
        row = rows.iloc[0]
        for key in ("dataset", "split", "model", "seed"):
            assert row[f"tags.{key}"] == str(metrics[key])
        assert row["tags.mlflow.runName"] == label
        assert row["status"] == "FINISHED"
        # The run's identity and the settings that took effect, nested ones dotted, as text.
        params = {k[len("params."):]: v for k, v in row.items() if k.startswith("params.") and v is not None}
        assert params == {key: as_text(value) for key, value in read_record(run_dir).params.items()}
        assert params["lr"] == "0.02" and params["augment.flip"] == "true" and params["augment.crop_padding"] == "4"
        assert row["metrics.test_acc"] == pytest.approx(metrics["test_acc"])
        assert row["metrics.test_loss"] == pytest.approx(metrics["test_loss"])
        # Cost figures, and the tested epoch's validation accuracy beside (not inside) the curve.
        for key in ("train_seconds", "params_trainable", "peak_rss_mb", "images_per_second"):
            assert row[f"metrics.{key}"] == pytest.approx(metrics[key]), key
        assert row["metrics.tested.val_acc"] == pytest.approx(metrics["val_acc"])
        artifacts = {a.path for a in client.list_artifacts(row["run_id"])}
        assert artifacts == {"history.csv", "confusion.csv", "report.html"}
        local = client.download_artifacts(row["run_id"], "confusion.csv", str(run_dir.parent))
        assert open(local).read() == (run_dir / "confusion.csv").read_text()


def test_each_epochs_metrics_equal_history_csv(study):
    client = MlflowClient(tracking_uri=study["uri"])
    table = search(study["uri"], study["experiment"])
    for run_dir in run_dirs(study["results"]):
        metrics = read_json(run_dir / "metrics.json")
        label = f"{metrics['dataset']}/{metrics['split']}/{metrics['model']}/seed{metrics['seed']}"
        run_id = table[table["tags.cnncompare.run"] == label].iloc[0].run_id
        found = history_of(client, run_id)
        assert found == history_file(run_dir)
        assert [step for step, _ in found["val_acc"]] == list(range(1, EPOCHS + 1))


def test_a_second_invocation_adds_nothing_twice(study):
    client = MlflowClient(tracking_uri=study["uri"])
    before = search(study["uri"], study["experiment"])
    histories = {run_id: history_of(client, run_id) for run_id in before.run_id}
    snakemake(study["workdir"], study["configfile"], *RULES, "mlflow", "--forcerun", "mlflow")
    after = search(study["uri"], study["experiment"])
    assert sorted(after.run_id) == sorted(before.run_id)
    assert {run_id: history_of(client, run_id) for run_id in after.run_id} == histories
    manifest = json.loads((study["results"] / "mlflow-export.json").read_text())
    assert {r["action"] for r in manifest["runs"].values()} == {"unchanged"}
    # Deleted runs are kept by MLflow until `mlflow gc`: none was made.
    every = client.search_runs([manifest["experiment_id"]], run_view_type=mlflow.entities.ViewType.ALL)
    assert len(every) == 4


def test_a_retrained_run_replaces_its_mlflow_run(study):
    results = study["results"]
    client = MlflowClient(tracking_uri=study["uri"])
    before = search(study["uri"], study["experiment"])
    retrained = results / "runs" / "digits" / "three" / "vgg16" / "seed0"
    metrics = synthetic_runs.write_run(retrained, "digits", "three", "vgg16", 0, accuracy=0.75, epoch_seconds=1.0,
                                       params=1000, epochs=EPOCHS - 2,
                                       block=synthetic_runs.model_block(epochs=EPOCHS, lr=0.05))
    proc = snakemake(study["workdir"], study["configfile"], *RULES, "mlflow")  # new files: it runs again by itself
    assert "rule mlflow:" in proc.stdout + proc.stderr
    after = search(study["uri"], study["experiment"])
    assert len(after) == 4
    row = after[after["tags.cnncompare.run"] == "digits/three/vgg16/seed0"].iloc[0]
    assert row.run_id not in set(before.run_id)
    assert row["metrics.test_acc"] == pytest.approx(metrics["test_acc"]) and row["params.lr"] == "0.05"
    assert history_of(client, row.run_id) == history_file(retrained)  # 4 epochs: the old 6 are gone
    assert len(set(after.run_id) & set(before.run_id)) == 3
    manifest = json.loads((results / "mlflow-export.json").read_text())
    assert sorted(r["action"] for r in manifest["runs"].values()) == ["replaced"] + ["unchanged"] * 3


def test_mlflow_tracking_uri_points_the_export_elsewhere(study, tmp_path):
    # The standard variable, as a team's server would be named (here another SQLite store).
    other = f"sqlite:///{tmp_path / 'team.db'}"
    proc = snakemake(study["workdir"], study["configfile"], *RULES, "mlflow", env={"MLFLOW_TRACKING_URI": other})
    assert "rule mlflow:" in proc.stdout + proc.stderr  # a new store is a changed param: exported again
    assert sorted(search(other, study["experiment"])["tags.cnncompare.run"]) == sorted(search(study["uri"], study["experiment"])["tags.cnncompare.run"])
    # The config key wins over the variable, and names the experiment too.
    config = {**study["config"], "mlflow": {"tracking_uri": other, "experiment": "team-study"}}
    configfile = write_config(tmp_path / "config.yaml", config)
    snakemake(study["workdir"], configfile, *RULES, "mlflow", env={"MLFLOW_TRACKING_URI": "sqlite:///nowhere.db"})
    assert len(search(other, "team-study")) == 4
    assert not (study["workdir"] / "nowhere.db").exists()


def test_snakemake_plans_the_export_without_mlflow_or_torch(study, tmp_path):
    # An mlflow and a torch that fail on import: Snakemake's own process plans the job anyway.
    poisoned = tmp_path / "poisoned"
    for name in ("mlflow", "torch"):
        (poisoned / name).mkdir(parents=True)
        (poisoned / name / "__init__.py").write_text(f"raise ImportError('{name} imported at plan time')\n")
    proc = snakemake(study["workdir"], study["configfile"], *RULES, "mlflow", "--forcerun", "mlflow", "-n",
                     env={"PYTHONPATH": f"{poisoned}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"})
    assert planned_jobs(proc.stdout + proc.stderr) == {"mlflow": 1}


def test_what_a_run_records_of_metrics_json():
    from pathlib import Path

    from cnncompare.track.mlflow_export import mlflow_name, run_contents
    from cnncompare.track.record import RunRecord

    metrics = {"dataset": "cifar10", "split": "two", "model": "vgg16", "seed": 3, "test_acc": 0.9, "val_acc": 0.8,
               "pretrained": True, "weights": None, "versions": {"torch": "2.14.1"},
               "data": {"sha256": "ab", "files": {"t10k:images.gz": "md5"}}, "inference": {"latency_ms": 1.5},
               "config": {"lr": 0.01, "head": {"hidden": [1024, 512], "norm": False}}}
    history = [{"epoch": "1", "val_acc": "0.5", "lr": "0.01"}, {"epoch": "2", "val_acc": "0.8", "lr": ""}]
    found = run_contents(RunRecord(Path("."), metrics, history))
    assert found["params"] == {"dataset": "cifar10", "split": "two", "model": "vgg16", "seed": "3",
                               "lr": "0.01", "head.hidden": "[1024, 512]", "head.norm": "false"}
    # metrics.json's val_acc (the tested epoch's) beside the curve of that name, not in it.
    assert found["figures"] == {"test_acc": 0.9, "tested.val_acc": 0.8, "inference.latency_ms": 1.5}
    assert found["curves"] == {"val_acc": [(1, 0.5), (2, 0.8)], "lr": [(1, 0.01)]}
    assert found["tags"] == {"dataset": "cifar10", "split": "two", "model": "vgg16", "seed": "3",
                             "cnncompare.run": "cifar10/two/vgg16/seed3", "pretrained": "true",
                             "version.torch": "2.14.1", "data.sha256": "ab", "data.files.t10k_images.gz": "md5"}
    assert mlflow_name("..up/and:over") == "_..up_and_over"
