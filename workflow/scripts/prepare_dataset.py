"""Rule prepare_dataset: downloaded files (or a local folder, or scikit-learn's digits) -> train.npz, test.npz, classes.json."""

from pathlib import Path

from cnncompare.data.formats import prepare_dataset
from cnncompare.logs import setup_logging

setup_logging(snakemake.log[0])
prepare_dataset(
    snakemake.params.settings,
    {Path(path).name: path for path in snakemake.input.downloads},
    Path(snakemake.output.train).parent,
    expected_md5=snakemake.params.md5,
)
