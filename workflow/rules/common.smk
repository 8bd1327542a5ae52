# Config handling and input functions: all Python logic of the rules lives here.
import os
import subprocess
import sys
from pathlib import Path

# `report` starts a keyword line in a Snakefile: the flag goes by another name here.
from snakemake.io import report as report_flag

sys.path.insert(0, str(Path(workflow.basedir) / "workflow" / "scripts"))

# Everything imported here is free of torch and numpy: Snakemake's own process
# plans (and downloads) with nothing but Snakemake, PyYAML and jsonschema.
from cnncompare.plan.archs import weights_file_path
from cnncompare.plan.config import key_sorted
from cnncompare.data.datasets import download
from cnncompare.data.formats import (
    download_files,
    expected_md5s,
    file_source,
    image_roots,
)
from cnncompare.logs import setup_logging
from cnncompare.plan.plan_checks import (
    PlanError,
    lost_run_files,
    make_plan,
    missing_prepared_data,
)
from cnncompare.plan.runs import (
    WILDCARDS,
    grid_runs,
    resume_checkpoint,
    run_dir,
    tensorboard_dir,
)
from cnncompare.plan.sizing import job_limits
from cnncompare.plan.sweeps import run_count_line
from cnncompare.plan.report_files import (
    COMPARISON_FIGURES,
    comparison_figure,
    run_figure_pattern,
    run_figures_dir,
)

# Every check before the first job lives in cnncompare/plan/plan_checks.py.
try:
    PLAN = make_plan(
        config,
        command_line=workflow.config_settings.config,
        config_files=workflow.config_settings.configfiles,
        workflow_dir=workflow.basedir,
    )
except PlanError as error:
    raise WorkflowError(str(error)) from None
CFG = PLAN.config
for warning in PLAN.warnings:
    print(f"cnncompare: warning: {warning}", file=sys.stderr)
print(f"cnncompare: {run_count_line(CFG['compare'], PLAN.sweeps)}", file=sys.stderr)

DATA = CFG["data_dir"].rstrip("/")
RESULTS = CFG["results_dir"].rstrip("/")
WEIGHTS = CFG["weights_dir"].rstrip("/")
# performance.runs_per_gpu says where jobs run, not what they compute: it is no
# param of a job (a param is a rerun trigger), but a resource (see share_gpus).
RUNS_PER_GPU = CFG["performance"]["runs_per_gpu"]
PERFORMANCE = key_sorted(  # same for every run
    {k: v for k, v in CFG["performance"].items() if k != "runs_per_gpu"}
)
REPORT_TEMPLATE = str(Path(workflow.basedir) / "report" / "report.html.j2")


def data_path(name):
    """A path under data_dir (downloads, prepared arrays, splits, their logs)."""
    return f"{DATA}/{name}"


def results_path(name):
    """A path under results_dir."""
    return f"{RESULTS}/{name}"


def run_path(name):
    """A file of one run, with the run's wildcards still in it."""
    return f"{run_dir(RESULTS, WILDCARDS)}/{name}"


def run_checkpoint(wildcards):
    """The file a run's training resumes from (outside its folder: Snakemake
    deletes a failed job's outputs)."""
    return resume_checkpoint(RESULTS, {key: wildcards[key] for key in WILDCARDS})


def run_tensorboard(wildcards):
    """The folder of a run's TensorBoard event files (outside its folder too)."""
    return tensorboard_dir(RESULTS, {key: wildcards[key] for key in WILDCARDS})


REPORT = results_path("report.html")
PARTIAL_REPORT = results_path("report.partial.html")
FIGURES = results_path("figures")


wildcard_constraints:
    dataset="[a-z0-9_]+",
    split="two|three",
    model="[A-Za-z0-9][A-Za-z0-9_.-]*",
    seed="[0-9]+",
    file="[A-Za-z0-9_.-]+",


PLANNED_RUNS = grid_runs(CFG["compare"])


def planned_runs():
    """Every (dataset, split, model, seed) of the compare grid."""
    return PLANNED_RUNS


def run_files(name):
    """`name` in every planned run's folder."""
    pattern = run_path(name)
    return [pattern.format(**run) for run in PLANNED_RUNS]


def dataset_block(wildcards):
    return CFG["datasets"][wildcards.dataset]


def dataset_downloads(wildcards):
    """The files download_dataset fetches for a data set (none for a local one)."""
    files = download_files(dataset_block(wildcards))
    return [data_path(f"downloads/{wildcards.dataset}/{f}") for f in files]


def download_source(wildcards):
    """(url, md5) of one file of a data set."""
    try:
        return file_source(dataset_block(wildcards), wildcards.file)
    except KeyError as error:
        raise WorkflowError(f"datasets.{wildcards.dataset}: {error.args[0]}") from None


def image_folders(wildcards):
    """The class folders of an image-folder data set, as inputs: adding,
    removing or renaming an image changes its folder's time stamp, so the data
    set is prepared again."""
    return sorted(
        str(p)
        for root in image_roots(dataset_block(wildcards))
        for p in Path(root).iterdir()
        if p.is_dir() and not p.name.startswith(".")
    )


