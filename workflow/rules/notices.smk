# What the workflow tells the user beside its jobs, and its hooks
# (cnncompare/plan/notices.py). Included last: the notice of lost files reads
# the run rules' files.
from cnncompare.report.after_failure import write_partial_report
from cnncompare.plan.writer_lock import LockedError, WriterLock
from snakemake.io import is_flagged

# The plan's warnings and size, on every invocation.
notices.tell(notices.plan_lines(PLAN))
# With runs_per_gpu above 1, --resources gpu=K becomes K x runs_per_gpu gpu_slot.
notices.share_gpus(PLAN, workflow.global_resources, workflow.is_main_process)


def run_job_files():
    """Each run rule's files (outputs first, then log and benchmark) as patterns."""
    return {
        name: [*proxy.output, *proxy.log, proxy.benchmark]
        for name, proxy in (
            ("train_model", rules.train_model),
            ("evaluate_model", rules.evaluate_model),
        )
    }


# Files Snakemake will not make again by itself, said before the plan.
notices.tell(notices.lost_files(PLAN, run_job_files()))


# One writer per results folder (cnncompare/plan/writer_lock.py): onstart runs
# only when jobs are about to run in the main process (not for --dry-run,
# --lint, --summary, ..., nor in SLURM jobs, which run with --no-hooks).
WRITER_LOCK = WriterLock(PLAN.results_dir)
if workflow.is_main_process:
    # Before Snakemake checks its own locks: those of a killed holder would block every run.
    notices.tell(WRITER_LOCK.clear_locks_of_dead_holder(Path(".snakemake") / "locks"))


def update_outputs():
    """Every update() output of the workflow (the tables, the report, its figures)."""
    return [f for r in workflow.rules for f in r.output if is_flagged(f, "update")]


onstart:
    try:
        notices.tell(WRITER_LOCK.acquire())
    except LockedError as error:
        raise WorkflowError(str(error)) from None
    # What a killed invocation left in Snakemake's backups (cnncompare/plan/notices.py).
    notices.tell(
        notices.clear_killed_backups(
            Path(workflow.persistence.path) / "backups", update_outputs()
        )
    )


onsuccess:
    notices.drop_stale_partial_report(PLAN)
    WRITER_LOCK.release()


onerror:
    write_partial_report(PLAN, REPORT_TEMPLATE, PARTIAL_REPORT, WORKFLOW_COMMIT)
    WRITER_LOCK.release()
