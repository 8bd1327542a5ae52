"""A run's identity: one (dataset, split, model, seed) of the grid, its label,
its folder, its resume checkpoint, its TensorBoard folder and its figures' folder. The one place that
spells them out; the rules, training, the report and its figure files all ask
here. Importable without torch or numpy (the Snakefile uses it to plan).

A run may hold Snakemake wildcards instead of values ({"dataset": "{dataset}",
...}): every path below is then the rule's pattern.
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


def run_dir(results_dir: str, run: dict) -> str:
    """The folder of a run's files (model.pt, metrics.json, ...)."""
    return f"{results_dir.rstrip('/')}/runs/{run_label(run)}"


def resume_checkpoint(results_dir: str, run: dict) -> str:
    """Where training keeps the state it resumes from while a run trains; outside
    the run's folder, since Snakemake deletes a failed job's outputs there."""
    return f"{results_dir.rstrip('/')}/checkpoints/{run_label(run)}.pt"


def tensorboard_dir(results_dir: str, run: dict) -> str:
    """Where training writes the run's TensorBoard event files, epoch by epoch;
    outside the run's folder too, so a resumed run continues its curves."""
    return f"{results_dir.rstrip('/')}/tensorboard/{run_label(run)}"


def grid_runs(compare: dict) -> list[dict]:
    """Every run of the compare grid, in the order of its lists."""
    return [
        {"dataset": d, "split": s, "model": m, "seed": seed}
        for d in compare["datasets"]
        for s in compare["splits"]
        for m in compare["models"]
        for seed in compare["seeds"]
    ]
