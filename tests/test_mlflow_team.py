"""MLflow as a team store (issue 24): studies that share one store keep each
other's runs, runs removed from a config are tagged stale, exports that create
one store at the same moment both succeed, a half-migrated store is repaired
or explained, artifact links survive a moved results folder, and a bad
tracking URI is refused before any job.

The unit tests (slow: each makes a new MLflow store) call the exporter (cnncompare/track/mlflow_export.py) on run
files written by tests/synthetic_runs.py, with the real MLflow, and read the
store back with mlflow.search_runs; the workflow tests run the real Snakefile."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

import synthetic_runs
from conftest import REPO, snakemake, write_config
from cnncompare.plan.tracking_store import study_name
from test_tracking_store import closed_port

mlflow = pytest.importorskip("mlflow", reason="mlflow is in requirements-track.txt (make test installs it)")
from mlflow.entities import ViewType  # noqa: E402
from mlflow.tracking import MlflowClient  # noqa: E402

from cnncompare.track.mlflow_export import export_runs, local_store  # noqa: E402
from cnncompare.track.mlflow_store import StoreError  # noqa: E402

MODELS = {name: synthetic_runs.MODELS[name] for name in ("custom_cnn", "vgg16")}
EPOCHS = 3
COLUMNS = ["tags.cnncompare.run", "tags.cnncompare.study", "tags.cnncompare.stale", "status", "run_id"]


def write_study(results: Path, models=MODELS) -> list[Path]:
    """2 models x 2 splits of written run files, and a report; the run folders."""
    synthetic_runs.write_grid(results, seeds=1, models=models, epochs=EPOCHS)
    (results / "report.html").write_text("<html>report</html>")
    return sorted(p.parent for p in (results / "runs").rglob("metrics.json"))


def export(results: Path, uri: str, experiment: str | None = None, run_dirs=None) -> dict:
    return export_runs(run_dirs if run_dirs is not None else sorted(p.parent for p in (results / "runs").rglob("metrics.json")),
                       results / "report.html", uri, experiment or study_name(str(results)), results_dir=results)


def search(uri: str, experiment: str, **kwargs):
    mlflow.set_tracking_uri(uri)
    try:
        return mlflow.search_runs(experiment_names=[experiment], **kwargs)
    finally:
        mlflow.set_tracking_uri(None)


@pytest.mark.slow  # MLflow makes a new store's tables in about 8 s
def test_two_studies_whose_folders_are_both_named_results_keep_each_others_runs(tmp_path):
    store = f"sqlite:///{tmp_path / 'team' / 'mlflow.db'}"
    (tmp_path / "team").mkdir()
    alice, bob = tmp_path / "alice" / "results", tmp_path / "bob" / "results"
    write_study(alice)
    write_study(bob, models={"custom_cnn": MODELS["custom_cnn"]})
    first = export(alice, store)
    export(bob, store)
    again = export(alice, store)  # a study exporting again touches its own runs only
    assert {r["action"] for r in again["runs"].values()} == {"unchanged"}
    tables = {}
    for results in (alice, bob):
        name = study_name(str(results))
        tables[name] = search(store, name, run_view_type=ViewType.ALL)
        print(f"\nmlflow.search_runs(experiment_names=[{name!r}]):")
        print(tables[name][COLUMNS].sort_values(COLUMNS[0]).to_string(index=False))
    alice_runs, bob_runs = tables[study_name(str(alice))], tables[study_name(str(bob))]
    assert len(alice_runs) == 4 and len(bob_runs) == 2
    assert set(alice_runs.run_id) == {r["mlflow_run_id"] for r in first["runs"].values()}
    assert set(alice_runs["tags.cnncompare.study"]) == {study_name(str(alice))}
    assert set(bob_runs["tags.cnncompare.study"]) == {study_name(str(bob))}
    assert set(alice_runs["tags.cnncompare.stale"]) == set(bob_runs["tags.cnncompare.stale"]) == {"false"}
    assert set(alice_runs.status) == set(bob_runs.status) == {"FINISHED"}
    client = MlflowClient(tracking_uri=store)
    assert all(client.get_run(r).info.lifecycle_stage == "active" for r in [*alice_runs.run_id, *bob_runs.run_id])


@pytest.mark.slow  # MLflow makes a new store's tables in about 8 s
def test_runs_of_another_study_in_the_same_experiment_are_left_alone(tmp_path):
    # A run of the same label written by someone else (by hand, or a cnncompare before study tags).
    store = f"sqlite:///{tmp_path / 'mlflow.db'}"
    results = tmp_path / "results"
    write_study(results)
    client = MlflowClient(tracking_uri=store)
    experiment = client.create_experiment("shared", artifact_location=(tmp_path / "mlruns").as_uri())
    foreign = client.create_run(experiment, tags={"cnncompare.run": "digits/two/vgg16/seed0"}).info.run_id
    client.set_terminated(foreign)
    manifest = export(results, store, "shared")
    assert "digits/two/vgg16/seed0" not in manifest["stale"]
    assert manifest["runs"]["digits/two/vgg16/seed0"]["action"] == "added"
    run = client.get_run(foreign)
    assert run.info.lifecycle_stage == "active" and "cnncompare.stale" not in run.data.tags
    assert len(search(store, "shared")) == 5


@pytest.mark.slow  # MLflow makes a new store's tables in about 8 s
def test_a_removed_variant_is_tagged_stale_then_current_again_when_it_returns(tmp_path):
    store = f"sqlite:///{tmp_path / 'mlflow.db'}"
    results = tmp_path / "results"
    run_dirs = write_study(results)
    export(results, store)
    kept = [d for d in run_dirs if d.parts[-2] != "vgg16"]  # vgg16 (a sweep's variant, say) leaves the config
    manifest = export(results, store, run_dirs=kept)
    assert sorted(manifest["stale"]) == ["digits/three/vgg16/seed0", "digits/two/vgg16/seed0"]
    table = search(store, study_name(str(results)))
    assert len(table) == 4  # kept, not deleted
    stale = table[table["tags.cnncompare.stale"] == "true"]
    assert sorted(stale["tags.mlflow.runName"]) == ["digits/three/vgg16/seed0 (stale)", "digits/two/vgg16/seed0 (stale)"]
    current = search(store, study_name(str(results)), filter_string="tags.`cnncompare.stale` = 'false'")
    assert sorted(current["tags.cnncompare.run"]) == sorted(f"digits/{s}/custom_cnn/seed0" for s in ("three", "two"))
    print("\n" + table[COLUMNS + ["tags.mlflow.runName"]].sort_values(COLUMNS[0]).to_string(index=False))
    # Back in the config, unchanged: the same MLflow runs, current again.
    back = export(results, store)
    assert sorted(label for label, r in back["runs"].items() if r["action"] == "current again") == sorted(stale["tags.cnncompare.run"])
    assert back["stale"] == {}
    again = search(store, study_name(str(results)))
    assert set(again["tags.cnncompare.stale"]) == {"false"} and set(again.run_id) == set(table.run_id)


EXPORT = """
import json, sys, time
sys.path[:0] = [{scripts!r}, {tests!r}]
from pathlib import Path
from cnncompare.track.mlflow_export import export_runs
results = Path(sys.argv[1])
while time.time() < float(sys.argv[3]):
    pass
