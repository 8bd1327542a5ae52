"""Rule prepare_dataset: an archive (or scikit-learn's digits) -> train.npz, test.npz, classes.json."""

from pathlib import Path

from cnncompare.datasets import prepare_cifar, prepare_digits
from cnncompare.logs import setup_logging

setup_logging(snakemake.log[0])
out_dir = Path(snakemake.output.train).parent
settings = snakemake.params.settings
if snakemake.wildcards.dataset == "digits":
    prepare_digits(out_dir, test_fraction=settings["test_fraction"], seed=settings["seed"])
else:
    prepare_cifar(snakemake.input.archive[0], out_dir)
