"""The report's study model (cnncompare/report/study.py): runs read once,
ordered for reading, grouped over seeds with their statistics, and the
protocols in the order cnncompare/protocols.py gives."""

from __future__ import annotations

import math
import statistics

import pytest

from cnncompare.protocols import PROTOCOLS
from cnncompare.report.study import Study, is_completed


def _run(dataset, split, model, seed, acc, status="completed", **extra):
    return {"dataset": dataset, "split": split, "model": model, "seed": seed, "status": status, "test_acc": acc,
            **extra}


ROWS = [
    _run("mnist", "two", "b", 1, 0.97), _run("mnist", "two", "b", 0, 0.95),
    _run("cifar10", "two", "a", 0, 0.80), _run("mnist", "three", "b", 0, 0.93),
    _run("cifar10", "three", "a", 0, 0.70), _run("cifar10", "three", "a", 1, 0.74),
    _run("cifar10", "three", "b", 0, math.nan, status="diverged"),
]


def test_runs_are_read_in_order_data_sets_and_models_as_first_seen_the_headline_protocol_first():
    study = Study.of(ROWS)
    order = [(r["dataset"], r["split"], r["model"], r["seed"]) for r in study.rows]
    assert order == [("mnist", "three", "b", 0), ("mnist", "two", "b", 0), ("mnist", "two", "b", 1),
                     ("cifar10", "three", "b", 0), ("cifar10", "three", "a", 0), ("cifar10", "three", "a", 1),
                     ("cifar10", "two", "a", 0)]
    assert study.datasets == ["mnist", "cifar10"] and study.model_names == ["b", "a"]
    assert study.splits == [p.name for p in PROTOCOLS] == ["three", "two"]
    assert study.settings == [("mnist", "three"), ("mnist", "two"), ("cifar10", "three"), ("cifar10", "two")]
    assert Study.of(ROWS[:3]).splits == ["two"]


def test_groups_hold_the_seeds_of_one_data_set_split_and_model():
    study = Study.of(ROWS)
    assert [g.name for g in study.groups] == ["mnist/three/b", "mnist/two/b", "cifar10/three/b", "cifar10/three/a",
                                              "cifar10/two/a"]
    group = study.group_of("mnist", "two", "b")
    assert [r["seed"] for r in group.runs] == [0, 1] and group.label == "mnist/two/b (mean of 2 seeds)"
    assert study.group_of("mnist", "three", "b").label == "mnist/three/b/seed0"
    assert group.protocol.biased and not study.group_of("mnist", "three", "b").protocol.biased
    assert study.group_of("mnist", "three", "a") is None
    assert [g.name for g in study.groups_in("cifar10", "three")] == ["cifar10/three/b", "cifar10/three/a"]
    assert study.several_seeds and not Study.of(ROWS[2:4]).several_seeds


def test_statistics_over_seeds_and_only_completed_runs_are_ranked():
    study = Study.of(ROWS)
    group = study.group_of("cifar10", "three", "a")
    assert group.stat("test_acc") == {"mean": pytest.approx(0.72), "std": pytest.approx(statistics.stdev([0.7, 0.74])),
                                      "n": 2}
    assert group.accuracy["mean"] == pytest.approx(0.72) and group.accuracy["half"] is None  # two seeds: no t
    assert (group.accuracy["min"], group.accuracy["max"]) == (0.7, 0.74)
    assert study.group_of("mnist", "three", "b").accuracy["half"] is None  # one seed: no interval
    assert not is_completed(ROWS[-1])
    done = study.completed
    assert done.group_of("cifar10", "three", "b") is None and len(done.rows) == len(ROWS) - 1
    assert study.where(lambda r: r["dataset"] == "mnist").datasets == ["mnist"]


def test_run_facts_are_added_once_from_the_histories_and_metrics():
    rows = [_run("d", "three", "a", 0, 0.9, device="cpu (x86_64, 2 threads)", train_job_seconds=100.0,
                 train_job_cpu_seconds=20.0)]
    history = [{"dataset": "d", "split": "three", "model": "a", "seed": 0, "epoch": e, "epoch_seconds": s}
               for e, s in ((1, 3.0), (2, 2.0), (3, 2.2))]
    files = {"d/three/a/seed0": {"info": {"threads": 2, "num_classes": 10}}}
    [row] = Study.build(rows, history, files).rows
    assert row["epoch_median_seconds"] == 2.2 and row["num_classes"] == 10
    assert row["busy_machine"] and row["flags"] == [
        "busy machine: the training job got 10% of the 2 cores it trained with"]


def test_sweeps_come_from_the_models_texts_not_from_variant_names():
    models = {"m.lr-0.1": {"sweep": {"block": "m", "keys": ["lr"], "settings": {"lr": 0.1}}},
              "odd-name": {"sweep": {"block": "m", "keys": ["lr"], "settings": {"lr": 0.01}}},
              "plain": {"description": ""}}
    assert Study.of([], models=models).sweeps == {"m": {"keys": ["lr"], "variants": {"m.lr-0.1": {"lr": 0.1},
                                                                                    "odd-name": {"lr": 0.01}},
                                                         "select": None}}
    rule = {"prefer": "params", "within": 1.0}  # a block's choice rule (select), in each variant's text
    models = {name: {"sweep": {**texts["sweep"], "select": rule}} for name, texts in models.items() if "sweep" in texts}
    assert Study.of([], models=models).sweeps["m"]["select"] == rule
