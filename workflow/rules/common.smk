# The plan and the rules' input functions: all Python logic of the rules lives
# here or in the package (the plan: cnncompare/plan/plan.py; what is told to the
# user: cnncompare/plan/notices.py, called from notices.smk).
import os
import sys
from pathlib import Path

# `report` starts a keyword line in a Snakefile: the flag goes by another name here.
from snakemake.io import report as report_flag
from snakemake.sourcecache import LocalSourceFile


def workflow_root():
    """The root of the checkout this file belongs to. The workflow's own files
    (the package, the report template, its git commit) are found from here: used
    as a module from a user's Snakefile, workflow.basedir and the working
    directory are the user's folder."""
    here = workflow.current_basedir  # workflow/rules of the checkout
    if not isinstance(here, LocalSourceFile):
        # Snakemake fetches a remote module's files one at a time, as it reads
        # them; the planner and the jobs import the whole package.
        raise WorkflowError(
            f"cnncompare runs as a module from a local checkout only, not from {here}: "
            "clone it (git clone, at the tag you want) and give its workflow/Snakefile "
            "to `module: snakefile:`"
        )
    return Path(here.get_path_or_uri(secret_free=False)).parents[1]


# The folder of the Snakefile, config.yaml, report/ and workflow/: every path
# of the workflow's own files starts here.
WORKFLOW_ROOT = workflow_root()
sys.path.insert(0, str(WORKFLOW_ROOT / "workflow" / "scripts"))
# Started from a Snakefile of the user's (`module cnncompare: ...`), not this checkout's.
AS_MODULE = Path(workflow.main_snakefile).parent not in (
    WORKFLOW_ROOT,
    WORKFLOW_ROOT / "workflow",
)

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
from cnncompare.protocols import SPLIT_PATTERN
from cnncompare.plan.plan import NETWORK_KEYS, PlanError, make_plan
from cnncompare.plan import notices
from cnncompare.plan.sizing import job_limits
from cnncompare.plan import tracking_store
from cnncompare.plan.report_files import (
    COMPARISON_FIGURES,
    comparison_figure,
    run_figure_pattern,
    run_figures_dir,
)

# The plan, built once: every check before the first job lives in cnncompare/plan/.
try:
    PLAN = make_plan(
        config,
        command_line=workflow.config_settings.config,
        config_files=workflow.config_settings.configfiles,
        workflow_dir=WORKFLOW_ROOT,
    )
except PlanError as error:
    # A module's config is what the user's Snakefile gives it: no note on config.yaml.
    raise WorkflowError(
        str(PlanError(error.problems) if AS_MODULE else error)
    ) from None
CFG = PLAN.config

# performance.runs_per_gpu says where jobs run, not what they compute: it is no
# param of a job (a param is a rerun trigger), but a resource (see gpu_share).
PERFORMANCE = key_sorted(  # same for every run
    {k: v for k, v in CFG["performance"].items() if k != "runs_per_gpu"}
)
REPORT_TEMPLATE = str(WORKFLOW_ROOT / "report" / "report.html.j2")
# The git commit of the workflow, a param of render_report: looked up once per invocation.
WORKFLOW_COMMIT = notices.workflow_commit(WORKFLOW_ROOT)


def skip_script_times_under(folder):
    """Make a script's modification time no rerun trigger for jobs whose outputs
    all lie in `folder` (data.smk says why). Snakemake has no setting per rule
    for it, so its check (Job.outputs_older_than_script_or_notebook) is wrapped,
    once per process; tests/test_shared_state.py checks it still applies."""
    from snakemake.jobs import Job

    check = Job.outputs_older_than_script_or_notebook
    folders = getattr(check, "cnncompare_folders", None)
    if folders is None:
        original, folders = check, set()

        async def outputs_older_than_script(job):
            if job.output and all(
                any(os.path.abspath(f).startswith(d) for d in folders)
                for f in job.output
            ):
                return
            async for f in original(job):
                yield f

        outputs_older_than_script.cnncompare_folders = folders
        Job.outputs_older_than_script_or_notebook = outputs_older_than_script
    folders.add(os.path.join(os.path.abspath(folder), ""))


# A path under data_dir (downloads, prepared arrays, splits, their logs), under results_dir.
data_path = PLAN.data_path
results_path = PLAN.results_path
WEIGHTS = PLAN.weights_dir
# The run of a rule's pattern: its paths hold the run's wildcards.
RUN = PLAN.run_pattern


def run_path(name):
    """A file of one run, with the run's wildcards still in it."""
    return RUN.file(name)


