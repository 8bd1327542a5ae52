"""The trackers behind their two interfaces (cnncompare/track/tracker.py), on
one finished run written by the test: TensorBoard (a live logger), MLflow and
W&B offline (exporters) record the same params of it, read back with each
tracker's own reader; W&B writes under results_dir, reaches no server and
works with no network at all (a network namespace of its own); a
live logger that fails never fails training. No Snakemake here."""

from __future__ import annotations

import ipaddress
import json
import logging
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

import synthetic_runs
from cnncompare.track.live_curves import LiveCurves
from cnncompare.track.record import as_text, final_metrics, read_record, run_params
from cnncompare.track.tracker import LiveLoggers
from cnncompare.track.wandb_offline import offline_env

# A torchvision block with a list, a None, an empty block and a bool among its
# settings, and keys that take no effect (dropout, momentum with Adam).
BLOCK = synthetic_runs.model_block(
    "vgg16", epochs=4, optimizer="adam", pretrained=True, lr_base=None, keep_blocks=3,
    head={"hidden": [256, 128], "dropout": 0.5, "norm": False}, augment={},
)
RUN = {"dataset": "digits", "split": "three", "model": "vgg16_small", "seed": 1}


@pytest.fixture(scope="module")
def record(tmp_path_factory):
    results = tmp_path_factory.mktemp("trackers") / "results"
    run_dir = results / "runs" / "digits" / "three" / "vgg16_small" / "seed1"
    synthetic_runs.write_run(run_dir, *RUN.values(), accuracy=0.8, epoch_seconds=1.0, params=1000, epochs=4,
                             block=BLOCK)
    return read_record(run_dir)


def test_the_params_are_the_identity_and_the_settings_that_took_effect(record):
    params = record.params
    assert params == run_params(RUN, BLOCK)
    assert {k: params[k] for k in RUN} == RUN
    assert params["head.hidden"] == "[256, 128]" and params["head.norm"] == "false"
    assert params["lr_base"] == "null" and params["augment"] == "{}" and params["pretrained"] == "true"
    assert params["lr"] == 0.02 and params["keep_blocks"] == 3 and params["arch"] == "vgg16"
    # Keys that take no effect for this block are no params (plan/settings.py).
    assert not {"dropout", "momentum", "nesterov"} & set(params)


# --- reading each tracker back --------------------------------------------------------------------


def tensorboard_hparams(folder: Path) -> dict:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.plugins.hparams import plugin_data_pb2

    events = EventAccumulator(str(folder), size_guidance={"scalars": 0, "tensors": 0})
    events.Reload()
    for content in events.PluginTagToContent("hparams").values():
        data = plugin_data_pb2.HParamsPluginData.FromString(content)
        if data.HasField("session_start_info"):
            return {name: getattr(value, value.WhichOneof("kind"))
                    for name, value in data.session_start_info.hparams.items()}
    raise AssertionError(f"no hparams in {folder}")


def tensorboard_live(record, folder: Path) -> dict:
    """The run's epochs fed to TensorBoard's live logger as training feeds them."""
    history = [{k: float(v) for k, v in row.items()} for row in record.history]
    live = LiveLoggers([LiveCurves(folder)])
    live.start(RUN, BLOCK)
    for row in history:
        live.epoch(int(row["epoch"]), row)
    live.finish(final_metrics(history))
    return tensorboard_hparams(folder)


def mlflow_params(record, tmp_path: Path) -> dict:
    mlflow = pytest.importorskip("mlflow", reason="mlflow is in requirements-track.txt")
    from cnncompare.track.mlflow_export import MlflowExporter

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    report = tmp_path / "report.html"
    report.write_text("<html></html>")
    exporter = MlflowExporter(uri, "trackers", report, artifact_location=(tmp_path / "mlruns").as_uri())
    assert exporter.export(record)["action"] == "added"
    (run,) = mlflow.tracking.MlflowClient(uri).search_runs([exporter.experiment_id])
    return run.data.params


def wandb_run(record, results: Path, monkeypatch):
    pytest.importorskip("wandb", reason="wandb is in requirements-track.txt")
    from cnncompare.track.wandb_offline import WandbExporter
    from wandb_files import read_offline_run

    for name in offline_env(results):  # the exporter sets them; put back what was there after the test
        monkeypatch.delenv(name, raising=False)
    exporter = WandbExporter(results / "wandb", "trackers")
    done = exporter.export(record)
    exporter.close()  # W&B's service writes the run file out on its own time
    return exporter, done, read_offline_run(done["folder"])


