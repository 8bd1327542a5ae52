"""Every check the plan makes before the first job, in one place.

cnncompare.plan.plan.make_plan resolves the config and runs these checks on
the resolved config (a Draft of the plan); any problem found ends in one
PlanError that lists every problem at once, each naming the key or folder to
fix. Mistakes that would otherwise surface hours later inside a job, or
never (a wrong result), are caught here: the schema and cross-key checks of
cnncompare.plan.config, then what needs the torchvision table (weights, feature
blocks, input sizes), the file system (image folders, reserved names,
paths) and the job-size estimates.

Runs in Snakemake's own process on every invocation, a no-op re-run
included: it imports neither torch nor numpy, and reads each image folder's
listing once (file names only, nothing decoded).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from cnncompare.plan import arch_facts
from cnncompare.data.formats import image_roots
from cnncompare.plan.settings import unused_settings
from cnncompare.plan.sizing import job_limits
from cnncompare.data.splits import holdout_size

# Characters Snakemake reads in a path: {wildcards} and <path variables>.
SNAKEMAKE_PATH_CHARS = "{}<>"
# Names the workflow gives folders of its own: a data set or model of that name would share them.
DATA_DIR_FOLDERS = ("downloads", "logs")  # {data_dir}/downloads/..., {data_dir}/logs/...
RESULTS_DIR_FOLDERS = ("runs", "checkpoints", "figures", "logs", "tensorboard", "wandb", "sweeps")
WEIGHTS_DIR_FOLDERS = ("hub",)


class PlanError(ValueError):
    """The plan cannot start; the message lists every problem found."""

    def __init__(self, problems: list[str], note: str = ""):
        self.problems = list(problems)
        text = "invalid configuration:\n" + "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"{note}\n{text}" if note else text)


@dataclass
class Draft:
    """The plan while it is checked: the checks settle image sizes, find the
    grid's pretrained weights and collect warnings; cnncompare.plan.plan then
    freezes it into the Plan."""

    config: dict  # resolved: defaults filled, ~ expanded, sweeps expanded
    written: dict[str, frozenset] = field(default_factory=dict)  # each model block's keys the user wrote
    parents: dict[str, tuple[str, dict]] = field(default_factory=dict)  # {variant: (its block, swept settings)}
    weights: dict[str, arch_facts.Weights] = field(default_factory=dict)  # pretrained models of the grid
    warnings: list[str] = field(default_factory=list)
    halved: dict[str, dict] = field(default_factory=dict)  # {block: its sweep entry} of each halved sweep


def check(draft: Draft, config_problems_found: bool) -> list[str]:
    """Every problem the checks below find in a resolved config. A check that
    trips over a part of the config cnncompare.plan.config found wrong stops
    quietly (that problem is told already)."""
    problems = []
    for each in (_paths, _reserved_names, _models, _image_folders, _planned_hours, _job_memory, _batch_sizes):
        try:
            problems += each(draft)
        except (KeyError, TypeError, AttributeError, ValueError):
            if not config_problems_found:
                raise
    return problems


def missing_config_note(config_files, workflow_dir, workdir) -> str:
    """Snakemake reads config.yaml from its working directory, so a run from
    another folder (--directory, --snakefile) reads only the files given with
    --configfile; when those are overlays, their problems are not theirs."""
    workdir = Path.cwd() if workdir is None else Path(workdir)
    given = [Path(f).resolve() for f in config_files]
    own = Path(workflow_dir).resolve() / "config.yaml" if workflow_dir else None
    if (workdir / "config.yaml").is_file() or (own is not None and own in given):
        return ""
    read = ", ".join(str(f) for f in config_files) or "no file"
    example = f"--configfile {own} {' '.join(str(f) for f in config_files)}".rstrip() if own else "--configfile"
    return (
        f"no config.yaml in {workdir}: Snakemake reads config.yaml from its working directory, so "
        f"only --configfile {read} was read. If that is an overlay of the workflow's config.yaml, "
        f"pass both: {example}"
    )


def _in_grid(config: dict, section: str) -> list[str]:
    return [name for name in config["compare"][section] if name in config[section]]


# --- paths -----------------------------------------------------------------------------


def _paths(plan: Draft) -> list[str]:
    config = plan.config
    problems = []
    for key in ("results_dir", "data_dir", "weights_dir"):
        problems += _snakemake_chars(key, config[key], "folder")
    for name in _in_grid(config, "datasets"):
        block = config["datasets"][name]
        for key in ("path", "train_path", "test_path"):
            if isinstance(block.get(key), str):
                problems += _snakemake_chars(f"datasets.{name}.{key}", block[key], "folder")
        problems += _workflow_folders_inside(config, name, block)
        url = block.get("url")
        if isinstance(url, str) and url.startswith("file://") and not url.startswith(("file:///", "file://localhost/")):
            problems.append(
                f"datasets.{name}.url: {url} is a relative file:// URL, which names a host, not a "
                f"folder; a file:// URL must be absolute: file:///full/path/to/the/file"
            )
    return problems


def _workflow_folders_inside(config: dict, name: str, block: dict) -> list[str]:
    """results_dir, data_dir or weights_dir inside an image folder: their folders would be read
    as class folders (and their files as images) the next time the data set is listed."""
    problems = []
    for key in ("path", "train_path", "test_path"):
        if not isinstance(block.get(key), str):
            continue
        root = Path(block[key]).resolve()
        for folder_key in ("results_dir", "data_dir", "weights_dir"):
            folder = Path(config[folder_key]).resolve()
            if folder == root or root in folder.parents:
                problems.append(
                    f"{folder_key}: {config[folder_key]} is inside datasets.{name}.{key} ({block[key]}): its "
                    f"folders would be read as classes of the data set, and its files as images; put "
                    f"{folder_key} outside {block[key]}"
                )
    return problems


def _snakemake_chars(key: str, path: str, what: str) -> list[str]:
    found = sorted({c for c in path if c in SNAKEMAKE_PATH_CHARS})
    if not found:
        return []
    return [
        f"{key}: {what} {path!r} holds {' '.join(found)}, which Snakemake reads as a wildcard or a "
        f"path variable in a file name; choose a name without {{ }} < >"
    ]


def _same_folder(a: str, b: str) -> bool:
    return Path(a).resolve() == Path(b).resolve()


def _reserved_names(plan: Draft) -> list[str]:
    """Data sets and models named like a folder the workflow uses beside them."""
    config = plan.config
    reserved = {folder: f"{{data_dir}}/{folder}/" for folder in DATA_DIR_FOLDERS}
    if _same_folder(config["data_dir"], config["results_dir"]):
        reserved.update({f: f"{{results_dir}}/{f}/ (data_dir is results_dir)" for f in RESULTS_DIR_FOLDERS})
    if _same_folder(config["data_dir"], config["weights_dir"]):
        reserved.update({f: f"{{weights_dir}}/{f}/ (data_dir is weights_dir)" for f in WEIGHTS_DIR_FOLDERS})
    problems = [
        f"datasets.{name}: the name {name!r} is taken by the workflow's own folder {reserved[name]}; "
        f"rename the data set"
        for name in config["datasets"] if name in reserved
    ]
    return problems


# --- models: weights, feature blocks, input size, settings that do nothing -----------------


def _models(plan: Draft) -> list[str]:
    problems = []
    for name in _in_grid(plan.config, "models"):
        block = plan.config["models"][name]
        if not arch_facts.is_torchvision_arch(block["arch"]):
            # custom_cnn pools to a fixed 4x4 map, so the schema's minimum size is enough;
            # an unknown arch is told by cnncompare.plan.config.
            _warn(plan, _unused(plan, name, block))
            continue
        weights = None
        if block["pretrained"]:
            try:
                weights = plan.weights[name] = arch_facts.weights(block["arch"], block["weights"])
            except ValueError as error:
                problems.append(f"models.{name}.weights: {error}")
        problems += _batch_norm_of_one(name, block)
        try:
            arch_facts.check_block_counts(block, arch_facts.block_count(block["arch"]))
        except ValueError as error:
            problems.append(f"models.{name}: {error}")
        else:
            problems += _image_size(plan, name, block, weights)
        _warn(plan, _unused(plan, name, block))
    return problems


def _batch_norm_of_one(name: str, block: dict) -> list[str]:
    """A head's batch norm over a batch of one image has no spread to normalise by: torch
    stops the job at its first step ("Expected more than 1 value per channel")."""
    head = block["head"]
    if block["batch_size"] != 1 or not (head["norm"] and head["hidden"]):
        return []
    return [
        f"models.{name}.batch_size: 1 with head.norm: true: batch norm over a batch of one image has "
        f"no spread to normalise by, and training would fail at its first step; use batch_size 2 or "
        f"more, or head.norm: false"
    ]


def _warn(plan: Draft, warnings: list[str]) -> None:
    """Each warning once: the variants of a sweep share their block's."""
    plan.warnings += [w for w in warnings if w not in plan.warnings]


