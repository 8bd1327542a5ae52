"""Plan wing: the config resolved into the plan, in Snakemake's own process.

plan.make_plan builds the one frozen Plan (runs, models, data sets, weights,
warnings, limits) from config.resolve_config's completed config and the checks
of plan_checks; notices says what the plan tells the user. The rest are its
facts: sweeps, settings, sizing, archs and arch_facts, runs, report_files.

May import: the standard library, PyYAML, jsonschema, cnncompare's shared
modules (fileio, logs, columns, protocols) and the data wing's numpy-free
facts (a format's files, a split's sizes). Never torch, numpy or pandas:
planning must work where only Snakemake is installed (tests/test_wings.py).
"""
