"""Finished runs into an MLflow tracking store (rule mlflow, `snakemake mlflow`).

One MLflow run per (dataset, split, model, seed), found again by its tag
`cnncompare.run` (dataset/split/model/seedN), so that exporting twice adds
nothing twice:
- a run whose files (metrics.json, history.csv, confusion.csv) are unchanged
  since its export (tag `cnncompare.files_sha256`) is left as it is; only the
  report is uploaded again, and only when it changed;
- a run whose files changed (trained again) replaces its MLflow run: MLflow
  can add metric values but not take them back, so updating in place would
  leave the old epochs' values beside the new ones.

What an MLflow run holds:
- tags: dataset, split, model, seed, and metrics.json's other texts (arch,
  status, device, init, ...), the package versions as version.<name>;
- params: the model block as trained (metrics.json's `config`), flattened
  with dotted keys (augment.flip, head.hidden);
- metrics: history.csv's columns, one value per epoch with step = epoch; and
  metrics.json's numbers (test_acc, test_loss, the cost figures ...) once.
  metrics.json's train/val figures, which are the tested epoch's, are named
  tested.<name> so they do not mix with the per-epoch curves of that name;
- artifacts: history.csv, confusion.csv and the study's report.html.

Imports mlflow: run only inside the rule's job (workflow/envs/track.yaml),
never in Snakemake's own process.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
from datetime import datetime
from pathlib import Path

from mlflow.entities import Metric, Param
from mlflow.tracking import MlflowClient

from cnncompare.columns import HISTORY_COLUMNS, RUN_KEYS
from cnncompare.fileio import read_csv, read_json
from cnncompare.plan.runs import run_label

log = logging.getLogger("cnncompare.mlflow")

RUN_TAG = "cnncompare.run"
FILES_TAG = "cnncompare.files_sha256"
REPORT_TAG = "cnncompare.report_sha256"
RUN_FILES = ("metrics.json", "history.csv", "confusion.csv")
# history.csv columns that are not curves: the epoch is the step.
NOT_CURVES = {"epoch"}
# metrics.json keys that are part of the run's identity or its params, not figures.
NOT_FIGURES = set(RUN_KEYS) | {"config"}
# MLflow refuses longer values (its limits for tags and params).
MAX_VALUE = 5000
# MLflow's log_batch takes at most 1000 metrics and 100 params per call.
METRIC_BATCH, PARAM_BATCH = 1000, 100


def local_store(results_dir: str | os.PathLike) -> tuple[str, str]:
    """(tracking URI, artifact location) of the store kept under results_dir:
    a SQLite file, mlflow.db, and the artifacts in mlruns/."""
    root = Path(results_dir).resolve()
    return f"sqlite:///{root / 'mlflow.db'}", (root / "mlruns").as_uri()


def mlflow_name(name: str) -> str:
    """`name` as MLflow accepts a param, metric or tag key: letters, digits, _ - . and
    spaces (a data set's file name in metrics.json's `data` may hold others), no
    leading dot, at most 250 characters."""
    name = re.sub(r"[^\w.\- ]", "_", name)
    return ("_" + name if name.startswith(".") else name)[:250]


def flat_items(block: dict, prefix: str = ""):
    """(dotted.key, value) of every leaf of a nested mapping."""
    for key, value in block.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            yield from flat_items(value, f"{name}.")
        else:
            yield name, value


def as_text(value) -> str:
    """Texts as they are, everything else as JSON (true, null, [1024, 512])."""
    return value if isinstance(value, str) else json.dumps(value)


def flatten(block: dict, prefix: str = "") -> dict[str, str]:
    """{dotted.key: text} of a nested mapping (a model block as params)."""
    return {mlflow_name(name): as_text(value) for name, value in flat_items(block, prefix)}


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def run_contents(metrics: dict, history: list[dict]) -> dict:
    """What one MLflow run records of a run: {'tags', 'params', 'curves', 'figures'}.

    curves: {name: [(epoch, value), ...]}; figures: {name: value}."""
    tags = {key: str(metrics[key]) for key in RUN_KEYS}
    tags[RUN_TAG] = run_label(metrics)
    figures = {}
    # Every other leaf of metrics.json: numbers are figures, the rest tags (keys
    # other code adds later, nested ones too, come along without a change here).
    rest = {("version" if k == "versions" else k): v for k, v in metrics.items() if k not in NOT_FIGURES}
    for key, value in flat_items(rest):
        if _is_number(value):
            figures[mlflow_name(f"tested.{key}" if key in HISTORY_COLUMNS else key)] = float(value)
        elif value is not None:
            tags[mlflow_name(key)] = as_text(value)
    curves = {}
    for column in history[0] if history else []:
        if column in NOT_CURVES:
            continue
        try:
            points = [(int(row["epoch"]), float(row[column])) for row in history if row[column] not in ("", None)]
        except ValueError:  # a column of texts, should one be added: not a curve
            log.warning("history.csv column %s holds values that are not numbers: not exported", column)
            continue
        if points:
            curves[mlflow_name(column)] = points
    params = flatten(metrics.get("config") or {})
    return {
        "tags": {k: v[:MAX_VALUE] for k, v in tags.items()},
        "params": {k: v[:MAX_VALUE] for k, v in params.items()},
        "curves": curves,
        "figures": figures,
    }


def files_digest(paths) -> str:
    digest = hashlib.sha256()
    for path in paths:
        digest.update(Path(path).name.encode() + b"\0" + Path(path).read_bytes() + b"\0")
    return digest.hexdigest()


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


def _existing_runs(client: MlflowClient, experiment_id: str) -> dict[str, list]:
    """{cnncompare.run tag: [active MLflow runs]} of the experiment."""
    found: dict[str, list] = {}
    token = None
    while True:
        page = client.search_runs([experiment_id], filter_string=f"tags.`{RUN_TAG}` != ''",
                                  max_results=1000, page_token=token)
        for run in page:
            found.setdefault(run.data.tags.get(RUN_TAG), []).append(run)
        token = page.token
        if not token:
            return found


def _log_run(client: MlflowClient, experiment_id: str, run_dir: Path, metrics: dict, history: list[dict],
             files_sha: str) -> str:
    contents = run_contents(metrics, history)
    started = _started_ms(metrics)
    tags = {**contents["tags"], FILES_TAG: files_sha}
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
        client.log_artifact(run_id, str(run_dir / name))
    return run_id


def export_runs(run_dirs, report: str | os.PathLike, tracking_uri: str, experiment: str,
                artifact_location: str | None = None) -> dict:
    """Put every run of `run_dirs` into `experiment` of the store at
    `tracking_uri`; returns the manifest: the store, the experiment, and for
    each run label its MLflow run id and what was done ('added', 'replaced',
    'unchanged')."""
    client = MlflowClient(tracking_uri=tracking_uri)
    experiment_id = _experiment_id(client, experiment, artifact_location)
    existing = _existing_runs(client, experiment_id)
    report = Path(report)
    report_sha = files_digest([report])
    exported = {}
    for run_dir in map(Path, run_dirs):
        metrics = read_json(run_dir / "metrics.json")
        history = read_csv(run_dir / "history.csv")
        label = run_label(metrics)
        files_sha = files_digest(run_dir / name for name in RUN_FILES)
        previous = existing.get(label, [])
        keep = next((r for r in previous
                     if r.data.tags.get(FILES_TAG) == files_sha and r.info.status == "FINISHED"), None)
        for run in previous:  # older exports of this run, or a copy an interrupted export left
            if run is not keep:
                client.delete_run(run.info.run_id)
        if keep is not None:
            run_id, action = keep.info.run_id, "unchanged"
            old_report = keep.data.tags.get(REPORT_TAG)
        else:
            run_id = _log_run(client, experiment_id, run_dir, metrics, history, files_sha)
            action, old_report = ("replaced" if previous else "added"), None
        if old_report != report_sha:
            client.log_artifact(run_id, str(report))
            client.set_tag(run_id, REPORT_TAG, report_sha)
        if keep is None:
            # Finished last: an export interrupted before this leaves a run that is
            # not FINISHED, which the next export replaces.
            ended = _started_ms(metrics)
            seconds = sum(metrics.get(k) or 0 for k in ("setup_seconds", "train_seconds", "eval_seconds"))
            client.set_terminated(run_id, end_time=ended + int(seconds * 1000) if ended else None)
        log.info("%s: %s (MLflow run %s)", label, action, run_id)
        exported[label] = {"mlflow_run_id": run_id, "action": action}
    return {"tracking_uri": tracking_uri, "experiment": experiment, "experiment_id": experiment_id,
            "runs": exported}