def _image_size(plan: Draft, name: str, block: dict, weights) -> list[str]:
    """The image_size a block's network accepts. Left out, the schema's default is
    raised to the arch's smallest size (vit_b_16: 224), so that a block holding
    only `arch` is complete; given, a size the network cannot take is refused."""
    arch, size = block["arch"], block["image_size"]
    smallest, largest = arch_facts.input_range(arch, block["keep_blocks"])
    why = _size_reason(arch, block["keep_blocks"], smallest, largest)
    if weights is not None and block["keep_blocks"] is None and weights.min_size > smallest:
        # torchvision's declared minimum for the whole net with these weights
        smallest, why = weights.min_size, f"the weights {weights.label} declare a minimum of {weights.min_size} px"
    if weights is not None and largest is not None and weights.min_size > largest:
        fitting = arch_facts.weights_up_to(arch, largest)
        return [
            f"models.{name}.weights: {weights.label} is made for {weights.min_size} px images, but "
            f"{arch} is built for {largest} px here and cannot load it; choose weights made for "
            f"{largest} px: {', '.join(fitting) or 'none'}"
        ]
    if smallest <= size and (largest is None or size <= largest):
        return []
    # The arch's own size: the one its weights are made for, when the network takes it.
    declared = (weights or arch_facts.weights(arch, "DEFAULT")).min_size
    own = declared if smallest <= declared and (largest is None or declared <= largest) else smallest
    if "image_size" not in plan.written.get(name, ()):
        block["image_size"] = own  # the schema's default does not fit this arch
        return []
    allowed = f"at least {smallest} px" if largest is None else (
        f"exactly {smallest} px" if smallest == largest else f"{smallest} to {largest} px")
    use, verdict = (own, "too small") if size < smallest else (largest, "too large")
    more = " (or more, at a higher cost)" if largest is None else ""
    return [
        f"models.{name}.image_size: {size} is {verdict} for {arch}: {why}, so it takes {allowed}; "
        f"set image_size: {use}{more}"
    ]


