"""Rule summarize_halving: the rungs' decisions and the survivors' runs -> sweeps/halving.json."""

from cnncompare.fileio import write_json
from cnncompare.logs import setup_logging
from cnncompare.report.rungs import halving_record

setup_logging(snakemake.log[0])
write_json(snakemake.output.halving, halving_record(snakemake.params.groups))