def test_tensorboard_mlflow_and_wandb_record_the_same_params(record, tmp_path, monkeypatch):
    params = record.params
    hparams = tensorboard_live(record, tmp_path / "tensorboard")
    # TensorBoard keeps numbers as numbers (read back as floats: 3 == 3.0) and texts as texts.
    assert hparams == params
    # MLflow keeps every param as text: the same values, written as text.
    assert mlflow_params(record, tmp_path) == {k: as_text(v) for k, v in params.items()}
    _, _, offline = wandb_run(record, tmp_path / "results", monkeypatch)
    assert offline["config"] == params
    print("same params in TensorBoard, MLflow and W&B offline:\n" + json.dumps(params, indent=1))


def test_wandb_writes_offline_under_results_dir_and_connects_to_no_server(record, tmp_path, monkeypatch):
    """Every socket this process opens while exporting goes to W&B's own local
    service (a Unix socket or the loopback address); the run is an offline
    run under results_dir, with the run's curves and figures."""
    connected = []
    real_connect = socket.socket.connect

    def connect(self, address):
        connected.append((self.family, address))
        return real_connect(self, address)

    monkeypatch.setattr(socket.socket, "connect", connect)
    results = tmp_path / "results"
    exporter, done, offline = wandb_run(record, results, monkeypatch)
    for family, address in connected:
        assert family == socket.AF_UNIX or ipaddress.ip_address(address[0]).is_loopback, address
    assert os.environ["WANDB_MODE"] == "offline"
    folder = Path(done["folder"])
    assert folder.parent == results / "wandb" / "wandb" and folder.name.startswith("offline-run-")
    # W&B's logs, cache and settings stay under results_dir too.
    assert all(Path(os.environ[k]).is_relative_to(results) for k in ("WANDB_CACHE_DIR", "WANDB_CONFIG_DIR"))
    # Nothing in the run's own logs speaks of the network (a W&B server's address).
    logs = "".join(p.read_text(errors="replace") for p in folder.rglob("*.log"))
    assert "api.wandb.ai" not in logs and "https://" not in logs
    assert offline["name"] == record.label and offline["project"] == "trackers"
    history = {row["_step"]: row for row in offline["history"]}
    assert sorted(history) == [1, 2, 3, 4]
    assert [history[e]["val_acc"] for e in (1, 2, 3, 4)] == [float(r["val_acc"]) for r in record.history]
    assert offline["summary"]["test_acc"] == record.metrics["test_acc"]
    assert offline["summary"]["status"] == "completed"


NO_NETWORK = """
import sys
from cnncompare.track.wandb_offline import export_runs
print(export_runs([sys.argv[1]], sys.argv[2], "trackers")["runs"])
"""


def test_wandb_exports_with_no_network_at_all(record, tmp_path):
    """In a network namespace of its own (no interface, not even loopback up),
    where any attempt to reach a server fails, the export still succeeds."""
    pytest.importorskip("wandb", reason="wandb is in requirements-track.txt")
    if shutil.which("unshare") is None or subprocess.run(["unshare", "-rn", "true"]).returncode != 0:
        pytest.skip("no unprivileged network namespace here (unshare -rn)")
    scripts = Path(__file__).resolve().parents[1] / "workflow" / "scripts"
    env = {k: v for k, v in os.environ.items() if not k.startswith("WANDB_")}
    proc = subprocess.run(["unshare", "-rn", sys.executable, "-c", NO_NETWORK, str(record.folder),
                           str(tmp_path / "wandb")], capture_output=True, text=True, timeout=240,
                          env={**env, "PYTHONPATH": str(scripts)})
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "'action': 'added'" in proc.stdout
    assert len(list((tmp_path / "wandb" / "wandb").glob("offline-run-*/run-*.wandb"))) == 1


def test_wandb_exports_an_unchanged_run_once_and_replaces_a_retrained_one(record, tmp_path, monkeypatch):
    results = tmp_path / "results"
    exporter, first, _ = wandb_run(record, results, monkeypatch)
    assert first["action"] == "added"
    again = exporter.export(record)
    assert again == {**first, "action": "unchanged"}
    retrained = read_record(record.folder)
    (retrained.folder / "history.csv").write_text((record.folder / "history.csv").read_text() + "\n")
    try:
        replaced = exporter.export(retrained)
    finally:
        (retrained.folder / "history.csv").write_text((record.folder / "history.csv").read_text().rstrip("\n") + "\n")
    assert replaced["action"] == "replaced" and replaced["wandb_run_id"] != first["wandb_run_id"]
    assert [p.name for p in (results / "wandb" / "wandb").glob("offline-run-*")] == [Path(replaced["folder"]).name]