def _size_reason(arch: str, keep_blocks, smallest: int, largest) -> str:
    if largest is not None:
        return f"{arch} is built for {largest} px inputs"
    blocks = arch_facts.block_count(arch)
    if blocks is None:
        return f"{arch}'s layers shrink smaller images to nothing"
    kept = blocks if keep_blocks is None else min(keep_blocks, blocks)
    return f"its {kept} feature block{'s' if kept > 1 else ''} shrink an image below {smallest} px to nothing"


def _unused(plan: Draft, name: str, block: dict) -> list[str]:
    """Warnings for keys the user wrote that take no effect (defaults are not told),
    named after the block the user wrote (a variant's: its sweep's)."""
    written = plan.written.get(name, ())
    name = plan.parents[name][0] if name in plan.parents else name
    return [
        f"models.{name}.{key} has no effect: {reason}"
        for key, reason in sorted(unused_settings(block).items()) if key in written
    ]


# --- image folders ---------------------------------------------------------------------------


def _image_folders(plan: Draft) -> list[str]:
    """Class folders Snakemake can name, at least two classes with images, and a
    test part with an image of every class: checked from the file names alone."""
    from cnncompare.data.datasets import DataError
    from cnncompare.data.formats.imagefolder import folder_images

    problems = []
    for name in _in_grid(plan.config, "datasets"):
        block = plan.config["datasets"][name]
        where = f"datasets.{name}"
        counts = []
        for key, root in zip(("path",) if block.get("path") else ("train_path", "test_path"), image_roots(block)):
            if not Path(root).is_dir():
                continue  # told by cnncompare.plan.config
            try:
                classes, files, _ = folder_images(root)
            except DataError as error:
                problems.append(f"{where}.{key}: {error}")
                continue
            for cls in classes:
                problems += _snakemake_chars(f"{where}.{key}", f"{root}/{cls}", f"class folder {cls!r} in")
            per_class = [0] * len(classes)
            for _, label in files:
                per_class[label] += 1
            counts.append((key, root, dict(zip(classes, per_class))))
        if not counts or len(counts) != len(image_roots(block)):
            continue
        problems += _class_counts(where, block, counts)
    return problems


