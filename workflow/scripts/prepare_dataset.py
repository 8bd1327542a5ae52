"""Rule prepare_dataset: an archive (or scikit-learn's digits) -> train.npz, test.npz, classes.json."""

from pathlib import Path

from cnncompare.datasets import prepare_dataset
from cnncompare.logs import setup_logging

setup_logging(snakemake.log[0])
prepare_dataset(
    snakemake.wildcards.dataset,
    Path(snakemake.output.train).parent,
    archive=snakemake.input.archive[0] if snakemake.input.archive else None,
    settings=snakemake.params.settings,
)
