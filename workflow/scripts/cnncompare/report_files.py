"""Where render_report writes its figure files (for Snakemake's --report),
importable without numpy or jinja2: the rule lists the same paths as its outputs."""

from __future__ import annotations

from cnncompare.runs import figure_dir

COMPARISON_FIGURES = ["accuracy", "loss", "tradeoff_time", "tradeoff_params"]
RUN_FIGURES = ["curves", "confusion"]


def comparison_figure(figures_dir: str, name: str) -> str:
    return f"{figures_dir}/comparison/{name}.svg"


def run_figure(figures_dir: str, run: dict, name: str) -> str:
    """A figure of one run (model first, so Snakemake's report files it under its model)."""
    return f"{figure_dir(figures_dir, run)}/{name}.svg"
