"""Live training curves: TensorBoard event files written after every epoch.

One folder per run, {results_dir}/tensorboard/{dataset}/{split}/{model}/seed{seed}/,
so `tensorboard --logdir {results_dir}/tensorboard` shows a study while it
trains, each run named dataset/split/model/seedN. The folder is outside the
rule's declared outputs, like the resume checkpoint: Snakemake deletes a failed
job's outputs, and a resumed run continues these curves.

Scalars, with the epoch as global step: loss/train, loss/val, accuracy/train,
accuracy/val, lr. A run resumed after epoch k opens its writer with
purge_step=k+1: TensorBoard then drops whatever an earlier, killed attempt wrote
from that step on, so every step keeps exactly one value. A run trained from the
start purges from step 1, which also clears the curves of an earlier run with
other settings. When training ends, the run's settings are written as hparams
with its final metrics (TensorBoard's HPARAMS tab).
"""

from __future__ import annotations

from pathlib import Path

# history.csv column -> TensorBoard tag.
SCALARS = {
    "train_loss": "loss/train",
    "val_loss": "loss/val",
    "train_acc": "accuracy/train",
    "val_acc": "accuracy/val",
    "lr": "lr",
}


def flatten(settings: dict, prefix: str = "") -> dict:
    """Nested settings as one level of TensorBoard hparams: keys joined by '.',
    values kept when they are bool, int, float or str, else written as text
    (a list of hidden sizes, None)."""
    flat = {}
    for key, value in settings.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten(value, f"{name}."))
        elif isinstance(value, (bool, int, float, str)):
            flat[name] = value
        else:
            flat[name] = str(value)
    return flat


def final_metrics(history: list[dict]) -> dict:
    """What a run ended with: the last epoch's losses and accuracies, the best
    validation accuracy and the epochs run (fewer than planned when it diverged)."""
    final = {key: history[-1][key] for key in ("train_loss", "train_acc", "val_loss", "val_acc")} if history else {}
    final["best_val_acc"] = max((row["val_acc"] for row in history), default=float("nan"))
    final["epochs_run"] = len(history)
    return final


class LiveCurves:
    """The TensorBoard writer of one run. `start` opens it at the first epoch
    this job trains; `epoch` adds one history row and flushes, so the curves
    are on disk while the next epoch trains; `finish` writes the hparams."""

    def __init__(self, folder):
        self.folder = Path(folder)
        self._writer = None

    def start(self, first_epoch: int) -> None:
        # Imported here, not with the module: evaluation imports training too, and
        # tensorboard takes about 2 s to import on a CPU machine.
        from torch.utils.tensorboard import SummaryWriter

        self.folder.mkdir(parents=True, exist_ok=True)
        self._writer = SummaryWriter(log_dir=str(self.folder), purge_step=first_epoch)

    def epoch(self, row: dict) -> None:
        for column, tag in SCALARS.items():
            self._writer.add_scalar(tag, row[column], global_step=row["epoch"])
        self._writer.flush()

    def finish(self, settings: dict, history: list[dict]) -> None:
        """The run's settings as hparams with its final metrics, which are also
        scalars hparams/<name> at the last epoch (where the HPARAMS tab reads them)."""
        from torch.utils.tensorboard.summary import hparams

        step = len(history)
        metrics = {f"hparams/{name}": float(value) for name, value in final_metrics(history).items()}
        experiment, start, end = hparams(flatten(settings), metrics)
        file_writer = self._writer._get_file_writer()  # the run's own event file, not a new sub-folder
        for summary in (experiment, start, end):
            file_writer.add_summary(summary, global_step=step)
        for name, value in metrics.items():
            self._writer.add_scalar(name, value, global_step=step)
        self._writer.flush()

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None