def test_a_missing_wandb_package_names_the_key_that_asked_for_it(tmp_path, monkeypatch):
    from cnncompare.track.wandb_offline import WandbExporter

    monkeypatch.setitem(sys.modules, "wandb", None)  # import wandb now raises ImportError
    for name in offline_env(tmp_path):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(ImportError, match="wandb.enabled"):
        WandbExporter(tmp_path / "wandb", "p")


# --- a live logger only observes ------------------------------------------------------------------


class Broken:
    def __init__(self, fails_at):
        self.fails_at, self.calls = fails_at, []

    def _call(self, name, *args):
        self.calls.append(name)
        if name == self.fails_at:
            raise OSError("disk full")

    def start(self, run, settings):
        self._call("start", run, settings)

    def epoch(self, epoch, values):
        self._call("epoch", epoch, values)

    def finish(self, final):
        self._call("finish", final)


@pytest.mark.parametrize("fails_at", ["start", "epoch", "finish"])
def test_a_failing_live_logger_is_dropped_with_a_warning_and_the_others_go_on(fails_at, caplog):
    broken, fine = Broken(fails_at), Broken(None)
    live = LiveLoggers([broken, fine])
    with caplog.at_level(logging.WARNING, "cnncompare.track"):
        live.start(RUN, BLOCK)
        live.epoch(1, {"val_acc": 0.5})
        live.epoch(2, {"val_acc": 0.6})
        live.finish({"val_acc": 0.6})
    assert fine.calls == ["start", "epoch", "epoch", "finish"]
    # Left out after its failure, but still asked to finish (with None) so that it can close its files.
    assert broken.calls == {"start": ["start", "finish"], "epoch": ["start", "epoch", "finish"],
                            "finish": ["start", "epoch", "epoch", "finish", "finish"]}[fails_at]
    assert len([r for r in caplog.records if "disk full" in r.message]) == 1


def test_a_live_logger_does_not_swallow_the_signal_that_stops_training():
    class Stopping(Broken):
        def epoch(self, epoch, values):
            raise SystemExit(143)

    with pytest.raises(SystemExit):
        LiveLoggers([Stopping(None)]).epoch(1, {})


# --- through Snakemake: one workflow test -----------------------------------------------------------


@pytest.mark.workflow
def test_wandb_enabled_puts_the_export_in_the_default_target(tmp_path):
    """The real aggregate_results, render_report and wandb rules on written runs:
    with wandb.enabled a plain `snakemake` ends with every run exported offline."""
    pytest.importorskip("wandb", reason="wandb is in requirements-track.txt")
    from conftest import planned_jobs, snakemake, write_config
    from wandb_files import read_offline_run

    results = tmp_path / "results"
    models = {name: synthetic_runs.MODELS[name] for name in ("custom_cnn", "vgg16")}
    synthetic_runs.write_grid(results, seeds=1, models=models, epochs=3)
    config = {
        "results_dir": str(results), "data_dir": str(tmp_path / "data"), "device": "cpu",
        "models": {name: synthetic_runs.model_block(epochs=3) for name in models},
        "compare": {"datasets": ["digits"], "splits": ["two", "three"], "models": list(models), "seeds": [0]},
    }
    rules = ("--allowed-rules", "aggregate_results", "render_report", "wandb", "--rerun-incomplete")
    off = write_config(tmp_path / "off.yaml", config)
    assert "wandb" not in planned_jobs(snakemake(tmp_path, off, *rules, "-n").stdout)
    on = write_config(tmp_path / "on.yaml", {**config, "wandb": {"enabled": True, "project": "study"}})
    snakemake(tmp_path, on, *rules)
    manifest = json.loads((results / "wandb-export.json").read_text())
    assert manifest["project"] == "study" and len(manifest["runs"]) == 4
    for label, done in manifest["runs"].items():
        offline = read_offline_run(done["folder"])
        run_dir = results / "runs" / label
        assert Path(done["folder"]).is_relative_to(results / "wandb")
        assert offline["config"] == read_record(run_dir).params and offline["project"] == "study"
    assert planned_jobs(snakemake(tmp_path, on, *rules, "-n").stdout) == {}
