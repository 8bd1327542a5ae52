"""A run's name: one (dataset, split, model, seed) of the grid, as logs,
tables and the report name it. A run's paths are answered by the run itself
(cnncompare.plan.plan.Run); the report, training and the trackers, which hold
a run as a row or a dict, name it here. Importable without torch or numpy.
"""

from __future__ import annotations

from cnncompare.columns import RUN_KEYS

# The runs of a rule's pattern: each key as its Snakemake wildcard.
WILDCARDS = {key: "{" + key + "}" for key in RUN_KEYS}


def seed_name(seed) -> str:
    return f"seed{seed}"


def run_label(run: dict) -> str:
    """dataset/split/model/seedN: how logs, tables and the report name a run."""
    return f"{run['dataset']}/{run['split']}/{run['model']}/{seed_name(run['seed'])}"
