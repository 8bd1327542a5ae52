"""Rule tag_pruned_runs: sweeps/halving.json -> each pruned run's TensorBoard folder
closed with its params tagged halving.pruned and its last rung (track/live_curves.py)."""

from cnncompare.fileio import write_json
from cnncompare.logs import setup_logging
from cnncompare.track.live_curves import tag_pruned
from cnncompare.track.record import read_pruned_records

setup_logging(snakemake.log[0])
tagged = {}
for record in read_pruned_records(snakemake.input.halving):
    folder = snakemake.params.tensorboard[record.label]
    run = {key: record.metrics[key] for key in ("dataset", "split", "model", "seed")}
    tag_pruned(folder, run, record.metrics["config"], record.history, record.tags)
    tagged[record.label] = {"tensorboard": folder, **record.tags}
write_json(snakemake.output.tagged, tagged)
