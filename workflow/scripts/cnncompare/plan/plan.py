"""The plan: the config resolved once into one frozen object.

make_plan turns Snakemake's merged config into a Plan, or raises PlanError
listing every problem at once (the checks live in cnncompare.plan.plan_checks).
The Plan holds the runs of the grid, each of which answers every path of
itself, the models, each of which knows its parent block when it is a variant
of a sweep, the keys it sweeps and the keys the user wrote, and the data sets,
weights, warnings and limits. The rules (workflow/rules/common.smk), the
notices (cnncompare.plan.notices) and the partial report read it; nothing
downstream parses a fact back out of a variant's name or re-reads the raw
config.

Its mappings are plain dicts, because params are compared by repr and jobs
receive them as they are: treat them as read-only.

Importable without torch or numpy: Snakemake's own process builds the plan.
"""

from __future__ import annotations

import functools
import hashlib
import json
from dataclasses import dataclass

from cnncompare.columns import RUN_KEYS
from cnncompare.nested import parts
from cnncompare.protocols import BY_NAME
from cnncompare.plan import plan_checks
from cnncompare.plan.arch_facts import Weights
from cnncompare.plan.config import config_problems, halving_of, key_sorted
from cnncompare.plan.halving import KEY as HALVING_KEY, Halving
from cnncompare.plan.plan_checks import PlanError
from cnncompare.plan.report_files import run_figure
from cnncompare.plan.runs import WILDCARDS, run_label

__all__ = ["Halving", "Model", "Plan", "PlanError", "Run", "make_plan", "REPORT_ONLY_KEYS"]

# Keys of a model block that are text for the report: editing them re-renders the report only.
# Keys the report reads and the jobs never receive: changing one re-renders the report only. A
# sweep's `select` (its choice rule) is copied into each variant's block, and told in its sweep text.
REPORT_ONLY_KEYS = ("description", "reference", "select")


@dataclass(frozen=True)
class Run:
    """One (dataset, split, model, seed) of the grid, and every path of it.

    With Snakemake's wildcards as its values (Run.pattern), each path is the
    rule's pattern of that path."""

    dataset: str
    split: str
    model: str
    seed: int | str
    results_dir: str  # without a trailing /

    @classmethod
    def pattern(cls, results_dir: str) -> Run:
        """The run of a rule's pattern: each key its Snakemake wildcard."""
        return cls(**WILDCARDS, results_dir=results_dir)

    @classmethod
    def of(cls, results_dir: str, wildcards) -> Run:
        """The run a job's wildcards name."""
        return cls(**{key: wildcards[key] for key in RUN_KEYS}, results_dir=results_dir)

    @property
    def wildcards(self) -> dict:
        """{dataset, split, model, seed}: the run's identity as a dict, in RUN_KEYS order."""
        return {key: getattr(self, key) for key in RUN_KEYS}

    @property
    def label(self) -> str:
        """dataset/split/model/seedN: how logs, tables and the report name a run."""
        return run_label(self.wildcards)

    @property
    def folder(self) -> str:
        """The folder of the run's files (model.pt, metrics.json, ...)."""
        return f"{self.results_dir}/runs/{self.label}"

    def file(self, name: str) -> str:
        """`name` in the run's folder."""
        return f"{self.folder}/{name}"

    @property
    def checkpoint(self) -> str:
        """Where training keeps the state it resumes from; outside the run's
        folder, since Snakemake deletes a failed job's outputs there."""
        return f"{self.results_dir}/checkpoints/{self.label}.pt"

    @property
    def tensorboard(self) -> str:
        """The run's TensorBoard event files, written epoch by epoch; outside
        the run's folder too, so a resumed run continues its curves."""
        return f"{self.results_dir}/tensorboard/{self.label}"

    def figure(self, name: str) -> str:
        """The run's `name` figure (curves or confusion) that render_report writes."""
        return run_figure(f"{self.results_dir}/figures", self.wildcards, name)

    def rung_file(self, rung, name: str) -> str:
        """`name` (history.csv, train.json, ...) of the run trained to a rung of a halved
        sweep (cnncompare.plan.halving), short of the last rung, whose files are the run's own."""
        return f"{self.folder}/rung{rung}/{name}"


