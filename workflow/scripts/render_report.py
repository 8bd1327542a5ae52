"""Rule render_report: summary.csv and history.csv -> one self-contained report.html."""

from cnncompare.logs import setup_logging
from cnncompare.report import render

setup_logging(snakemake.log[0])
render(
    snakemake.input.summary,
    snakemake.input.history,
    snakemake.input.template,
    snakemake.output[0],
    descriptions=snakemake.params.descriptions,
)