def prepare_params(wildcards):
    # url and md5 identify the downloads, which are this rule's input already.
    block = dataset_block(wildcards)
    return key_sorted({k: v for k, v in block.items() if k not in ("url", "md5")})


def split_params(wildcards):
    return key_sorted(CFG["splits"]) if wildcards.split == "three" else {}


def prepared_data(dataset, split):
    """The prepared files of a data set and the split file a run of it reads."""
    return {
        "train": data_path(f"{dataset}/train.npz"),
        "test": data_path(f"{dataset}/test.npz"),
        "classes": data_path(f"{dataset}/classes.json"),
        "prepared": data_path(f"{dataset}/prepared.json"),
        "split": data_path(f"{dataset}/splits/{split}.npz"),
    }


def run_data(wildcards):
    return prepared_data(wildcards.dataset, wildcards.split)


# The pretrained weights of the grid's models, from the torchvision table shipped
# with the package (cnncompare/plan/torchvision_archs.json), checked by the plan.
PRETRAINED = PLAN.weights
WEIGHTS_FILES = {weights.file: weights for weights in PRETRAINED.values()}


def planned_weights(file):
    if file not in WEIGHTS_FILES:
        raise WorkflowError(
            f"no model in compare.models needs the weights file {file}; "
            f"planned: {', '.join(sorted(WEIGHTS_FILES)) or 'none'}"
        )
    return WEIGHTS_FILES[file]


def model_weights(wildcards):
    """The weights file a pretrained model trains from (none for a random start)."""
    if wildcards.model in PRETRAINED:
        return {"weights": weights_file_path(WEIGHTS, PRETRAINED[wildcards.model].file)}
    return {}


def model_weights_label(wildcards):
    return PRETRAINED[wildcards.model].label if wildcards.model in PRETRAINED else None


# Keys of a model block that are text for the report: editing them re-renders the report only.
REPORT_ONLY_KEYS = ("description", "reference")


# Each model's settings, sorted once: two jobs per run ask for them.
MODEL_PARAMS = {
    name: key_sorted({k: v for k, v in block.items() if k not in REPORT_ONLY_KEYS})
    for name, block in CFG["models"].items()
}


def model_params(wildcards):
    return MODEL_PARAMS[wildcards.model]


# Each variant of a swept block: the block and the variant's swept settings.
SWEPT = {
    variant: {"block": block, "keys": entry["keys"], "settings": settings}
    for block, entry in PLAN.sweeps.items()
    for variant, settings in entry["variants"].items()
}


def model_texts():
    """What the report says of each model beyond its runs: description and
    reference figures, and for a variant of a sweep its block and settings."""
    return {
        name: key_sorted(
            {
                **{k: CFG["models"][name][k] for k in REPORT_ONLY_KEYS},
                **({"sweep": SWEPT[name]} if name in SWEPT else {}),
            }
        )
        for name in sorted(CFG["compare"]["models"])
    }


def job_resource(rule_name, key):
    return CFG["resources"][rule_name][key]


def gpu_share(rule_name):
    """A training or evaluation job's extra resources: N, the plan's
    performance.runs_per_gpu, which the job reads to pick a slot of a GPU on a
    machine with several; and when N jobs share a GPU (N above 1), its claim on
    the GPU slots, as many as the GPUs it asks for. With N = 1 the job claims
    its gpu as always."""
    if RUNS_PER_GPU == 1:
        return {"runs_per_gpu": RUNS_PER_GPU}
    return {"gpu_slot": job_resource(rule_name, "gpu"), "runs_per_gpu": RUNS_PER_GPU}


def share_gpus():
    """--resources gpu=K keeps meaning K GPUs. With runs_per_gpu N above 1,
    Snakemake gets K x N gpu_slot, which GPU jobs claim (gpu_share) and which
    limit them; gpu stops limiting them (a resource is a whole number, so a job
    cannot claim 1/N of a GPU). Each job still asks for its gpu: on a cluster
    the SLURM plugin turns that into --gpus, and SLURM gives each job its own GPU."""
    if RUNS_PER_GPU == 1:
        return
    gpus = workflow.global_resources.get("gpu").value
    if not isinstance(gpus, int):
        if workflow.is_main_process:
            print(
                f"cnncompare: performance.runs_per_gpu: {RUNS_PER_GPU} has no effect without "
                "--resources gpu=K (on a cluster each job gets a GPU of its own)",
                file=sys.stderr,
            )
        return
    workflow.global_resources["gpu_slot"] = gpus * RUNS_PER_GPU
    workflow.global_resources["gpu"] = None
    if workflow.is_main_process:
        print(
            f"cnncompare: performance.runs_per_gpu: {RUNS_PER_GPU}: up to "
            f"{gpus * RUNS_PER_GPU} training or evaluation jobs at once on "
            f"{gpus} GPU{'s' if gpus != 1 else ''} (--resources gpu={gpus})",
            file=sys.stderr,
        )


share_gpus()


