"""Where render_report writes its figure files (for Snakemake's --report),
importable without numpy or jinja2: the rule lists the same paths as its outputs.

The four comparison figures are files of their own. The runs' figures go into
one folder per kind (curves/, confusion/), each declared as a single directory
output: a rule with two files per run among its outputs made every Snakemake
invocation, a no-op included, slow in the number of runs (91 s for 1,000 runs).
"""

from __future__ import annotations

COMPARISON_FIGURES = ["accuracy", "loss", "tradeoff_time", "tradeoff_params"]
RUN_FIGURES = ["curves", "confusion"]


def comparison_figure(figures_dir: str, name: str) -> str:
    return f"{figures_dir}/comparison/{name}.svg"


def run_figures_dir(figures_dir: str, name: str) -> str:
    """The folder of every run's figure of one kind (curves or confusion)."""
    return f"{figures_dir}/{name}"


def run_figure_pattern(name: str) -> str:
    """A run's figure inside its kind's folder, model first, so Snakemake's report
    files each under its model (the wildcards name the report's category and
    labels); the file name says the kind, as in a downloaded report."""
    return "{model}/{dataset}/{split}/seed{seed}_" + name + ".svg"


def run_figure(figures_dir: str, run: dict, name: str) -> str:
    """A figure of one run."""
    return f"{run_figures_dir(figures_dir, name)}/" + run_figure_pattern(name).format(
        model=run["model"], dataset=run["dataset"], split=run["split"], seed=run["seed"])