def run_checkpoint(wildcards):
    """The file a run's training resumes from (outside its folder: Snakemake
    deletes a failed job's outputs)."""
    return PLAN.run(wildcards).checkpoint


def run_tensorboard(wildcards):
    """The folder of a run's TensorBoard event files (outside its folder too)."""
    return PLAN.run(wildcards).tensorboard


REPORT = results_path("report.html")
PARTIAL_REPORT = notices.partial_report_path(PLAN)
FIGURES = PLAN.figures_dir
# Every table and figure beside the report, as targets of the rule `all`. Snakemake
# makes a missing file again only when something out of date needs it, so with
# the report up to date a lost summary.csv (a kill during `-R aggregate_results`)
# or figure would stay lost ("Nothing to be done").
REPORT_FILES = [
    results_path("summary.csv"),
    results_path("history.csv"),
    *(comparison_figure(FIGURES, name) for name in COMPARISON_FIGURES),
    *(run_figures_dir(FIGURES, name) for name in ("curves", "confusion")),
]


wildcard_constraints:
    dataset="[a-z0-9_]+",
    split=SPLIT_PATTERN,
    model="[A-Za-z0-9][A-Za-z0-9_.-]*",
    seed="[0-9]+",
    file="[A-Za-z0-9_.-]+",
    network="[A-Za-z0-9_]+-[0-9a-f]{10}",


def run_files(name):
    """`name` in the folder of every run trained to its full epochs, as an input
    function: Snakemake makes a file object of each path of a rule's list when it
    reads the rule, at every start, for the track rules too that a plain run never
    plans (3,000 paths each in a 1,000-run grid); a function's are made only for
    a job. With a halved sweep, which of its variants get there is known as its
    rungs run (finished_runs, workflow/rules/halving.smk)."""
    if not PLAN.halving:
        return lambda wildcards: [run.file(name) for run in PLAN.runs]
    return lambda wildcards: [run.file(name) for run in finished_runs()]


# The halved sweeps' record (halving.smk), which the report reads beside the runs.
HALVING_FILES = [PLAN.halving_file] if PLAN.halving else []


def dataset_block(wildcards):
    return PLAN.datasets[wildcards.dataset]


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


def run_data(wildcards):
    return PLAN.run_data(wildcards.dataset, wildcards.split)


def dataset_files(wildcards):
    return PLAN.dataset_files(wildcards.dataset)


# Each compared model's network (Model.network): its inference cost is measured once.
MODEL_NETWORKS = {name: PLAN.models[name].network for name in PLAN.compared}


def inference_cost(wildcards):
    """The inference figures a run's evaluation copies (rule measure_inference)."""
    return PLAN.inference_cost(wildcards.dataset, MODEL_NETWORKS[wildcards.model])


def network_model(wildcards):
    """The model block measure_inference builds for a network (Plan.networks)."""
    if wildcards.network not in PLAN.networks:
        raise WorkflowError(
            f"no compared model has the network {wildcards.network}; planned: "
            f"{', '.join(sorted(PLAN.networks)) or 'none'}"
        )
    return PLAN.networks[wildcards.network]


def network_params(wildcards):
    """The block measure_inference builds: the network's own settings (NETWORK_KEYS) and no
    training setting, so that changing how its models train, or removing the model it is read
    from, never measures it again. freeze only marks what trains: "none" builds the same network.
    """
    params = MODEL_PARAMS[network_model(wildcards)]
    return {**{key: params[key] for key in NETWORK_KEYS}, "freeze": "none"}


def measuring_alone():
    """measure_inference's claim on the cores: every core of a local run
    (--cores), so that no training job shares them while it times, and 1 for
    "alone"; on a cluster, where each job gets cores of its own (other users'
    jobs may share the node), the evaluation's threads, and 0: both when
    submitting and inside the cluster job (remote_exec), where --cores is the
    job's own allocation."""
    cores = workflow.resource_settings.cores
    if workflow.local_exec and not workflow.remote_exec and isinstance(cores, int):
        return cores, 1
    return job_resource("evaluate_model", "threads"), 0


# The pretrained weights of the grid's models, from the torchvision table shipped
# with the package (cnncompare/plan/torchvision_archs.json), checked by the plan.
WEIGHTS_FILES = {weights.file: weights for weights in PLAN.weights.values()}


def planned_weights(file):
    if file not in WEIGHTS_FILES:
        raise WorkflowError(
            f"no model in compare.models needs the weights file {file}; "
            f"planned: {', '.join(sorted(WEIGHTS_FILES)) or 'none'}"
        )
    return WEIGHTS_FILES[file]


