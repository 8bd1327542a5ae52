"""Checkpoint promote_rung: one rung's runs of a halved sweep -> who goes on."""

from cnncompare.fileio import write_json
from cnncompare.logs import setup_logging
from cnncompare.report.rungs import read_run, rung_record

setup_logging(snakemake.log[0])
rung = snakemake.params.rung
results = {}
for (variant, seed), history, info in zip(rung["runs"], snakemake.input.history, snakemake.input.info):
    results.setdefault(variant, {})[str(seed)] = read_run(history, info, rung["start_epoch"])
write_json(snakemake.output.decision, rung_record(rung["rung"], rung["epochs"], results, rung["eta"], last=False))
