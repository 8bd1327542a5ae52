"""Rule make_split: index files of the 'two' or 'three' split variant."""

import numpy as np

from cnncompare.logs import setup_logging
from cnncompare.data.splits import make_split, write_split

setup_logging(snakemake.log[0])
with np.load(snakemake.input.train) as train, np.load(snakemake.input.test) as test:
    # The resolved splits block (val_fraction, seed) for 'three'; nothing for 'two', which draws nothing.
    split = make_split(snakemake.wildcards.split, train["labels"], test["labels"], **snakemake.params.settings)
write_split(snakemake.output[0], split)
