"""What the workflow tells the user at plan time and after an invocation,
and what it changes in Snakemake's own settings, from the Plan.

The Snakefile's hooks (workflow/rules/notices.smk) and common.smk call these
with the plan and the few Snakemake objects they need; nothing here builds or
re-derives a fact of the plan. Printed lines start with "cnncompare: " on
standard error.

Importable without torch or numpy: it runs in Snakemake's own process.
"""

from __future__ import annotations

import csv
import shutil
import subprocess
import sys
from pathlib import Path

from cnncompare.columns import RUN_KEYS
from cnncompare.plan import halving
from cnncompare.plan.plan import Plan


def tell(lines) -> None:
    for line in lines:
        print(f"cnncompare: {line}", file=sys.stderr)


def plan_lines(plan: Plan) -> list[str]:
    """Said on every invocation once the plan is made: its warnings, then its size."""
    groups = len(plan.config["compare"]["datasets"]) * len(plan.config["compare"]["splits"])
    costs = [line for block in plan.halving.values() for line in halving.cost_lines(block, groups)]
    return [*(f"warning: {warning}" for warning in plan.warnings), plan.run_count, *costs]


def share_gpus(plan: Plan, global_resources, is_main_process: bool) -> None:
    """--resources gpu=K keeps meaning K GPUs. With runs_per_gpu N above 1,
    Snakemake gets K x N gpu_slot, which GPU jobs claim (gpu_share in
    common.smk) and which limit them; gpu stops limiting them (a resource is a
    whole number, so a job cannot claim 1/N of a GPU). Each job still asks for
    its gpu: on a cluster the SLURM plugin turns that into --gpus, and SLURM
    gives each job its own GPU. global_resources: workflow.global_resources."""
    runs_per_gpu = plan.runs_per_gpu
    if runs_per_gpu == 1:
        return
    gpus = global_resources.get("gpu").value
    if not isinstance(gpus, int):
        if is_main_process:
            tell([f"performance.runs_per_gpu: {runs_per_gpu} has no effect without "
                  "--resources gpu=K (on a cluster each job gets a GPU of its own)"])
        return
    global_resources["gpu_slot"] = gpus * runs_per_gpu
    global_resources["gpu"] = None
    if is_main_process:
        tell([gpu_sharing_line(runs_per_gpu, gpus)])


def gpu_sharing_line(runs_per_gpu: int, gpus: int) -> str:
    """What runs_per_gpu does with --resources gpu=K, true for every K (0 included)."""
    if gpus == 0:
        return (f"performance.runs_per_gpu: {runs_per_gpu}: --resources gpu=0 gives no GPU, so no training "
                f"or evaluation job that asks for one can start; give --resources gpu=K for K GPUs, or set "
                f"device: cpu and resources.train_model.gpu and resources.evaluate_model.gpu to 0")
    return (f"performance.runs_per_gpu: {runs_per_gpu}: up to {gpus * runs_per_gpu} training or evaluation "
            f"job{'s' if gpus * runs_per_gpu != 1 else ''} at once on {gpus} GPU{'s' if gpus != 1 else ''} "
            f"(--resources gpu={gpus})")


