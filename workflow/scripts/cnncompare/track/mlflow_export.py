"""Finished runs into an MLflow tracking store (rule mlflow, `snakemake mlflow`): an Exporter.

A store may be a team's, shared by many studies: each run carries its
study's identity (tag `cnncompare.study`: the experiment's name, mlflow.experiment,
by default unique to the results folder), and an export touches only runs of
its own study; another study's runs in the same experiment are never deleted,
replaced or retagged.

One MLflow run per (dataset, split, model, seed) of the study, found again by
its tag `cnncompare.run` (dataset/split/model/seedN), so that exporting twice
adds nothing twice:
- a run whose files (metrics.json, history.csv, confusion.csv) are unchanged
  since its export (tag `cnncompare.files_sha256`) is left as it is; only the
  report is uploaded again, and only when it changed;
- a run whose files changed (trained again) replaces its MLflow run: MLflow
  can add metric values but not take them back, so updating in place would
  leave the old epochs' values beside the new ones;
- a run of the study that is no longer in its config (a removed model, sweep
  variant, seed or data set) is kept, tagged `cnncompare.stale` = true and
  named "<run> (stale)"; every current run has `cnncompare.stale` = false, so
  `tags.cnncompare.stale = 'false'` selects the study as it stands. A stale
  run that comes back into the config is current again.

A store on this machine's disk (SQLite, a file store) is locked for the whole
export, repaired if a broken migration left it empty and unusable, and its
artifact links re-pointed when its folder was moved (track/mlflow_store.py).

What an MLflow run holds (track/record.py decides what, for every tracker):
- tags: dataset, split, model, seed, and metrics.json's other texts (arch,
  status, device, init, ...), the package versions as version.<name>;
- params: the run's params (record.run_params: its identity and the settings
  that took effect, dotted keys), as text, since MLflow keeps params as text;
- metrics: history.csv's columns, one value per epoch with step = epoch; and
  metrics.json's numbers (test_acc, test_loss, the cost figures ...) once,
  the tested epoch's train/val figures as tested.<name>;
- artifacts: history.csv, confusion.csv and the study's report.html.

Imports mlflow: run only inside the rule's job (workflow/envs/track.yaml),
never in Snakemake's own process.
"""

from __future__ import annotations

import logging
import os
import re
from datetime import datetime
from pathlib import Path

from mlflow.entities import Metric, Param
from mlflow.tracking import MlflowClient

from cnncompare.track import mlflow_store
from cnncompare.track.record import RunRecord, as_text, files_digest, read_record

log = logging.getLogger("cnncompare.mlflow")

RUN_TAG = "cnncompare.run"
STUDY_TAG = "cnncompare.study"
STALE_TAG = "cnncompare.stale"
# Where the export ran from (information only: a moved folder is the same study).
RESULTS_TAG = "cnncompare.results_dir"
FILES_TAG = "cnncompare.files_sha256"
# What a run's MLflow copy holds, besides its files: version 2 logs as params the
# run's keys and the settings that take effect (version 1, before it, every key
# of the block). The tag carries it, so a run exported by version 1 is replaced
# once, not kept as "unchanged" with the old params beside new ones.
EXPORT_FORMAT = "2"
REPORT_TAG = "cnncompare.report_sha256"
# MLflow refuses longer values (its limits for tags and params).
MAX_VALUE = 5000
# MLflow's log_batch takes at most 1000 metrics and 100 params per call.
METRIC_BATCH, PARAM_BATCH = 1000, 100


def local_store(results_dir: str | os.PathLike) -> tuple[str, str]:
    """(tracking URI, artifact location) of the store kept under results_dir:
    a SQLite file, mlflow.db, and the artifacts in mlruns/."""
    root = Path(results_dir).resolve()
    return f"sqlite:///{root / 'mlflow.db'}", (root / mlflow_store.ARTIFACTS).as_uri()


def mlflow_name(name: str) -> str:
    """`name` as MLflow accepts a param, metric or tag key: letters, digits, _ - . and
    spaces (a data set's file name in metrics.json's `data` may hold others), no
    leading dot, at most 250 characters."""
    name = re.sub(r"[^\w.\- ]", "_", name)
    return ("_" + name if name.startswith(".") else name)[:250]


