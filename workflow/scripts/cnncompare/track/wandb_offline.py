"""Finished runs as offline Weights & Biases runs (rule wandb): an Exporter.

An exporter, not a live logger, by choice: offline, W&B shows nothing until the
user's `wandb sync`, so logging while training would show nothing sooner, yet
it would start W&B's service process beside every training job and need wandb
in the training environment. From the finished files it cannot change or fail
a run, it runs in its own environment (workflow/envs/wandb.yaml), and it takes
runs trained before it was turned on.

Never a server: WANDB_MODE=offline, and the variables of OFFLINE_ENV (set
before wandb is imported) turn off console capture, git and code capture,
system metrics, error reports (Sentry), and keep W&B's own logs, cache and
settings under `dir` too, so a user's global W&B settings change nothing here.

One offline run per (dataset, split, model, seed), in
{dir}/wandb/offline-run-<time>-<id>; `wandb sync {dir}/wandb/offline-run-*`
uploads them later. The id is made of the run's label, its files' digest and
the project, so exporting an unchanged run again finds its folder and writes
nothing; a run trained again gets a new id, and its older folder is removed
(index.json under `dir` says which folder holds which run), so that a sync
uploads only the current one.

What a W&B run holds (track/record.py decides what, for every tracker):
- name dataset/split/model/seedN, group: the model, tags: dataset, split, model;
- config: the run's params (record.run_params), dotted keys, as TensorBoard's hparams;
- history: history.csv's columns, step = epoch;
- summary: metrics.json's numbers (test_acc, the costs, tested.<name>) and its texts.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
from pathlib import Path

from cnncompare.columns import RUN_KEYS
from cnncompare.fileio import read_json, write_json
from cnncompare.track.record import RunRecord, read_record

log = logging.getLogger("cnncompare.wandb")

INDEX = "index.json"


def offline_env(directory: Path) -> dict[str, str]:
    """The environment under which W&B writes offline, quietly, and only under `directory`."""
    return {
        "WANDB_MODE": "offline",  # no server; `wandb sync` later is the user's step
        "WANDB_SILENT": "true",
        "WANDB_CONSOLE": "off",  # the job's own output is not captured into the run
        "WANDB_DISABLE_GIT": "true",
        "WANDB_DISABLE_CODE": "true",
        "WANDB_ERROR_REPORTING": "false",  # W&B's crash reports (Sentry) would use the network
        "WANDB__DISABLE_STATS": "true",  # no sampling of this exporter's CPU and memory
        "WANDB_DIR": str(directory),
        "WANDB_CACHE_DIR": str(directory / "cache"),
        "WANDB_CONFIG_DIR": str(directory / "config"),
        "WANDB_DATA_DIR": str(directory / "data"),
        "WANDB_ARTIFACT_DIR": str(directory / "artifacts"),
    }


def import_wandb():
    try:
        import wandb
    except ImportError as error:
        raise ImportError(
            "wandb.enabled (or `snakemake wandb`) exports the runs to Weights & Biases, but the wandb "
            "package is not installed here: pip install -r requirements-track.txt, or run with "
            "--sw-deployment-method conda (workflow/envs/wandb.yaml); or set wandb.enabled: false"
        ) from error
    return wandb


def run_id(record: RunRecord, project: str) -> str:
    """The W&B run id of this run's current files in `project` (W&B ids: letters and digits)."""
    return hashlib.sha256(f"{project}\0{record.label}\0{record.files_digest()}".encode()).hexdigest()[:16]


def epoch_rows(record: RunRecord) -> list[tuple[int, dict]]:
    """[(epoch, {curve: value})] in epoch order, from the record's curves."""
    rows: dict[int, dict] = {}
    for name, points in record.curves().items():
        for epoch, value in points:
            rows.setdefault(epoch, {})[name] = value
    return sorted(rows.items())


class WandbExporter:
    """Finished runs into offline W&B runs of `project` under `directory`; an Exporter (track/tracker.py)."""

    def __init__(self, directory, project: str):
        self.directory = Path(directory).resolve()
        self.project = project
        self.runs_dir = self.directory / "wandb"  # where W&B puts its run folders under WANDB_DIR
        self.directory.mkdir(parents=True, exist_ok=True)
        # Before the import: wandb reads some of them (error reports) when imported.
        os.environ.update(offline_env(self.directory))
        self._wandb = import_wandb()
        index = self.directory / INDEX
        self._index: dict = read_json(index) if index.is_file() else {}

    def _folder(self, wandb_id: str) -> Path | None:
        return next(iter(sorted(self.runs_dir.glob(f"offline-run-*-{wandb_id}"))), None)

    def export(self, record: RunRecord) -> dict:
        """{'wandb_run_id', 'folder', 'action'}: action 'added', 'replaced' or 'unchanged'."""
        label, wandb_id = record.label, run_id(record, self.project)
        known = self._index.get(label)
        folder = self._folder(wandb_id)
        if known and known["wandb_run_id"] == wandb_id and folder is not None:
            action = "unchanged"
        else:
            for old in [folder, known and self.runs_dir / known["folder"]]:
                if old and Path(old).exists():  # a superseded export, or one cut short
                    shutil.rmtree(old)
            self._write(record, wandb_id)
            folder = self._folder(wandb_id)
            action = "replaced" if known else "added"
            self._index[label] = {"wandb_run_id": wandb_id, "folder": folder.name}
            write_json(self.directory / INDEX, self._index)
        log.info("%s: %s (offline W&B run %s)", label, action, folder)
        return {"wandb_run_id": wandb_id, "folder": str(folder), "action": action}

    def close(self) -> None:
        """Wait for W&B's service process to write out every run and end."""
        self._wandb.teardown()

    def _write(self, record: RunRecord, wandb_id: str) -> None:
        metrics = record.metrics
        run = self._wandb.init(
            project=self.project, id=wandb_id, name=record.label, dir=str(self.directory),
            group=str(metrics["model"]), tags=[str(metrics[k]) for k in ("dataset", "split", "model")],
            config=record.params, mode="offline",
        )
        try:
            for epoch, values in epoch_rows(record):
                run.log(values, step=epoch)
            texts = {k: v for k, v in record.texts().items() if k not in RUN_KEYS}
            run.summary.update({**texts, **record.figures()})
        finally:
            run.finish()


def export_runs(run_dirs, directory, project: str, pruned: list[RunRecord] = ()) -> dict:
    """Every run of `run_dirs` as an offline W&B run, and the pruned runs of halved
    sweeps (`pruned`: record.read_pruned_records, their halving tags in the summary);
    returns the manifest."""
    exporter = WandbExporter(directory, project)
    exported = {}
    try:
        for record in [*map(read_record, run_dirs), *pruned]:
            exported[record.label] = exporter.export(record)
    finally:
        exporter.close()
    return {"dir": str(exporter.directory), "project": project, "runs": exported,
            "sync": f"wandb sync {exporter.runs_dir}/offline-run-*"}
