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
other settings. When training ends, the run's params (track/record.py: its
identity and the settings that took effect) are written as hparams with its
final metrics (TensorBoard's HPARAMS tab).
"""

from __future__ import annotations

from pathlib import Path

from cnncompare.track.record import final_metrics, run_params

# history.csv column -> TensorBoard tag.
SCALARS = {
    "train_loss": "loss/train",
    "val_loss": "loss/val",
    "train_acc": "accuracy/train",
    "val_acc": "accuracy/val",
    "lr": "lr",
}


class LiveCurves:
    """The TensorBoard writer of one run: a LiveLogger (track/tracker.py).

    `start` takes the run's params (record.run_params, the same as every
    tracker's); `epoch` adds one history row and flushes, so the curves are on
    disk while the next epoch trains; `finish` writes the params as hparams with
    the final metrics, and closes the writer."""

    def __init__(self, folder):
        self.folder = Path(folder)
        self._writer = None
        self._params: dict = {}

    def start(self, run: dict, settings: dict) -> None:
        self._params = run_params(run, settings)

    def tag(self, tags: dict) -> None:
        """Params beyond the run's settings, written with them at finish: a halved
        sweep's pruned run gets halving.pruned and halving.last_rung (tag_pruned)."""
        self._params.update(tags)

    def _open(self, purge_step: int | None) -> None:
        # Imported here, not with the module: evaluation imports training too, and
        # tensorboard takes about 2 s to import on a CPU machine.
        from torch.utils.tensorboard import SummaryWriter

        self.folder.mkdir(parents=True, exist_ok=True)
        self._writer = SummaryWriter(log_dir=str(self.folder), purge_step=purge_step)

    def epoch(self, epoch: int, values: dict) -> None:
        if self._writer is None:
            # Opened at the first epoch this job trains (after a resume, the one after the
            # checkpoint's), which is where TensorBoard drops what earlier attempts wrote.
            self._open(purge_step=epoch)
        for column, tag in SCALARS.items():
            self._writer.add_scalar(tag, values[column], global_step=epoch)
        self._writer.flush()

    def finish(self, final: dict | None) -> None:
        """The run's params as hparams with its final metrics, which are also
        scalars hparams/<name> at the last epoch (where the HPARAMS tab reads
        them); with final None (training stopped early), only the closing."""
        if final is not None:
            from torch.utils.tensorboard.summary import hparams

            if self._writer is None:  # every epoch was trained by an earlier attempt
                self._open(purge_step=None)
            step = final["epochs_run"]
            metrics = {f"hparams/{name}": float(value) for name, value in final.items()}
            experiment, start, end = hparams(self._params, metrics)
            file_writer = self._writer._get_file_writer()  # the run's own event file, not a new sub-folder
            for summary in (experiment, start, end):
                file_writer.add_summary(summary, global_step=step)
            for name, value in metrics.items():
                self._writer.add_scalar(name, value, global_step=step)
            self._writer.flush()
        if self._writer is not None:
            self._writer.close()
            self._writer = None


def tag_pruned(folder, run: dict, settings: dict, history: list[dict], tags: dict) -> None:
    """Close a pruned run of a halved sweep in TensorBoard: its params with `tags`
    as hparams, and its final metrics at the epoch it stopped (the rung jobs that
    trained it wrote its curves, and could not know it would stop there)."""
    rows = [{key: float(value) for key, value in row.items()} for row in history]
    curves = LiveCurves(folder)
    curves.start(run, settings)
    curves.tag(tags)
    curves.finish(final_metrics(rows))