def model_weights(wildcards):
    """The weights file a pretrained model trains from (none for a random start)."""
    weights = PLAN.weights.get(wildcards.model)
    return {"weights": weights_file_path(WEIGHTS, weights.file)} if weights else {}


def model_weights_label(wildcards):
    weights = PLAN.weights.get(wildcards.model)
    return weights.label if weights else None


# Each model's settings, sorted once: two jobs per run ask for them.
MODEL_PARAMS = {name: model.params for name, model in PLAN.models.items()}


def model_params(wildcards):
    return MODEL_PARAMS[wildcards.model]


def job_resource(rule_name, key):
    return CFG["resources"][rule_name][key]


def gpu_share(rule_name):
    """A training or evaluation job's extra resources: N, the plan's
    performance.runs_per_gpu, which the job reads to pick a slot of a GPU on a
    machine with several; and when N jobs share a GPU (N above 1), its claim on
    the GPU slots, as many as the GPUs it asks for. With N = 1 the job claims
    its gpu as always."""
    if PLAN.runs_per_gpu == 1:
        return {"runs_per_gpu": PLAN.runs_per_gpu}
    return {
        "gpu_slot": job_resource(rule_name, "gpu"),
        "runs_per_gpu": PLAN.runs_per_gpu,
    }


def job_limit(rule_name, key, model_of=lambda wildcards: wildcards.model):
    """mem_mb or runtime of one job: the config's number, or (auto) an estimate
    from the run's model (`model_of` its wildcards) and data set, doubled,
    tripled... on each retry."""
    setting = job_resource(rule_name, key)
    on_gpu = CFG["device"] != "cpu" and job_resource(rule_name, "gpu") > 0

    def limit(wildcards, attempt):
        if setting != "auto":
            return setting
        model = PLAN.models[model_of(wildcards)].block
        dataset = PLAN.datasets[wildcards.dataset]
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


# A tracker's experiment or project when the config names none: the study's
# identity, unique to the results folder (cnncompare/plan/tracking_store.py).
STUDY_NAME = tracking_store.study_name(PLAN.results_dir)


def checked_tracking_uri(wildcards):
    """The store the runs go to: mlflow.tracking_uri, else MLFLOW_TRACKING_URI,
    else empty (the export script's local store under results_dir); a param, so
    pointing at another store exports again. Checked when the export is planned,
    before any job: a known scheme, a server or database that answers within
    seconds; else Snakemake stops, naming the key (cnncompare/plan/tracking_store.py).
    Only `snakemake mlflow` plans this job: a server that is down never stops training.
    """
    uri, source = tracking_store.tracking_uri(CFG["mlflow"]["tracking_uri"], os.environ)
    problems = tracking_store.store_problems(uri, source)
    if problems:
        raise WorkflowError("the MLflow export cannot start:\n" + "\n".join(problems))
    return uri


def mlflow_experiment():
    return CFG["mlflow"]["experiment"] or STUDY_NAME


def wandb_dir(wildcards, output):
    """wandb.dir, else <results_dir>/wandb (from the output, as Snakemake sees results_dir)."""
    return CFG["wandb"]["dir"] or str(Path(output.manifest).parent / "wandb")


def wandb_project():
    return CFG["wandb"]["project"] or STUDY_NAME


# With wandb.enabled, every run of the workflow ends with the W&B export (rule wandb).
TRACK_TARGETS = [results_path("wandb-export.json")] if CFG["wandb"]["enabled"] else []
# With a halved sweep, TensorBoard tags its pruned runs (rule tag_pruned_runs, halving.smk).
TRACK_TARGETS += (
    [results_path("sweeps/tensorboard-pruned.json")] if PLAN.halving else []
)


def read_signatures_once(namespace):
    """Snakemake reads an input function's signature (inspect.signature) at each call,
    three times per job and function: with 1,000 runs a tenth of a no-op re-run's
    time went to it. It looks first for one stored on the function, where its own
    wrappers (snakemake.ioutils) put it with overwrite_function_params: store each
    input function's signature there once. The same signature: no rule changes."""
    from inspect import isfunction, signature
    from snakemake.common import overwrite_function_params

    for function in list(namespace.values()):
        if isfunction(function):
            parameters = signature(function).parameters
            if next(iter(parameters), None) == "wildcards":
                overwrite_function_params(function, parameters)


# Last in this file, so that it sees every input function above.
read_signatures_once(globals())
