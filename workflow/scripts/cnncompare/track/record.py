"""What every tracker records of a run: its params, curves, figures and texts.

The one place that decides which of a run's facts a tracker is given, so that
TensorBoard, MLflow and W&B show the same run the same way:

- params: the run's identity (dataset, split, model, seed) and the settings
  that TOOK EFFECT (plan/settings.py effective_settings, as the report shows
  them), flattened to dotted keys by cnncompare.nested. A leaf that is a text
  or a number is kept as it is; any other leaf (true, null, [1024, 512], {})
  is its JSON text, since no tracker has one type for all of them;
- curves: history.csv's columns, one value per epoch;
- figures: metrics.json's other numbers (test_acc, the costs ...); its train/val
  figures, the tested epoch's, are named tested.<name> beside the curves;
- texts: metrics.json's other leaves that are not numbers (arch, status,
  device, versions as version.<name> ...).
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

from cnncompare.columns import HISTORY_COLUMNS, RUN_KEYS
from cnncompare.fileio import read_csv, read_json
from cnncompare.nested import leaves
from cnncompare.plan.runs import run_label
from cnncompare.plan.settings import effective_settings

log = logging.getLogger("cnncompare.track")

# A run's files an exporter reads; their digest tells a changed run from an exported one.
RUN_FILES = ("metrics.json", "history.csv", "confusion.csv")
# history.csv columns that are not curves: the epoch is the step.
NOT_CURVES = {"epoch"}
# metrics.json keys that are the run's identity or its params, not figures or texts.
NOT_FIGURES = set(RUN_KEYS) | {"config"}


def as_text(value) -> str:
    """Texts as they are, everything else as JSON (true, null, [1024, 512], 0.01)."""
    return value if isinstance(value, str) else json.dumps(value)


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def param_value(leaf) -> str | int | float:
    """A setting as every tracker records it: texts and numbers as they are, the rest as JSON text."""
    return leaf if isinstance(leaf, str) or _is_number(leaf) else as_text(leaf)


def run_params(run: dict, block: dict) -> dict[str, str | int | float]:
    """{dotted key: value} of a run's identity and the settings of `block` that took effect."""
    identity = {key: run[key] for key in RUN_KEYS}
    return {key: param_value(leaf) for key, leaf in leaves({**identity, **effective_settings(block)})}


def final_metrics(history: list[dict]) -> dict:
    """What a run ended with: the last epoch's losses and accuracies, the best
    validation accuracy and the epochs run (fewer than planned when it diverged)."""
    final = {key: history[-1][key] for key in ("train_loss", "train_acc", "val_loss", "val_acc")} if history else {}
    final["best_val_acc"] = max((row["val_acc"] for row in history), default=float("nan"))
    final["epochs_run"] = len(history)
    return final


@dataclass(frozen=True)
class RunRecord:
    """A finished run as its files hold it: metrics.json and history.csv (values as read);
    or a pruned run of a halved sweep (read_pruned_records): its last rung's train.json
    and history.csv, with its halving tags."""

    folder: Path
    metrics: dict
    history: list[dict]
    files: tuple[str, ...] = RUN_FILES  # the run's files in its folder, which its digest reads
    tags: dict = field(default_factory=dict)  # texts beyond metrics.json's (halving.pruned, ...)

    @property
    def label(self) -> str:
        return run_label(self.metrics)

    @property
    def params(self) -> dict[str, str | int | float]:
        return run_params(self.metrics, self.metrics.get("config") or {})

    def files_digest(self) -> str:
        """SHA-256 of the run's files: it changes when the run is trained or evaluated again."""
        return files_digest(self.folder / name for name in self.files)

    def curves(self) -> dict[str, list[tuple[int, float]]]:
        """{history column: [(epoch, value), ...]}, blank values left out."""
        curves = {}
        for column in self.history[0] if self.history else []:
            if column in NOT_CURVES:
                continue
            try:
                points = [(int(row["epoch"]), float(row[column])) for row in self.history
                          if row[column] not in ("", None)]
            except ValueError:  # a column of texts, should one be added: not a curve
                log.warning("history.csv column %s holds values that are not numbers: not exported", column)
                continue
            if points:
                curves[column] = points
        return curves

    def _other_leaves(self):
        # Keys other code adds to metrics.json later, nested ones too, come along without a change here.
        rest = {("version" if k == "versions" else k): v for k, v in self.metrics.items() if k not in NOT_FIGURES}
        return leaves(rest)

    def figures(self) -> dict[str, float]:
        return {(f"tested.{key}" if key in HISTORY_COLUMNS else key): float(value)
                for key, value in self._other_leaves() if _is_number(value)}

    def texts(self) -> dict[str, str]:
        """The identity's and metrics.json's other leaves that are neither numbers nor None, as text."""
        texts = {key: str(self.metrics[key]) for key in RUN_KEYS}
        texts.update((key, as_text(value)) for key, value in self._other_leaves()
                     if not _is_number(value) and value is not None)
        texts.update(self.tags)
        return texts


def read_record(run_dir) -> RunRecord:
    run_dir = Path(run_dir)
    return RunRecord(run_dir, read_json(run_dir / "metrics.json"), read_csv(run_dir / "history.csv"))


def pruned_tags(entry: dict) -> dict[str, str]:
    """What every tracker tags a pruned run of a halved sweep with: halving.json's entry
    of its variant (cnncompare.report.rungs) as texts."""
    return {"halving.pruned": "true", "halving.last_rung": str(entry["last_rung"]),
            "halving.stopped_epoch": str(entry["stopped_epoch"])}


def read_pruned_records(halving_file) -> list[RunRecord]:
    """Every pruned run of sweeps/halving.json: its last rung's folder (train.json in
    place of metrics.json) and history.csv, tagged pruned with its last rung."""
    records = []
    for group in read_json(halving_file)["groups"]:
        for entry in group["variants"].values():
            if not entry["pruned"]:
                continue
            for history in entry["history"].values():
                folder = Path(history).parent
                records.append(RunRecord(folder, read_json(folder / "train.json"), read_csv(history),
                                         files=("train.json", "history.csv"), tags=pruned_tags(entry)))
    return records


def files_digest(paths) -> str:
    digest = hashlib.sha256()
    for path in paths:
        digest.update(Path(path).name.encode() + b"\0" + Path(path).read_bytes() + b"\0")
    return digest.hexdigest()
