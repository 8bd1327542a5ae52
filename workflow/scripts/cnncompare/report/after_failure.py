"""The partial report after a failed invocation, from the plan: Snakemake's
onerror hook (workflow/rules/notices.smk) calls write_partial_report here.

Importable in Snakemake's own process, which has no numpy or pandas: the
report's modules are imported only when the hook runs, and a failure to import
or render them is told, never raised (the hook must not hide the job's own error).
"""

from __future__ import annotations

import sys
from pathlib import Path

from cnncompare.plan.runs import run_label


def write_partial_report(plan, template_path: str, out_path: str, workflow: dict | None) -> None:
    """report.partial.html lists the runs that have results and every planned run
    that has none, with its status and last epoch (with --keep-going the other
    runs still finish). It reads only the files that exist, so no rule has to
    depend on a failed run's outputs. plan: a cnncompare.plan.plan.Plan."""
    try:
        from cnncompare.report.partial_report import write_partial_report as write

        # A halved sweep's runs only once they reached its last rung (a pruned run has no results to miss).
        runs = [run for run in plan.runs if plan.halving_of(run.model) is None
                or Path(run.file("train.json")).is_file() or Path(run.file("train.log")).is_file()]
        planned = [{**run.wildcards, "epochs_planned": plan.models[run.model].block["epochs"]} for run in runs]
        folders = {run.label: run.folder for run in plan.runs}
        page = write(
            planned,
            lambda row: folders[run_label(row)],
            template_path,
            out_path,
            models=plan.model_texts(),
            workflow=workflow,
            banner=plan.config["report"]["banner"],
        )
    except Exception as error:  # the hook must not hide the job's own error
        print(f"cnncompare: no partial report ({error})", file=sys.stderr)
        return
    if page is not None:
        print(f"cnncompare: runs without results are listed in {out_path}", file=sys.stderr)
