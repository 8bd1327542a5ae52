"""Rule make_split: index files of the 'two' or 'three' split variant."""

import numpy as np

from cnncompare.logs import setup_logging
from cnncompare.data.splits import make_split, write_split

setup_logging(snakemake.log[0])
settings = snakemake.params.settings
with np.load(snakemake.input.train) as train, np.load(snakemake.input.test) as test:
    split = make_split(
        snakemake.wildcards.split,
        train["labels"],
        test["labels"],
        val_fraction=settings.get("val_fraction", 0.0),
        seed=settings.get("seed", 0),
    )
write_split(snakemake.output[0], split)
