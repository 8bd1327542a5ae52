"""Rule mlflow: every finished run -> an MLflow tracking store (cnncompare/track/mlflow_export.py)."""

from pathlib import Path

from cnncompare.fileio import write_json
from cnncompare.logs import setup_logging
from cnncompare.track.mlflow_export import export_runs, local_store
from cnncompare.track.record import read_pruned_records

setup_logging(snakemake.log[0])
tracking_uri, artifact_location = snakemake.params.tracking_uri, None
if not tracking_uri:
    tracking_uri, artifact_location = local_store(snakemake.params.results_dir)
manifest = export_runs(
    [Path(p).parent for p in snakemake.input.metrics],
    snakemake.input.report,
    tracking_uri,
    snakemake.params.experiment,
    artifact_location=artifact_location,
    results_dir=snakemake.params.results_dir,
    # A halved sweep's pruned runs too, tagged halving.pruned with their last rung.
    pruned=[r for path in snakemake.input.halving for r in read_pruned_records(path)],
)
write_json(snakemake.output.manifest, manifest)
