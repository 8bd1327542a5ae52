"""Rule render_report: summary.csv, history.csv and each run's files -> one
self-contained report.html, and its figures as SVG files."""

from pathlib import Path

from cnncompare.logs import setup_logging
from cnncompare.report import render_files

setup_logging(snakemake.log[0])
render_files(
    snakemake.input.summary,
    snakemake.input.history,
    snakemake.input.template,
    snakemake.output.report,
    metrics=list(snakemake.input.metrics),
    confusion=list(snakemake.input.confusion),
    misclassified=list(snakemake.input.misclassified),
    figures_dir=snakemake.params.figures_dir,
    descriptions=snakemake.params.descriptions,
    workflow=snakemake.params.workflow,
)
# The complete report supersedes a partial one left by an earlier failed invocation.
Path(snakemake.params.partial_report).unlink(missing_ok=True)