def workflow_commit(workflow_dir) -> dict | None:
    """The git commit of the workflow's own checkout, and whether tracked files
    differ from it; None outside git. Looked up once per invocation and given
    to render_report as a param: a new commit re-renders the report only."""

    def git(*args):
        return subprocess.run(
            ["git", "-C", str(workflow_dir), *args], capture_output=True, text=True, check=True, timeout=30,
        ).stdout.strip()

    try:
        commit = git("rev-parse", "HEAD")
        changed = git("status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.SubprocessError):
        return None
    return {"commit": commit, "uncommitted_changes": bool(changed)}


def partial_report_path(plan: Plan) -> str:
    return plan.results_path("report.partial.html")


def drop_stale_partial_report(plan: Plan) -> None:
    """Once every planned run has its results, a partial report has nothing left to say.
    A halved sweep's pruned runs never have results: its halving.json, written once its
    survivors trained, stands for them."""
    partial = Path(partial_report_path(plan))
    if partial.is_file() and all(Path(run.file("metrics.json")).is_file() for run in plan.unhalved_runs) \
            and (not plan.halving or Path(plan.halving_file).is_file()):
        partial.unlink()


def lost_files(plan: Plan, job_files: dict[str, list[str]]) -> list[str]:
    """Files Snakemake will not make again by itself, said before the plan: files
    gone from finished runs (with the report up to date it would say "Nothing to
    be done"), and prepared data gone from under runs that have results (made
    again, it would retrain them all). job_files: as lost_run_files takes them."""
    runs = [run.wildcards for run in plan.runs]
    notes = lost_run_files(runs, job_files, plan.results_path("summary.csv"))
    finished: dict[str, int] = {}
    for run in plan.runs:
        finished[run.dataset] = finished.get(run.dataset, 0) + Path(run.file("metrics.json")).is_file()
    compare = plan.config["compare"]
    prepared = {
        d: sorted({f for s in compare["splits"] for f in plan.prepared_data(d, s).values()})
        for d in compare["datasets"]
    }
    return notes + missing_prepared_data(prepared, finished, plan.data_dir)


def lost_run_files(runs: list[dict], job_files: dict[str, list[str]], summary_csv: str) -> list[str]:
    """Lines telling of files gone from runs that summary.csv holds.

    Snakemake makes a missing file again only when something out of date needs it:
    with the report up to date, a deleted metrics.json (or model.pt, a log...) leaves
    "Nothing to be done". job_files: each run rule's files (outputs first, then log and
    benchmark) as patterns of the run's wildcards; the rule's first output is what -R names.
    """
    try:
        with open(summary_csv, newline="") as fh:
            finished = {tuple(str(row.get(k)) for k in RUN_KEYS) for row in csv.DictReader(fh)}
    except (OSError, csv.Error):
        return []
    lost, force = [], []
    for run in runs:
        if tuple(str(run[k]) for k in RUN_KEYS) not in finished:
            continue
        for patterns in job_files.values():
            gone = [p.format(**run) for p in patterns if not Path(p.format(**run)).exists()]
            if gone:
                lost += gone
                force.append(patterns[0].format(**run))
    if not lost:
        return []
    shown = "".join(f"\n    {f}" for f in lost[:20]) + (f"\n    ... and {len(lost) - 20} more" if len(lost) > 20 else "")
    return [
        f"{len(lost)} file{'s' if len(lost) > 1 else ''} of runs in {summary_csv} "
        f"{'are' if len(lost) > 1 else 'is'} missing, and Snakemake does not make a file again while "
        f"what needs it is up to date:{shown}\n  To make them again (and the tables and report after "
        f"them): snakemake -R {' '.join(force)}"
    ]


def missing_prepared_data(prepared: dict[str, list[str]], finished: dict[str, int], data_dir: str) -> list[str]:
    """Lines telling of data sets whose prepared files are gone while runs made on them have results.

    prepared: each data set's prepared files; finished: runs with results, per data set.
    Snakemake does not prepare them again by itself, but when anything does (a model or
    seed added), the new files are newer than every run made on them, and those runs are
    all trained again."""
    lines = []
    for dataset, files in prepared.items():
        gone = [f for f in files if not Path(f).exists()]
        if gone and finished.get(dataset):
            n = finished[dataset]
            runs = f"{n} runs made on it have results" if n > 1 else "a run made on it has results"
            again = "those runs train" if n > 1 else "that run trains"
            lines.append(
                f"the prepared data of {dataset} is missing ({', '.join(gone[:3])}{' ...' if len(gone) > 3 else ''}), "
                f"while {runs}. When it is prepared again (a model or seed added, -R), {again} again, as its "
                f"input data is then newer. Moved data_dir? Leave a symlink at {data_dir} to the new place, or "
                f"see docs/failures.md (data_dir moved) for --touch"
            )
    return lines


def clear_killed_backups(backup_root, outputs: list[str]) -> list[str]:
    """Snakemake copies an update() output to {working dir}/.snakemake/backups/<its path>
    before the job runs and removes the copy after it; a killed invocation leaves the copy,
    and the next job's copy of a folder then fails (FileExistsError) in every later run.
    Called before any job (no job of this working folder runs: Snakemake's own lock): an
    output that is gone is put back from its copy (the last good report), then every copy
    of `outputs` is removed. Returns the lines to tell."""
    root = Path(backup_root)
    told = []
    for output in outputs:
        path = Path(output)
        backup = root / (path.relative_to(path.anchor) if path.is_absolute() else path)
        if not backup.exists() and not backup.is_symlink():
            continue
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            if backup.is_dir():
                shutil.copytree(backup, path)
            else:
                shutil.copy2(backup, path)
            told.append(f"{output} was lost when an invocation was killed: put back from Snakemake's "
                        f"copy {backup}")
        if backup.is_dir() and not backup.is_symlink():
            shutil.rmtree(backup)
        else:
            backup.unlink()
    return told
