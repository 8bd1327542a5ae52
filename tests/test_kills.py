"""Kills at any moment lose nothing: Snakemake and its jobs are killed together
(SIGKILL of the process group, as a crashed machine or a closed terminal's
hard kill) at a random moment of each rule's job, and the next plain
`snakemake` completes with every file of an uninterrupted run, its metrics
equal (times excepted).

The uninterrupted run is conftest's `finished`; the killed study shares its
config and data_dir, with a results folder of its own. The seed of the random
moments is printed (KILL_SEED repeats it), and so is the kill count per rule."""

from __future__ import annotations

import csv
import json
import os
import random
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from conftest import SNAKEMAKE, planned_jobs, snakemake, write_config

pytestmark = pytest.mark.workflow

# Each rule's job is killed this long after it starts at most (seconds): about its length here.
LONGEST = {"train_model": 8.0, "evaluate_model": 4.0, "aggregate_results": 2.0, "render_report": 2.5,
           "mlflow": 4.0}
# Tries per rule: a moment past the job's end kills nothing, and a short job (the report, 1 to 2 s
# on a quiet machine) is missed often enough that 4 tries left one rule unkilled now and then.
ATTEMPTS = 8
# Columns of summary.csv that measure time or the machine, not the result.
MEASURED = ("seconds", "per_second", "peak_", "max_rss", "_ms", "started", "busy", "threads", "device")


def _start(work: Path, configfile: Path, *args: str) -> tuple[subprocess.Popen, Path]:
    out = work / f"run-{time.time_ns()}.log"
    proc = subprocess.Popen(
        # args first: after --resources (which takes many values) a target would be read as one
        [SNAKEMAKE, *args, "--directory", str(work), "--configfile", str(configfile), "--cores", "2",
         "--resources", "gpu=1"],
        stdout=out.open("w"), stderr=subprocess.STDOUT, start_new_session=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    return proc, out


def _kill_in(rule: str, work: Path, configfile: Path, rng: random.Random, *args: str) -> bool:
    """Start Snakemake; once `rule`'s job starts, wait a random moment and kill Snakemake and
    every job at once. False when no job of the rule was running at that moment."""
    proc, out = _start(work, configfile, *args)
    started = None
    while proc.poll() is None:
        text = out.read_text()
        if started is None and (f"rule {rule}:" in text or f"localrule {rule}:" in text):
            started = time.time()
            moment = rng.uniform(0, LONGEST[rule])
        if started is not None and time.time() - started >= moment:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            text = out.read_text()
            # A kill counts when a job of the rule was still running (started, not finished).
            running = (text.count(f"rule {rule}:") - text.count(f"(Rule: {rule})")) > 0
            print(f"killed {rule} {moment:.2f} s after its job started"
                  + ("" if running else ", but its job had finished: not counted"))
            return running
        time.sleep(0.05)
    return False


def _summary(path: Path) -> list[dict]:
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    return [{k: v for k, v in row.items() if not any(m in k for m in MEASURED)} for row in rows]


def _files(results: Path) -> set[str]:
    """Every file, a TensorBoard event file by its folder (its name holds a time and a pid)."""
    return {str(p.parent.relative_to(results)) + "/events.*" if p.name.startswith("events.out.tfevents.")
            else str(p.relative_to(results)) for p in results.rglob("*")
            if p.is_file() and "logs" not in p.parts and p.name != ".cnncompare-writer.lock"}


@pytest.mark.parametrize("lost", ["summary.csv", "history.csv", "figures/comparison/accuracy.svg",
                                  "figures/curves"])
def test_a_lost_table_or_figure_is_made_again(finished, tmp_path, lost):
    """Snakemake makes a missing file again only when something out of date needs it: with the
    report up to date, a lost summary.csv (a kill during `snakemake -R aggregate_results`, before
    the tables were update() outputs) planned "Nothing to be done". They are targets now."""
    work = tmp_path / "study"
    work.mkdir()
    shutil.copytree(finished["workdir"] / "results", work / "results", symlinks=True)
    configfile = write_config(work / "config.yaml", {**finished["config"], "results_dir": str(work / "results")})
    path = work / "results" / lost
    shutil.rmtree(path) if path.is_dir() else path.unlink()
    jobs = planned_jobs(snakemake(work, configfile, "-n").stdout)
    print(lost, jobs)
    assert jobs.get("render_report") == 1 and "train_model" not in jobs


@pytest.mark.slow
def test_kills_at_random_moments_lose_nothing(finished, tmp_path):
    seed = int(os.environ.get("KILL_SEED", time.time_ns() % 2**32))
    print(f"KILL_SEED={seed}")
    rng = random.Random(seed)
    work = tmp_path / "killed"
    work.mkdir()
    config = {**finished["config"], "results_dir": str(work / "results")}
    configfile = write_config(work / "config.yaml", config)
    kills = {rule: 0 for rule in LONGEST}
    for rule in LONGEST:
        target = ["mlflow"] if rule == "mlflow" else []
        for attempt in range(ATTEMPTS):
            # Once the rule has run, it is forced again (-R), as the README advises for the tables.
            forced = ["-R", rule] if attempt else []
            if _kill_in(rule, work, configfile, rng, *target, *forced):
                kills[rule] += 1
                break
    print("kills per rule:", kills)
    done = snakemake(work, configfile)  # the next plain run completes...
    exported = snakemake(work, configfile, "--keep-going", "mlflow")  # a flag ends --resources' values
    again = snakemake(work, configfile, "-n")  # ... and leaves nothing to do
    assert "Nothing to be done" in again.stdout + again.stderr, (again.stdout + again.stderr)[-3000:]
    assert all(kills.values()), kills

    ours, reference = work / "results", finished["workdir"] / "results"
    missing = _files(reference) - {"mlflow-export.json"} - _files(ours)
    assert not missing, f"lost: {sorted(missing)}"
    assert (ours / "mlflow-export.json").is_file() and "Traceback" not in exported.stderr
    assert _summary(ours / "summary.csv") == _summary(reference / "summary.csv")
    for metrics in reference.glob("runs/**/metrics.json"):
        theirs, mine = json.loads(metrics.read_text()), json.loads((ours / metrics.relative_to(reference)).read_text())
        for key in ("train_acc", "val_acc", "test_acc", "train_loss", "val_loss", "test_loss", "best_epoch"):
            assert mine[key] == theirs[key], (metrics, key)
    print(done.stderr[-500:])
