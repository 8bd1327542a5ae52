"""Plan wing: the config resolved into the plan, in Snakemake's own process.

May import: the standard library, PyYAML, jsonschema, cnncompare's shared
modules (fileio, logs, columns, protocols) and the data wing's numpy-free
facts (a format's files, a split's sizes). Never torch, numpy or pandas:
planning must work where only Snakemake is installed (tests/test_wings.py).
"""