# The settings of a model block that shape the network whose inference cost is
# measured (train/models.py builds it from these; the batch is eval_batch_size); the
# others (optimizer, schedule, freezing, epochs, ...) change training only. Device and
# precision are the whole plan's. tests/test_inference_cost.py holds this list to
# what models.py reads.
NETWORK_KEYS = ("arch", "dropout", "eval_batch_size", "head", "image_size", "keep_blocks", "pretrained")


@dataclass(frozen=True)
class Model:
    """A model block of the resolved config (a variant of a sweep is one too)."""

    name: str
    block: dict  # resolved: defaults filled, image size settled
    parent: str | None  # the swept block a variant comes from; None for a block of its own
    swept: dict  # a variant's swept settings {dotted key: value}; {} otherwise
    written: frozenset  # the block's keys the user wrote (a variant: its parent's and the swept ones)
    weights: Weights | None  # the pretrained weights it trains from, when in the grid

    @property
    def params(self) -> dict:
        """What its jobs receive: every setting but the report's texts, key-sorted."""
        return key_sorted({k: v for k, v in self.block.items() if k not in REPORT_ONLY_KEYS})

    @property
    def network(self) -> str:
        """The name of its network, `{arch}-{10 hex digits}` of its NETWORK_KEYS
        settings: the same for blocks (and sweep variants) that differ in training
        only, whose inference cost is then measured once."""
        settings = json.dumps({k: self.block.get(k) for k in NETWORK_KEYS}, sort_keys=True)
        return f"{self.block['arch']}-{hashlib.sha256(settings.encode()).hexdigest()[:10]}"

    @property
    def texts(self) -> dict:
        """What the report says of it beyond its runs: description and reference
        figures, and for a variant of a sweep its block and settings."""
        sweep = {"block": self.parent, "keys": sorted(self.swept), "settings": self.swept,
                 **({"select": self.block["select"]} if self.block.get("select") is not None else {})}
        return key_sorted({**{k: self.block[k] for k in ("description", "reference")},
                           **({"sweep": sweep} if self.parent is not None else {})})