def _names(mapping: dict) -> dict:
    return {mlflow_name(key): value for key, value in mapping.items()}


def run_contents(record: RunRecord) -> dict:
    """What one MLflow run records of a run: {'tags', 'params', 'curves', 'figures'}.

    curves: {name: [(epoch, value), ...]}; figures: {name: value}."""
    tags = {**record.texts(), RUN_TAG: record.label}
    params = {key: as_text(value) for key, value in record.params.items()}
    return {
        "tags": {k: v[:MAX_VALUE] for k, v in _names(tags).items()},
        "params": {k: v[:MAX_VALUE] for k, v in _names(params).items()},
        "curves": _names(record.curves()),
        "figures": _names(record.figures()),
    }


def _started_ms(metrics: dict) -> int | None:
    try:
        return int(datetime.fromisoformat(metrics["started_at"]).timestamp() * 1000)
    except (KeyError, TypeError, ValueError):
        return None


def _experiment_id(client: MlflowClient, name: str, artifact_location: str | None) -> str:
    experiment = client.get_experiment_by_name(name)
    if experiment is None:
        return client.create_experiment(name, artifact_location=artifact_location)
    if experiment.lifecycle_stage == "deleted":
        client.restore_experiment(experiment.experiment_id)
    return experiment.experiment_id


def _existing_runs(client: MlflowClient, experiment_id: str, study: str) -> tuple[dict[str, list], int]:
    """({cnncompare.run tag: [active MLflow runs of `study`]}, how many active runs
    of the experiment belong to another study, or to none)."""
    found: dict[str, list] = {}
    others = 0
    token = None
    while True:
        page = client.search_runs([experiment_id], max_results=1000, page_token=token)
        for run in page:
            tags = run.data.tags
            if tags.get(STUDY_TAG) == study and tags.get(RUN_TAG):
                found.setdefault(tags[RUN_TAG], []).append(run)
            else:
                others += 1
        token = page.token
        if not token:
            return found, others


def _log_run(client: MlflowClient, experiment_id: str, record: RunRecord, files_sha: str, study: dict) -> str:
    contents = run_contents(record)
    started = _started_ms(record.metrics)
    tags = {**contents["tags"], **study, FILES_TAG: files_sha, STALE_TAG: "false"}
    run = client.create_run(experiment_id, start_time=started, tags=tags, run_name=tags[RUN_TAG])
    run_id = run.info.run_id
    # Each epoch's values at the time the epoch ended, when the start is known.
    stamp = started or int(datetime.now().timestamp() * 1000)
    elapsed = dict(contents["curves"].get("elapsed_seconds", []))
    points = [Metric(name, value, stamp + int(elapsed.get(epoch, 0) * 1000), epoch)
              for name, values in contents["curves"].items() for epoch, value in values]
    points += [Metric(name, value, stamp, 0) for name, value in contents["figures"].items()]
    params = [Param(k, v) for k, v in contents["params"].items()]
    for start in range(0, len(params), PARAM_BATCH):
        client.log_batch(run_id, params=params[start:start + PARAM_BATCH])
    for start in range(0, len(points), METRIC_BATCH):
        client.log_batch(run_id, metrics=points[start:start + METRIC_BATCH])
    for name in ("history.csv", "confusion.csv"):
        if name in record.files:  # a pruned run of a halved sweep has no confusion.csv
            client.log_artifact(run_id, str(record.folder / name))
    return run_id


