"""cnncompare: the code behind the workflow's rules.

Each module serves one stage: datasets (download, extract, parse), splits,
models, augment, training, evaluation, costs, aggregate and report. The thin
scripts in workflow/scripts/ read Snakemake's object and call into these.
"""