@dataclass(frozen=True)
class Plan:
    config: dict  # resolved: defaults filled, ~ expanded, image sizes settled, sweeps expanded
    runs: tuple[Run, ...]  # the grid, in the order of compare's lists
    models: dict[str, Model]  # every model block of the config, variants included
    datasets: dict[str, dict]  # every data set block of the config, resolved
    weights: dict[str, Weights]  # the pretrained weights of the grid's models
    warnings: tuple[str, ...]
    run_count: str  # the plan's size, per model and in all
    runs_per_gpu: int
    max_runs: int
    max_planned_hours: float
    results_dir: str  # the three folders, without a trailing /
    data_dir: str
    weights_dir: str
    halving: dict[str, Halving]  # {swept block: its halving}, for the halved blocks of the grid

    def halving_of(self, model: str) -> Halving | None:
        """The halving a model (a variant of a halved sweep) trains under; None for any other."""
        found = self.models.get(model)
        return self.halving.get(found.parent) if found is not None and found.parent is not None else None

    @property
    def unhalved_runs(self) -> list[Run]:
        """The runs that train to their full epochs whatever happens: every run not of a halved sweep."""
        return [run for run in self.runs if self.halving_of(run.model) is None]

    def rung_decision(self, dataset: str, split: str, block: str, bracket, rung) -> str:
        """The file of a rung's decision (who goes on) for one bracket of a halved block."""
        return self.results_path(f"sweeps/{dataset}/{split}/{block}/bracket{bracket}/rung{rung}.json")

    @property
    def halving_file(self) -> str:
        """The halved sweeps' rungs, scores and decisions, for the report (docs/outputs.md)."""
        return self.results_path("sweeps/halving.json")

    def halving_groups(self) -> list[dict]:
        """Each (dataset, split, block, bracket) of a halved block in the grid."""
        compare = self.config["compare"]
        return [{"dataset": d, "split": s, "block": block, "bracket": b}
                for d in compare["datasets"] for s in compare["splits"]
                for block, halving in self.halving.items() for b in range(halving.brackets)]

    @property
    def compared(self) -> list[str]:
        """The grid's models and variants, in compare.models' order."""
        return list(self.config["compare"]["models"])

    @property
    def run_pattern(self) -> Run:
        return Run.pattern(self.results_dir)

    def run(self, wildcards) -> Run:
        return Run.of(self.results_dir, wildcards)

    def results_path(self, name: str) -> str:
        return f"{self.results_dir}/{name}"

    def data_path(self, name: str) -> str:
        return f"{self.data_dir}/{name}"

    @property
    def figures_dir(self) -> str:
        return self.results_path("figures")

    def dataset_files(self, dataset: str) -> dict[str, str]:
        """The prepared files of a data set, which all its splits share."""
        return {
            "train": self.data_path(f"{dataset}/train.npz"),
            "test": self.data_path(f"{dataset}/test.npz"),
            "classes": self.data_path(f"{dataset}/classes.json"),
            "prepared": self.data_path(f"{dataset}/prepared.json"),
        }

    def prepared_data(self, dataset: str, split: str) -> dict[str, str]:
        """The prepared files of a data set and the split file a run of it reads."""
        return {**self.dataset_files(dataset), "split": self.split_file(dataset, split)}

    def split_file(self, dataset: str, split: str) -> str:
        return self.data_path(f"{dataset}/splits/{split}.npz")

    def run_data(self, dataset: str, split: str) -> dict[str, str]:
        """What a run's jobs depend on: the data set's record (prepared.json, which
        prepare_dataset writes last, atomically, after the arrays and classes.json)
        standing for its prepared files, and the split file. make_split depends on
        every prepared file, so a lost or replaced one still prepares the data set
        again or makes the runs train again, through the split; the run's job checks
        each file against the record when it reads it. One edge instead of four per
        job: a 1,000-run grid's DAG has 6,000 edges fewer to build at every start."""
        return {"prepared": self.dataset_files(dataset)["prepared"], "split": self.split_file(dataset, split)}

    def inference_cost(self, dataset: str, network: str, ext: str = "json") -> str:
        """What one network (Model.network) costs at inference on a data set (rule
        measure_inference): one file shared by the runs of every model block,
        split and seed of that network (ext: json; log and benchmark.tsv for the
        job's own files)."""
        return self.results_path(f"inference/{dataset}/{network}.{ext}")

    @functools.cached_property
    def networks(self) -> dict[str, str]:
        """{network: the compared model, first by name, of that network}: the
        block measure_inference builds for it."""
        found: dict[str, str] = {}
        for name in sorted(self.compared):
            found.setdefault(self.models[name].network, name)
        return found

    def model_texts(self) -> dict[str, dict]:
        """Each compared model's report texts (Model.texts), by name in sorted order."""
        return {name: self.models[name].texts for name in sorted(self.compared)}


def make_plan(config: dict, command_line: dict | None = None, config_files=(), workflow_dir=None,
              workdir=None) -> Plan:
    """The plan of `config` (Snakemake's merged config), or PlanError.

    For the messages: command_line holds the values given with --config,
    config_files the files given with --configfile, workflow_dir the folder of
    the Snakefile and its config.yaml, workdir Snakemake's working directory
    (where it reads config.yaml).
    """
    sweeps: dict[str, dict] = {}
    resolved, problems = config_problems(config, command_line=command_line, sweeps=sweeps)
    draft = plan_checks.Draft(config=resolved if resolved is not None else {},
                              written=_written(config, resolved, sweeps), parents=_parents(sweeps),
                              halved={b: e for b, e in sweeps.items() if HALVING_KEY in e})
    problems = list(problems)
    if resolved is not None:
        problems += plan_checks.check(draft, config_problems_found=bool(problems))
    if problems:
        raise PlanError(problems, plan_checks.missing_config_note(config_files, workflow_dir, workdir))
    draft.warnings += _biased_rungs(draft)
    return _frozen(draft)


