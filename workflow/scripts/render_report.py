"""Rule render_report: summary.csv, history.csv and each run's files -> one
self-contained report.html, and its figures as SVG files.

Nothing is written unless everything rendered; on a failure Snakemake puts the
previous report and figures back (they are update() outputs), and the log
says why, naming the file and column for bad data."""

import logging
import sys
from pathlib import Path

from cnncompare.logs import setup_logging
from cnncompare.report.render import render_files
from cnncompare.report.report_data import ReportDataError

setup_logging(snakemake.log[0])
try:
    render_files(
        snakemake.input.summary,
        snakemake.input.history,
        snakemake.input.template,
        snakemake.output.report,
        metrics=list(snakemake.input.metrics),
        confusion=list(snakemake.input.confusion),
        misclassified=list(snakemake.input.misclassified),
        predictions=list(snakemake.input.predictions),
        figures_dir=snakemake.params.figures_dir,
        models=snakemake.params.models,
        workflow=snakemake.params.workflow,
        banner=snakemake.params.banner,
        # sweeps/halving.json, an input when the plan halves a sweep (none otherwise).
        halving=next(iter(snakemake.input.halving), None),
    )
except ReportDataError as error:
    logging.getLogger("render_report").critical(
        "the report was not rendered: %s; %s keeps the previous report", error, snakemake.output.report
    )
    sys.exit(1)
# The complete report supersedes a partial one left by an earlier failed invocation.
Path(snakemake.params.partial_report).unlink(missing_ok=True)
