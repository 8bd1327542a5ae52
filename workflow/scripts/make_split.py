"""Rule make_split: index files of the 'two' or 'three' split variant.

A command line, not a `script:`, as prepare_dataset.py says why: a fresh
checkout sharing data_dir must not draw the splits again.
"""

import argparse
import ast

import numpy as np

from cnncompare.logs import setup_logging
from cnncompare.data.splits import make_split, write_split

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--log", required=True)
parser.add_argument("--split", required=True)
# The rule's params as Snakemake formats them: a Python literal (its repr).
parser.add_argument("--settings", required=True, type=ast.literal_eval)
parser.add_argument("train")
parser.add_argument("test")
parser.add_argument("output")
args = parser.parse_args()

setup_logging(args.log)
with np.load(args.train) as train, np.load(args.test) as test:
    # The resolved splits block (val_fraction, seed) for 'three'; nothing for 'two', which draws nothing.
    split = make_split(args.split, train["labels"], test["labels"], **args.settings)
write_split(args.output, split)
