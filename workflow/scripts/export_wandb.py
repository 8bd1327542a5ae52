"""Rule wandb: every finished run -> an offline W&B run (cnncompare/track/wandb_offline.py)."""

from pathlib import Path

from cnncompare.fileio import write_json
from cnncompare.logs import setup_logging
from cnncompare.track.record import read_pruned_records
from cnncompare.track.wandb_offline import export_runs

setup_logging(snakemake.log[0])
manifest = export_runs(
    [Path(p).parent for p in snakemake.input.metrics],
    snakemake.params.dir,
    snakemake.params.project,
    # A halved sweep's pruned runs too, halving.pruned with their last rung in the summary.
    pruned=[r for path in snakemake.input.halving for r in read_pruned_records(path)],
)
write_json(snakemake.output.manifest, manifest)