runs = sorted(p.parent for p in (results / "runs").rglob("metrics.json"))
manifest = export_runs(runs, results / "report.html", sys.argv[2], "study-" + results.parent.name, results_dir=results)
print(json.dumps(sorted(r["action"] for r in manifest["runs"].values())))
"""


@pytest.mark.slow
def test_exports_that_create_one_new_store_at_the_same_moment_all_succeed(tmp_path):
    # Without the lock, three such exports broke the store's creation every time
    # (duplicate column name: step; table _alembic_tmp_metrics already exists).
    store = f"sqlite:///{tmp_path / 'mlflow.db'}"
    script = EXPORT.format(scripts=str(REPO / "workflow" / "scripts"), tests=str(REPO / "tests"))
    studies = []
    for name in ("a", "b", "c"):
        write_study(tmp_path / name / "results")
        studies.append(tmp_path / name / "results")
    start = time.time() + 8  # every process past its imports, then all at once
    procs = [subprocess.Popen([sys.executable, "-c", script, str(s), store, str(start)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for s in studies]
    outputs = [p.communicate(timeout=300) for p in procs]
    for proc, (out, err) in zip(procs, outputs):
        assert proc.returncode == 0, err[-3000:]
        assert json.loads(out.strip().splitlines()[-1]) == ["added"] * 4
    for name in ("a", "b", "c"):
        assert len(search(store, f"study-{name}")) == 4


def half_migrated(path: Path, runs: int = 0) -> None:
    """A store as two racing creations left it: an old revision, a migration's
    leftover table, (here) `runs` runs."""
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL)")
        db.execute("INSERT INTO alembic_version VALUES ('a8c4a736bde6')")
        db.execute("CREATE TABLE experiments (experiment_id INTEGER, name TEXT, artifact_location TEXT)")
        db.execute("CREATE TABLE runs (run_uuid TEXT, artifact_uri TEXT)")
        db.execute("CREATE TABLE _alembic_tmp_metrics (key TEXT)")
        for i in range(runs):
            db.execute("INSERT INTO runs VALUES (?, '')", (f"run{i}",))


@pytest.mark.slow  # MLflow makes a new store's tables in about 8 s
def test_an_empty_half_migrated_store_is_made_anew(tmp_path, caplog):
    results = tmp_path / "results"
    write_study(results)
    uri, _ = local_store(results)
    half_migrated(results / "mlflow.db")
    manifest = export(results, uri)
    assert len(manifest["runs"]) == 4
    assert "left half-migrated (revision a8c4a736bde6, leftover tables _alembic_tmp_metrics)" in caplog.text
    assert "it holds no run or experiment, so it is made anew" in caplog.text


def test_a_half_migrated_store_that_holds_runs_is_explained_and_left_alone(tmp_path):
    results = tmp_path / "results"
    write_study(results)
    uri, _ = local_store(results)
    half_migrated(results / "mlflow.db", runs=3)
    before = (results / "mlflow.db").read_bytes()
    with pytest.raises(StoreError) as stopped:
        export(results, uri)
    print(stopped.value)
    text = str(stopped.value)
    assert f"the MLflow store {results / 'mlflow.db'} was left half-migrated" in text
    assert "it holds 3 runs in 0 experiments, so it is not touched" in text
    assert "DROP TABLE _alembic_tmp_metrics" in text and "mlflow db upgrade" in text
    assert (results / "mlflow.db").read_bytes() == before


@pytest.mark.slow  # MLflow makes a new store's tables in about 8 s
def test_artifact_links_follow_a_moved_results_folder(tmp_path):
    old = tmp_path / "old" / "results"
    write_study(old)
    first = export(old, local_store(old)[0], "study")
    new = tmp_path / "new" / "results"
    new.parent.mkdir()
    shutil.move(old, new)
    assert not old.exists()
    uri = local_store(new)[0]
    second = export(new, uri, "study")
    assert {r["action"] for r in second["runs"].values()} == {"unchanged"}
    client = MlflowClient(tracking_uri=uri)
    for label, entry in first["runs"].items():
        run = client.get_run(entry["mlflow_run_id"])
        assert run.info.artifact_uri.startswith((new / "mlruns").as_uri()), run.info.artifact_uri
        local = client.download_artifacts(run.info.run_id, "confusion.csv", str(tmp_path))
        assert Path(local).read_text() == (new / "runs" / label / "confusion.csv").read_text()
    assert client.get_experiment_by_name("study").artifact_location == (new / "mlruns").as_uri()


@pytest.mark.workflow
def test_a_bad_tracking_uri_is_refused_when_the_export_is_planned_naming_the_key(tmp_path):
    results = tmp_path / "results"
    synthetic_runs.write_grid(results, seeds=1, models=MODELS, epochs=EPOCHS)
    port = closed_port()
    config = {
        "results_dir": str(results), "data_dir": str(tmp_path / "data"), "device": "cpu",
        "models": {name: synthetic_runs.model_block(epochs=EPOCHS) for name in MODELS},
        "compare": {"datasets": ["digits"], "splits": ["two", "three"], "models": list(MODELS), "seeds": [0]},
        "mlflow": {"tracking_uri": f"http://127.0.0.1:{port}"},
    }
    configfile = write_config(tmp_path / "config.yaml", config)
    rules = ("--allowed-rules", "aggregate_results", "render_report", "mlflow", "--rerun-incomplete")
    started = time.monotonic()
    proc = snakemake(tmp_path, configfile, *rules, "mlflow", check=False)
    seconds = time.monotonic() - started
    output = proc.stdout + proc.stderr
    print(output[-1500:])
    assert proc.returncode != 0
    assert f"mlflow.tracking_uri: http://127.0.0.1:{port}: no MLflow server answered" in output
    # Before any job: the tables the export needs were not even made.
    assert "rule aggregate_results" not in output and not (results / "summary.csv").exists()
    # Training is not held up by the store: the default target plans without looking at it.
    assert snakemake(tmp_path, configfile, *rules, "-n").returncode == 0
    # A malformed variable is named as the variable.
    env = {"MLFLOW_TRACKING_URI": "localhost:5000"}
    config["mlflow"] = {}  # config.yaml of the working folder, read too, sets no URI now
    proc = snakemake(tmp_path, write_config(tmp_path / "config.yaml", config), *rules, "mlflow", "-n", check=False, env=env)
    assert "the MLFLOW_TRACKING_URI environment variable (mlflow.tracking_uri is empty): localhost:5000: unknown scheme" \
        in proc.stdout + proc.stderr
    assert seconds < 60


@pytest.mark.workflow
def test_two_studies_through_snakemake_into_one_store_keep_each_others_runs(tmp_path):
    # The case: two checkouts, each with the default results folder `results`, one team store.
    store = f"sqlite:///{tmp_path / 'team.db'}"
    rules = ("--allowed-rules", "aggregate_results", "render_report", "mlflow", "--rerun-incomplete")
    studies = {}
    for name, models in (("alice", MODELS), ("bob", {"custom_cnn": MODELS["custom_cnn"]})):
        workdir = tmp_path / name
        synthetic_runs.write_grid(workdir / "results", seeds=1, models=models, epochs=EPOCHS)
        config = {
            "results_dir": "results", "data_dir": "data", "device": "cpu",
            "models": {m: synthetic_runs.model_block(epochs=EPOCHS) for m in models},
            "compare": {"datasets": ["digits"], "splits": ["two", "three"], "models": list(models), "seeds": [0]},
        }
        studies[name] = (workdir, write_config(workdir / "config.yaml", config))
    for name in ("alice", "bob", "alice"):
        workdir, configfile = studies[name]
        snakemake(workdir, configfile, *rules, "mlflow", "--forcerun", "mlflow", env={"MLFLOW_TRACKING_URI": store})
    found = {}
    for name, (workdir, _) in studies.items():
        manifest = json.loads((workdir / "results" / "mlflow-export.json").read_text())
        assert manifest["experiment"] == study_name(str(workdir / "results"))
        found[name] = search(store, manifest["experiment"], run_view_type=ViewType.ALL)
        print(f"\n{name}: mlflow.search_runs(experiment_names=[{manifest['experiment']!r}], run_view_type=ALL)")
        print(found[name][COLUMNS].sort_values(COLUMNS[0]).to_string(index=False))
    assert len(found["alice"]) == 4 and len(found["bob"]) == 2
    client = MlflowClient(tracking_uri=store)
    for table in found.values():
        assert set(table.status) == {"FINISHED"} and set(table["tags.cnncompare.stale"]) == {"false"}
        assert all(client.get_run(r).info.lifecycle_stage == "active" for r in table.run_id)
