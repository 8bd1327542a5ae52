"""Rule wandb: every finished run -> an offline W&B run (cnncompare/track/wandb_offline.py)."""

from pathlib import Path

from cnncompare.fileio import write_json
from cnncompare.logs import setup_logging
from cnncompare.track.wandb_offline import export_runs

setup_logging(snakemake.log[0])
manifest = export_runs(
    [Path(p).parent for p in snakemake.input.metrics],
    snakemake.params.dir,
    snakemake.params.project,
)
write_json(snakemake.output.manifest, manifest)