def job_limit(rule_name, key):
    """mem_mb or runtime of one job: the config's number, or (auto) an estimate
    from the run's model and data set, doubled, tripled... on each retry."""
    setting = job_resource(rule_name, key)
    on_gpu = CFG["device"] != "cpu" and job_resource(rule_name, "gpu") > 0

    def limit(wildcards, attempt):
        if setting != "auto":
            return setting
        model = CFG["models"][wildcards.model]
        dataset = CFG["datasets"][wildcards.dataset]
        return job_limits(rule_name, model, dataset, on_gpu)[key] * attempt

    return limit


REPORT_CAPTION = "../../report/captions/{}.rst"


def comparison_figures():
    """The comparison figures render_report writes, one category of Snakemake's
    report; update(), so a failed render puts the previous ones back."""
    return [
        report_flag(
            update(comparison_figure(FIGURES, name)),
            caption=REPORT_CAPTION.format(name),
            category="Comparison",
            labels={"figure": name},
        )
        for name in COMPARISON_FIGURES
    ]


def run_figures(name):
    """The folder of every run's `name` figure (curves or confusion): one
    directory output, not a file per run, whose size would slow every
    invocation in the number of runs. Snakemake's report files each figure under
    its model, from the wildcards of its path; update(), as above."""
    return report_flag(
        update(directory(run_figures_dir(FIGURES, name))),
        patterns=[run_figure_pattern(name)],
        caption=REPORT_CAPTION.format(f"run_{name}"),
        category="{model}",
        subcategory="{dataset}/{split}",
        labels={"run": "seed{seed}", "figure": name},
    )


def mlflow_tracking_uri():
    """The store the runs go to: mlflow.tracking_uri, else MLFLOW_TRACKING_URI,
    else empty: the export script's local store under results_dir. A param, so
    pointing at another store exports again."""
    return CFG["mlflow"]["tracking_uri"] or os.environ.get("MLFLOW_TRACKING_URI", "")


def mlflow_experiment():
    return CFG["mlflow"]["experiment"] or f"cnncompare-{Path(RESULTS).name}"


def workflow_commit():
    """The git commit of the workflow's own checkout, and whether tracked files
    differ from it; None outside git. Computed here, once per invocation, and
    given to render_report as a param: a new commit re-renders the report only."""

    def git(*args):
        return subprocess.run(
            ["git", "-C", workflow.basedir, *args],
            capture_output=True,
            text=True,
            check=True,
            timeout=30,
        ).stdout.strip()

    try:
        commit = git("rev-parse", "HEAD")
        changed = git("status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.SubprocessError):
        return None
    return {"commit": commit, "uncommitted_changes": bool(changed)}


WORKFLOW_COMMIT = workflow_commit()


def write_partial_report():
    """After a failed invocation (with --keep-going the other runs still
    finish): report.partial.html lists the runs that have results and every
    planned run that has none, with its status and last epoch. It reads only the
    files that exist, so no rule has to depend on a failed run's outputs."""
    try:
        from cnncompare.report.partial_report import write_partial_report as write

        planned = [
            {**run, "epochs_planned": CFG["models"][run["model"]]["epochs"]}
            for run in planned_runs()
        ]
        page = write(
            planned,
            lambda run: run_path("").format(**run),
            REPORT_TEMPLATE,
            PARTIAL_REPORT,
            models=model_texts(),
            workflow=WORKFLOW_COMMIT,
            banner=CFG["report"]["banner"],
        )
    except Exception as error:  # the hook must not hide the job's own error
        print(f"cnncompare: no partial report ({error})", file=sys.stderr)
        return
    if page is not None:
        print(
            f"cnncompare: runs without results are listed in {PARTIAL_REPORT}",
            file=sys.stderr,
        )


def drop_stale_partial_report():
    """Once every planned run has its results, a partial report has nothing left to say."""
    partial = Path(PARTIAL_REPORT)
    if partial.is_file() and all(Path(f).is_file() for f in run_files("metrics.json")):
        partial.unlink()


def tell_of_lost_files():
    """Files Snakemake will not make again by itself, said before the plan: files
    gone from finished runs (with the report up to date it would say "Nothing to
    be done"), and prepared data gone from under runs that have results (made
    again, it would retrain them all). Called once the run rules exist."""
    job_files = {
        name: [*proxy.output, *proxy.log, proxy.benchmark]
        for name, proxy in (
            ("train_model", rules.train_model),
            ("evaluate_model", rules.evaluate_model),
        )
    }
    notes = lost_run_files(planned_runs(), job_files, results_path("summary.csv"))
    finished = {}
    for run, metrics in zip(planned_runs(), run_files("metrics.json")):
        finished[run["dataset"]] = (
            finished.get(run["dataset"], 0) + Path(metrics).is_file()
        )
    prepared = {
        d: sorted(
            {f for s in CFG["compare"]["splits"] for f in prepared_data(d, s).values()}
        )
        for d in CFG["compare"]["datasets"]
    }
    notes += missing_prepared_data(prepared, finished, DATA)
    for note in notes:
        print(f"cnncompare: {note}", file=sys.stderr)
