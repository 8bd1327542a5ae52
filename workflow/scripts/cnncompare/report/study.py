"""The study the report describes, read once: its runs in reading order, each
with the facts the tables add to summary.csv's, their histories and files, the
models' texts from the render rule, and the groups of runs that differ only in
their seed (data set -> protocol -> model -> seeds) with their statistics.

Tables, figures, findings, the paper table and the sweep section all read a
Study instead of regrouping the raw rows each for itself, so every part of the
page groups, orders and averages the runs the same way. Protocol facts (name,
order, title, biased flag) come from cnncompare/protocols.py.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Callable

from cnncompare.plan.runs import run_label
from cnncompare.protocols import PROTOCOLS, Protocol, headline_first, protocol
from cnncompare.report import comparisons, timing
from cnncompare.columns import RUN_KEYS
from cnncompare.report.numbers import share
from cnncompare.report.stats import describe, is_number, mean_interval

# A group: the runs that differ only in their seed.
GROUP_KEYS = tuple(RUN_KEYS[:3])  # dataset, split, model: a group is a run without its seed


def is_completed(row: dict) -> bool:
    """A run that finished and has a test accuracy (diverged and failed runs are listed apart)."""
    return row.get("status") == "completed" and is_number(row.get("test_acc"))


def in_reading_order(rows) -> list[dict]:
    """Data sets and models in their first-seen (config) order; protocols headline first; seeds ascending."""
    datasets = list(dict.fromkeys(r["dataset"] for r in rows))
    models = list(dict.fromkeys(r["model"] for r in rows))
    order = {p.name: i for i, p in enumerate(PROTOCOLS)}
    return sorted(rows, key=lambda r: (datasets.index(r["dataset"]), order.get(r["split"], len(order)),
                                       models.index(r["model"]), int(r["seed"])))


def with_run_facts(row: dict, history: list[dict], info: dict) -> dict:
    """A summary row with its per-epoch timing (median, spread), busy-machine and
    GPU-expected-CPU-found flags, and class count (from metrics.json's `info`)."""
    epochs = timing.epoch_timing(history)
    flags = []
    threads = info.get("threads")
    busy = timing.busy_machine(row, threads)
    if busy:
        flags.append(f"busy machine: the training job got {share(timing.cpu_share(row, threads))} of the "
                     f"{max(1, threads or 1)} core{'s' if (threads or 1) > 1 else ''} it trained with")
    busy_inference = timing.busy_inference(row, info, info.get("eval_threads") or threads)
    busy_eval = busy_inference is not None
    if busy_eval:
        flags.append(f"busy machine at inference (images/s, latency): {busy_inference}")
    gpu_on_cpu = timing.gpu_expected_cpu_found(row, info)
    if gpu_on_cpu:
        flags.append("GPU requested, ran on the CPU")
    return {**row, "epoch_median_seconds": epochs["median"], "epoch_spread_seconds": epochs["spread"],
            "busy_machine": busy, "busy_evaluation": busy_eval, "gpu_expected_cpu_found": gpu_on_cpu, "flags": flags,
            "num_classes": info.get("num_classes") or row.get("num_classes")}


def _epoch_timing(row: dict) -> dict:
    return {"median": row.get("epoch_median_seconds"), "spread": row.get("epoch_spread_seconds"), "epochs": 1}


@dataclass(frozen=True, eq=False)
class Group:
    """The runs of one (data set, split, model), its seeds in order."""

    dataset: str
    split: str
    model: str
    runs: tuple[dict, ...]

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.dataset, self.split, self.model)

    @property
    def name(self) -> str:
        """dataset/split/model"""
        return "/".join(str(k) for k in self.key)

    @property
    def protocol(self) -> Protocol:
        return protocol(self.split)

    @property
    def label(self) -> str:
        """The run's own name for one seed; the group's with the seed count for several."""
        return run_label(self.runs[0]) if len(self.runs) == 1 else f"{self.name} (mean of {len(self.runs)} seeds)"

    def values(self, column: str | Callable[[dict], object]) -> list:
        return [column(r) if callable(column) else r.get(column) for r in self.runs]

    def stat(self, column: str) -> dict:
        """mean, sample standard deviation and n of a column over the seeds (describe)."""
        if column not in self._stats:
            self._stats[column] = describe(self.values(column))
        return self._stats[column]

    def mean(self, column: str):
        return self.stat(column)["mean"]

    @cached_property
    def accuracy(self) -> dict:
        """Test accuracy over the seeds: mean and its 95% interval (mean_interval)."""
        return mean_interval(self.values("test_acc"))

    @cached_property
    def timing(self) -> dict:
        """Per-epoch timing over the seeds: the median of their medians and the spread."""
        return timing.group_timing([_epoch_timing(r) for r in self.runs])

    _stats: dict = field(default_factory=dict, init=False, repr=False, compare=False)


