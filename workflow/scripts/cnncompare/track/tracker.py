"""The two ways a tracker gets a run, and the guard that keeps training safe.

- A LiveLogger watches a run while it trains (TensorBoard: live_curves.py).
  Training calls start(run, settings) before its first epoch, epoch(epoch,
  values) after each one, and finish(final) at the end: final is
  record.final_metrics(history), or None when training stopped early (a
  failure, SIGTERM), so the logger can close its files either way.
- An Exporter takes finished runs, after training (MLflow: mlflow_export.py,
  W&B offline: wandb_offline.py): export(record) for each run's RunRecord,
  returning what it did, for the rule's manifest.

Both record the same params of a run: record.run_params.
"""

from __future__ import annotations

import logging
from typing import Protocol

from cnncompare.track.record import RunRecord

log = logging.getLogger("cnncompare.track")


class LiveLogger(Protocol):
    def start(self, run: dict, settings: dict) -> None: ...

    def epoch(self, epoch: int, values: dict) -> None: ...

    def finish(self, final: dict | None) -> None: ...


class Exporter(Protocol):
    def export(self, record: RunRecord) -> dict: ...


class LiveLoggers:
    """Several live loggers as one, none of which can fail the training.

    A logger only observes: a logger that raises is reported once as a warning
    and left out from then on (finish(None) still gives it a chance to close),
    and training goes on with the same numbers. Only Exception is caught, so
    SIGTERM's exit (SystemExit) and Ctrl-C still stop the run."""

    def __init__(self, loggers=()):
        self._loggers = list(loggers)
        self._failed: list = []

    def _call(self, logger, method: str, *args) -> None:
        try:
            getattr(logger, method)(*args)
        except Exception as error:  # noqa: BLE001 - a tracker must never stop training
            log.warning("%s.%s failed, it records nothing more of this run (training goes on): %s: %s",
                        type(logger).__name__, method, type(error).__name__, error)
            self._loggers.remove(logger)
            self._failed.append(logger)

    def start(self, run: dict, settings: dict) -> None:
        for logger in list(self._loggers):
            self._call(logger, "start", run, settings)

    def epoch(self, epoch: int, values: dict) -> None:
        for logger in list(self._loggers):
            self._call(logger, "epoch", epoch, values)

    def finish(self, final: dict | None) -> None:
        for logger in list(self._loggers):
            self._call(logger, "finish", final)
        for logger in self._failed:
            try:
                logger.finish(None)
            except Exception:  # noqa: BLE001 - already reported
                pass
        self._loggers, self._failed = [], []