class MlflowExporter:
    """Finished runs into `experiment` of the store at `tracking_uri`, each with
    the study's report; an Exporter (track/tracker.py)."""

    def __init__(self, tracking_uri: str, experiment: str, report: str | os.PathLike,
                 artifact_location: str | None = None, results_dir: str | os.PathLike = "."):
        self.client = MlflowClient(tracking_uri=tracking_uri)
        self.tracking_uri, self.experiment = tracking_uri, experiment
        self.experiment_id = _experiment_id(self.client, experiment, artifact_location)
        self._existing, others = _existing_runs(self.client, self.experiment_id, experiment)
        if others:
            log.info("experiment %s: %d runs of other studies (no %s tag of %r) are left as they are",
                     experiment, others, STUDY_TAG, experiment)
        self._study_tags = {STUDY_TAG: experiment, RESULTS_TAG: str(Path(results_dir).resolve())}
        self.report = Path(report)
        self._report_sha = files_digest([self.report])

    def export(self, record: RunRecord) -> dict:
        """{'mlflow_run_id', 'action'}: what was done, 'added', 'replaced', 'unchanged'
        or 'current again' (a stale run back in the config, unchanged). Only runs
        of this study are replaced."""
        client, label = self.client, record.label
        files_sha = f"v{EXPORT_FORMAT}:{record.files_digest()}"
        previous = self._existing.get(label, [])
        keep = next((r for r in previous
                     if r.data.tags.get(FILES_TAG) == files_sha and r.info.status == "FINISHED"), None)
        for run in previous:  # older exports of this run, or a copy an interrupted export left
            if run is not keep:
                client.delete_run(run.info.run_id)
        if keep is not None:
            run_id, action = keep.info.run_id, "unchanged"
            old_report = keep.data.tags.get(REPORT_TAG)
            if keep.data.tags.get(STALE_TAG) != "false":  # back in the config (or exported before stale tags)
                client.set_tag(run_id, STALE_TAG, "false")
                client.update_run(run_id, name=label)
                action = "current again" if keep.data.tags.get(STALE_TAG) == "true" else action
        else:
            run_id = _log_run(client, self.experiment_id, record, files_sha, self._study_tags)
            action, old_report = ("replaced" if previous else "added"), None
        if old_report != self._report_sha:
            client.log_artifact(run_id, str(self.report))
            client.set_tag(run_id, REPORT_TAG, self._report_sha)
        if keep is None:
            # Finished last: an export interrupted before this leaves a run that is
            # not FINISHED, which the next export replaces.
            ended = _started_ms(record.metrics)
            seconds = sum(record.metrics.get(k) or 0 for k in ("setup_seconds", "train_seconds", "eval_seconds"))
            client.set_terminated(run_id, end_time=ended + int(seconds * 1000) if ended else None)
        log.info("%s: %s (MLflow run %s)", label, action, run_id)
        return {"mlflow_run_id": run_id, "action": action}

    def mark_stale(self, current: set[str]) -> dict[str, str]:
        """Tag stale every run of the study whose label is not in `current` (its
        model, variant, seed or data set left the config); {label: MLflow run id}."""
        stale = {}
        for label, runs in sorted(self._existing.items()):
            if label in current:
                continue
            for run in runs:
                if run.data.tags.get(STALE_TAG) != "true":
                    self.client.set_tag(run.info.run_id, STALE_TAG, "true")
                    self.client.update_run(run.info.run_id, name=f"{label} (stale)")
                    log.info("%s: stale, no longer in the config (MLflow run %s)", label, run.info.run_id)
                stale[label] = run.info.run_id
        return stale


def export_runs(run_dirs, report: str | os.PathLike, tracking_uri: str, experiment: str,
                artifact_location: str | None = None, results_dir: str | os.PathLike = ".",
                pruned: list[RunRecord] = ()) -> dict:
    """Put every run of `run_dirs` into `experiment` of the store at
    `tracking_uri`, as the study `experiment`, and tag stale the study's runs
    that are not among them; returns the manifest: the store, the experiment,
    for each run label its MLflow run id and what was done ('added',
    'replaced', 'unchanged', 'current again'), and the stale runs."""
    if artifact_location is None:
        artifact_location = mlflow_store.artifact_location(tracking_uri)
    with mlflow_store.store_lock(tracking_uri):
        mlflow_store.repair_half_migrated(tracking_uri)
        mlflow_store.repoint_artifacts(tracking_uri)
        exporter = MlflowExporter(tracking_uri, experiment, report, artifact_location, results_dir)
        exported = {}
        # `pruned`: the pruned runs of halved sweeps (record.read_pruned_records), tagged so.
        for record in [*map(read_record, run_dirs), *pruned]:
            exported[record.label] = exporter.export(record)
        stale = exporter.mark_stale(set(exported))
    return {"tracking_uri": tracking_uri, "experiment": experiment, "experiment_id": exporter.experiment_id,
            "runs": exported, "stale": stale}