def group(rows) -> list[Group]:
    """Runs that differ only in their seed, in first-seen order."""
    found: dict[tuple, list[dict]] = {}
    for row in rows:
        found.setdefault(tuple(row[k] for k in GROUP_KEYS), []).append(row)
    return [Group(*key, tuple(runs)) for key, runs in found.items()]


@dataclass(frozen=True, eq=False)
class Study:
    """Runs in reading order with what the report reads of them.

    rows: summary rows (with their run facts, once built); history_of: run label
    -> its epochs; run_files: run label -> read_run_files(); models: the render
    rule's texts of each model ({name: {"description", "reference", "sweep"}})."""

    rows: tuple[dict, ...]
    history_of: dict[str, list[dict]] = field(default_factory=dict)
    run_files: dict[str, dict] = field(default_factory=dict)
    models: dict[str, dict] = field(default_factory=dict)

    @classmethod
    def of(cls, rows, history=(), run_files=None, models=None) -> Study:
        """The rows as they are (facts already added, or none needed), in reading order."""
        history_of: dict[str, list[dict]] = {}
        for h in history:
            history_of.setdefault(run_label(h), []).append(h)
        return cls(tuple(in_reading_order(rows)), history_of, dict(run_files or {}), dict(models or {}))

    @classmethod
    def build(cls, rows, history=(), run_files=None, models=None) -> Study:
        """The report's study: summary rows with their run facts from the histories and metrics.json."""
        study = cls.of(rows, history, run_files, models)
        facts = [with_run_facts(r, study.history(r), study.files(r).get("info") or {}) for r in study.rows]
        return cls(tuple(facts), study.history_of, study.run_files, study.models)

    def where(self, keep: Callable[[dict], bool]) -> Study:
        """The same study with only the runs `keep` accepts."""
        return Study(tuple(r for r in self.rows if keep(r)), self.history_of, self.run_files, self.models)

    @cached_property
    def completed(self) -> Study:
        """Only the runs that completed: what is ranked and compared."""
        return self.where(is_completed)

    def history(self, row: dict) -> list[dict]:
        return self.history_of.get(run_label(row), [])

    def files(self, row: dict) -> dict:
        return self.run_files.get(run_label(row), {})

    @cached_property
    def groups(self) -> tuple[Group, ...]:
        return tuple(group(self.rows))

    def group_of(self, dataset: str, split: str, model: str) -> Group | None:
        return self._by_key.get((dataset, split, model))

    @cached_property
    def _by_key(self) -> dict[tuple, Group]:
        return {g.key: g for g in self.groups}

    @cached_property
    def datasets(self) -> list[str]:
        return list(dict.fromkeys(r["dataset"] for r in self.rows))

    @cached_property
    def model_names(self) -> list[str]:
        return list(dict.fromkeys(r["model"] for r in self.rows))

    @cached_property
    def splits(self) -> list[str]:
        """The protocols that have runs, headline first."""
        return headline_first({r["split"] for r in self.rows})

    def splits_of(self, dataset: str) -> list[str]:
        return headline_first({r["split"] for r in self.rows if r["dataset"] == dataset})

    @cached_property
    def settings(self) -> list[tuple[str, str]]:
        """(data set, split) pairs that have runs: data sets in order, each headline first."""
        return [(d, s) for d in self.datasets for s in self.splits_of(d)]

    def groups_in(self, dataset: str, split: str) -> list[Group]:
        return [g for g in self.groups if (g.dataset, g.split) == (dataset, split)]

    @cached_property
    def several_seeds(self) -> bool:
        return any(len(g.runs) > 1 for g in self.groups)

    def predictions(self, row: dict) -> dict | None:
        """The run's predictions.csv as arrays (report_data.read_predictions), or None."""
        return self.files(row).get("predictions")

    @cached_property
    def comparisons(self) -> dict[tuple[str, str], comparisons.SettingComparison]:
        """(data set, split) -> every pair of its completed models compared on their shared test
        images (comparisons.py), for the settings with two or more models."""
        return comparisons.compare_study(self.completed, self.predictions)

    @cached_property
    def sweeps(self) -> dict[str, dict]:
        """{block: {"keys": [...], "variants": {variant: settings}, "select": its choice rule or None}} from
        the models' texts, which the plan wrote; no variant's name is parsed back into its block."""
        found: dict[str, dict] = {}
        for name, texts in self.models.items():
            sweep = (texts or {}).get("sweep")
            if sweep:
                entry = found.setdefault(sweep["block"], {"keys": list(sweep["keys"]), "variants": {},
                                                          "select": sweep.get("select")})
                entry["variants"][name] = sweep["settings"]
        return found
