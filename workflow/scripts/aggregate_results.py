"""Rule aggregate_results: every run's metrics, history and job benchmarks ->
summary.csv, history.csv."""

from cnncompare.report.aggregate import aggregate
from cnncompare.logs import setup_logging

setup_logging(snakemake.log[0])
aggregate(
    list(snakemake.input.metrics),
    list(snakemake.input.history),
    snakemake.output.summary,
    snakemake.output.history,
    train_benchmarks=list(snakemake.input.train_benchmarks),
    evaluate_benchmarks=list(snakemake.input.evaluate_benchmarks),
)