def _class_counts(where: str, block: dict, counts: list) -> list[str]:
    key, root, train = counts[0]
    with_images = [cls for cls, n in train.items() if n]
    if len(with_images) < 2:
        return [
            f"{where}.{key}: {root} holds images of {len(with_images)} class"
            f"{'' if len(with_images) == 1 else 'es'} ({', '.join(with_images) or 'none'}); "
            f"a comparison of classifiers needs at least 2"
        ]
    if block.get("path"):
        fraction = block["test_fraction"]
        untested = sorted(cls for cls, n in train.items() if n and not holdout_size(n, fraction))
        if untested:
            return [
                f"{where}.test_fraction: {fraction} of {root} leaves no test image for "
                f"{_listed(untested)} (a class needs 2 images to have one in each part); add images "
                f"or give train_path and test_path"
            ]
        return []
    _, test_root, test = counts[1]
    untested = sorted(cls for cls, n in train.items() if n and not test.get(cls))
    if untested:
        return [f"{where}.test_path: {test_root} has no test image of {_listed(untested)}; add some"]
    return []


def _listed(names: list[str], shown: int = 10) -> str:
    more = f" and {len(names) - shown} more" if len(names) > shown else ""
    return f"{len(names)} class{'' if len(names) == 1 else 'es'}: " + ", ".join(names[:shown]) + more


# --- size of the plan ---------------------------------------------------------------------------


def _planned_hours(plan: Draft) -> list[str]:
    """The grid's training time, as estimated for the jobs' time limits, against
    max_planned_hours: a typo such as epochs: 1000000000 is refused here instead of
    asking a cluster for a job of 12 billion minutes."""
    from cnncompare.data.datasets import DataError

    config = plan.config
    on_gpu = config["device"] != "cpu" and config["resources"]["train_model"]["gpu"] > 0
    minutes: dict[str, float] = {}
    for dataset in _in_grid(config, "datasets"):
        for model in _in_grid(config, "models"):
            runs = len(config["compare"]["splits"]) * len(config["compare"]["seeds"])
            try:
                limit = job_limits("train_model", config["models"][model], config["datasets"][dataset], on_gpu)
            except DataError:
                continue  # an image folder that cannot be read: told by _image_folders
            minutes[model] = minutes.get(model, 0) + runs * limit["runtime"]
    hours, bound = sum(minutes.values()) / 60, config["max_planned_hours"]
    if hours <= bound:
        return []
    largest = max(minutes, key=minutes.get)
    block = config["models"][largest]
    return [
        f"max_planned_hours: the grid's training is estimated at {_amount(hours)} hours "
        f"(cnncompare/plan/sizing.py, {'GPU' if on_gpu else 'CPU'}), over max_planned_hours ({_amount(bound)}); "
        f"most of it is models.{largest} (epochs: {block['epochs']}, image_size: {block['image_size']}). "
        f"Lower it, or raise max_planned_hours if you mean it"
    ]


