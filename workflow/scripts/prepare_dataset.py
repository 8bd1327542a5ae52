"""Rule prepare_dataset: downloaded files (or a local folder, or scikit-learn's digits) -> train.npz, test.npz, classes.json.

A command line, not a `script:`: Snakemake re-runs a `script:` rule whose
script file is newer than its outputs, and a fresh checkout's files are all
new, so a second checkout sharing data_dir would prepare the data set again
and retrain every other checkout's runs on it (docs/failures.md). The prepared
data record what made them (prepared.json: sources and their MD5s).
"""

import argparse
import ast
from pathlib import Path

from cnncompare.data.formats import prepare_dataset
from cnncompare.logs import setup_logging

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--log", required=True)
parser.add_argument("--train", required=True, help="the train.npz to write; the other files go beside it")
# The rule's params as Snakemake formats them: a Python literal (its repr).
parser.add_argument("--settings", required=True, type=ast.literal_eval)
parser.add_argument("--md5", required=True, type=ast.literal_eval)
parser.add_argument("downloads", nargs="*")
args = parser.parse_args()

setup_logging(args.log)
prepare_dataset(
    args.settings,
    {Path(path).name: path for path in args.downloads},
    Path(args.train).parent,
    expected_md5=args.md5,
)