def _biased_rungs(draft: plan_checks.Draft) -> list[str]:
    """A halved sweep on a split whose validation part is the test set (two) cuts its
    variants on the test set: said, as the report says of that split's choices."""
    biased = [s for s in draft.config["compare"]["splits"] if BY_NAME[s].biased]
    compared = set(draft.config["compare"]["models"])
    return [f"models.{block}.halving: on the {', '.join(biased)} split its rungs rank the variants on "
            f"the test set (that split's validation part), so its survivors are chosen on test: biased "
            f"upwards, as the report says of that split's choices; the three split ranks on validation"
            for block, entry in draft.halved.items() if biased and set(entry["variants"]) & compared]


def _parents(sweeps: dict) -> dict[str, tuple[str, dict]]:
    """{variant: (its block, its swept settings)} of every swept block."""
    return {variant: (block, settings) for block, entry in sweeps.items()
            for variant, settings in entry["variants"].items()}


def _written(raw: dict, resolved: dict | None, sweeps: dict) -> dict[str, frozenset]:
    """The keys of each model block that the user's config files and --config
    gave, read from the raw config once, before its defaults are used; a
    variant of a sweep has its block's keys and the top keys of what it sweeps."""
    models = raw.get("models") if isinstance(raw, dict) else None
    names = (resolved or {}).get("models")
    if not isinstance(models, dict) or not isinstance(names, dict):
        return {}
    written = {}
    parents = _parents(sweeps)
    for name in names:
        if name in parents:
            block, settings = parents[name]
            own = models.get(block)
            keys = {*(own if isinstance(own, dict) else ()), *(parts(key)[0] for key in settings)}
        else:
            keys = models.get(name) if isinstance(models.get(name), dict) else {}
        written[name] = frozenset(keys)
    return written


def _frozen(draft: plan_checks.Draft) -> Plan:
    config = draft.config
    results_dir = config["results_dir"].rstrip("/")
    compare = config["compare"]
    parents = draft.parents
    models = {
        name: Model(
            name=name,
            block=block,
            parent=parents[name][0] if name in parents else None,
            swept=parents[name][1] if name in parents else {},
            written=draft.written.get(name, frozenset()),
            weights=draft.weights.get(name),
        )
        for name, block in config["models"].items()
    }
    runs = tuple(
        Run(dataset=d, split=s, model=m, seed=seed, results_dir=results_dir)
        for d in compare["datasets"]
        for s in compare["splits"]
        for m in compare["models"]
        for seed in compare["seeds"]
    )
    return Plan(
        config=config,
        runs=runs,
        models=models,
        datasets=config["datasets"],
        weights=dict(draft.weights),
        warnings=tuple(draft.warnings),
        run_count=_run_count_line(compare, runs, models),
        runs_per_gpu=config["performance"]["runs_per_gpu"],
        max_runs=compare["max_runs"],
        max_planned_hours=config["max_planned_hours"],
        results_dir=results_dir,
        data_dir=config["data_dir"].rstrip("/"),
        weights_dir=config["weights_dir"].rstrip("/"),
        halving={block: halving_of(block, entry, compare["seeds"]) for block, entry in draft.halved.items()
                 if set(entry["variants"]) & set(compare["models"])},
    )


def _run_count_line(compare: dict, runs: tuple[Run, ...], models: dict[str, Model]) -> str:
    """The plan's size, per model (a swept block counts all its variants) and in all."""
    counts: dict[str, int] = {}
    for run in runs:  # the first runs hold every model, in compare.models' order
        block = models[run.model].parent or run.model
        counts[block] = counts.get(block, 0) + 1
    variants: dict[str, int] = {}
    for model in models.values():
        if model.parent is not None:
            variants[model.parent] = variants.get(model.parent, 0) + 1
    parts = [f"{block} {count}" + (f" ({variants[block]} variants)" if block in variants else "")
             for block, count in counts.items()]
    d, s, n = (len(compare[k]) for k in ("datasets", "splits", "seeds"))
    return (f"{len(runs)} runs: {', '.join(parts)} (each model or variant: {d} data set{'s' * (d > 1)} "
            f"x {s} split{'s' * (s > 1)} x {n} seed{'s' * (n > 1)})")