def _amount(value: float) -> str:
    return f"{value:,.0f}" if value < 1e9 else f"{value:.1e}"


def _job_memory(plan: Draft) -> list[str]:
    """Each training and evaluation job's memory (the estimate of mem_mb auto, or the number
    set in resources) against max_job_mem_gb: a job no machine can hold is refused here
    instead of failing, or waiting in a cluster's queue, forever."""
    from cnncompare.data.datasets import DataError

    config = plan.config
    bound_mb = config["max_job_mem_gb"] * 1024
    problems = []
    for rule in ("train_model", "evaluate_model"):
        resources = config["resources"][rule]
        on_gpu = config["device"] != "cpu" and resources["gpu"] > 0
        if resources["mem_mb"] != "auto":
            if resources["mem_mb"] > bound_mb:
                problems.append(
                    f"resources.{rule}.mem_mb: {resources['mem_mb']:,} MB is above max_job_mem_gb "
                    f"({_amount(config['max_job_mem_gb'])} GB); lower it, or raise max_job_mem_gb if a "
                    f"machine you run on has that much"
                )
            continue
        worst = None
        for dataset in _in_grid(config, "datasets"):
            for model in _in_grid(config, "models"):
                try:
                    mem = job_limits(rule, config["models"][model], config["datasets"][dataset], on_gpu)["mem_mb"]
                except DataError:
                    continue  # an image folder that cannot be read: told by _image_folders
                if worst is None or mem > worst[0]:
                    worst = (mem, model, dataset)
        if worst is not None and worst[0] > bound_mb:
            mem, model, dataset = worst
            block = config["models"][model]
            batch = "batch_size" if rule == "train_model" else "eval_batch_size"
            problems.append(
                f"max_job_mem_gb: a {rule} job of models.{model} on datasets.{dataset} is estimated at "
                f"{_amount(mem / 1024)} GB of memory (cnncompare/plan/sizing.py, {'GPU' if on_gpu else 'CPU'}; "
                f"{batch}: {block[batch]}, image_size: {block['image_size']}), over max_job_mem_gb "
                f"({_amount(config['max_job_mem_gb'])}); lower {batch}, or raise max_job_mem_gb if a "
                f"machine you run on has that much"
            )
    return problems


def _batch_sizes(plan: Draft) -> list[str]:
    """A batch above a data set's whole image count is above its training set for sure:
    training then takes the training set as one batch (train.training.batching), which
    summary.csv's batch_size records. Warned, not refused: a tiny data set may mean it."""
    from cnncompare.data.datasets import DataError
    from cnncompare.data.formats import dataset_images

    config = plan.config
    for dataset in _in_grid(config, "datasets"):
        try:
            images = dataset_images(config["datasets"][dataset])
        except DataError:
            continue  # told by _image_folders
        for model in _in_grid(config, "models"):
            size = config["models"][model]["batch_size"]
            if size >= images:
                name = plan.parents[model][0] if model in plan.parents else model
                _warn(plan, [f"models.{name}.batch_size: {size} is above the training set of datasets.{dataset} "
                             f"(fewer than its {images:,} images): each epoch is one batch of the whole "
                             f"training set, and summary.csv's batch_size records that size"])
    return []
