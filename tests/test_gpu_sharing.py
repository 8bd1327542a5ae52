"""performance.runs_per_gpu: N training or evaluation jobs share one GPU, and
--resources gpu=K keeps meaning K GPUs. Tested on the CPU with a pretended GPU
count: the real rules, with cores to spare, so that only the GPU slots limit how
many GPU jobs Snakemake runs at once (read from its own log, in order)."""

from __future__ import annotations

import re

import pytest
import yaml

from conftest import planned_jobs, snakemake, tiny_config, write_config

pytestmark = pytest.mark.workflow

GPU_RULES = ("train_model", "evaluate_model")


def sharing_config(workdir, archive, runs_per_gpu: int | None) -> dict:
    """Three runs (3 seeds, one split) of one short epoch, one thread per job: one more than two
    GPU slots, so that "never more than N at once" can fail for N = 1 and 2."""
    config = tiny_config(workdir, archive)
    config["models"]["custom_cnn"].update(epochs=1, warmup_epochs=0)
    config["compare"].update(splits=["three"], seeds=[0, 1, 2])
    config["resources"] = {rule: {"threads": 1, "gpu": 1} for rule in GPU_RULES}
    if runs_per_gpu is not None:
        config["performance"] = {"runs_per_gpu": runs_per_gpu}
    return config


def most_gpu_jobs_at_once(log: str) -> int:
    """The most train/evaluate jobs running at once, from Snakemake's log: a job
    starts at its `rule ...:` block (its jobid a few lines below) and ends at
    `Finished jobid: ...`. The scheduler frees a job's resources before it logs
    the finish, so a job started in its place is always logged after it."""
    running, most, starting = set(), 0, None
    for line in log.splitlines():
        if match := re.match(r"^(?:local)?rule (\w+):", line):
            starting = match.group(1)
        elif (match := re.match(r"^\s+jobid: (\d+)", line)) and starting:
            if starting in GPU_RULES:
                running.add(match.group(1))
                most = max(most, len(running))
            starting = None
        elif match := re.match(r".*Finished jobid: (\d+) \(Rule: (\w+)\)", line):
            running.discard(match.group(1))
    return most


def resources_of(log: str, rule: str) -> list[str]:
    """The `resources:` line of each planned job of `rule` in a dry run."""
    found = []
    for block in re.split(r"\n(?=(?:local)?rule \w+:)", log):
        if block.startswith(f"rule {rule}:") and (match := re.search(r"^\s+resources: (.*)$", block, re.M)):
            found.append(match.group(1))
    return found


@pytest.mark.parametrize("runs_per_gpu", [None, 1, 2])
def test_the_plan_claims_gpu_slots_only_when_gpus_are_shared(tmp_path, cifar_archive, runs_per_gpu):
    configfile = write_config(tmp_path / "config.yaml", sharing_config(tmp_path, cifar_archive, runs_per_gpu))
    proc = snakemake(tmp_path, configfile, "--dry-run")
    log = proc.stdout + proc.stderr
    for rule in (*GPU_RULES, "measure_inference"):
        lines = resources_of(log, rule)
        assert len(lines) == (1 if rule == "measure_inference" else 3), log[-3000:]  # one network
        for line in lines:
            assert "gpu=1" in line.split(", "), line
            if runs_per_gpu == 2:
                assert {"gpu_slot=1", "runs_per_gpu=2"} <= set(line.split(", ")), line
            else:
                # The plan's runs_per_gpu (the schema's default when not written) reaches the job.
                assert "gpu_slot" not in line and "runs_per_gpu=1" in line.split(", "), line
    said = "performance.runs_per_gpu: 2: up to 2 training or evaluation jobs at once on 1 GPU (--resources gpu=1)"
    assert (said in log) == (runs_per_gpu == 2)


@pytest.mark.parametrize("runs_per_gpu", [1, 2])
def test_gpu_jobs_at_once_are_the_gpus_times_runs_per_gpu(tmp_path, cifar_archive, runs_per_gpu):
    """One pretended GPU (--resources gpu=1) and 8 cores: N GPU jobs run at
    once, never more; then changing N plans nothing (it is no setting of the runs)."""
    config = sharing_config(tmp_path, cifar_archive, runs_per_gpu)
    configfile = write_config(tmp_path / "config.yaml", config)
    proc = snakemake(tmp_path, configfile, "--cores", "8", "--resources", "gpu=1")
    log = proc.stdout + proc.stderr
    assert len(re.findall(r"Finished jobid: \d+ \(Rule: train_model\)", log)) == 3
    assert most_gpu_jobs_at_once(log) == runs_per_gpu, log[-4000:]

    config["performance"] = {"runs_per_gpu": 3 - runs_per_gpu}
    other = write_config(tmp_path / "other.yaml", config)
    proc = snakemake(tmp_path, other, "--dry-run", "--cores", "8", "--resources", "gpu=1")
    assert planned_jobs(proc.stdout + proc.stderr) == {}


def test_without_a_gpu_count_sharing_says_it_does_nothing(tmp_path, cifar_archive):
    """A cluster run gives Snakemake no --resources gpu: SLURM gives each job its own GPU."""
    configfile = write_config(tmp_path / "config.yaml", sharing_config(tmp_path, cifar_archive, 4))
    proc = snakemake(tmp_path, configfile, "--dry-run", "--resources", "mem_mb=100000")
    log = proc.stdout + proc.stderr
    assert "performance.runs_per_gpu: 4 has no effect without --resources gpu=K" in log
    assert all("gpu=1" in line.split(", ") for line in resources_of(log, "train_model"))


def test_the_gpu_study_dry_run_plans_every_step_it_would_run(tmp_path):
    """bench/gpu_study.sh --dry-run (issue 26): on a machine without a GPU, the whole study at
    runs_per_gpu 1, 2 and 4 is planned by the real Snakefile on an archive of the real format,
    and the CUDA loop check is named, not run; one table at the end."""
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    repo = Path(__file__).resolve().parents[1]
    work = tmp_path / "study"
    proc = subprocess.run([str(repo / "bench" / "gpu_study.sh"), "--dry-run", "--work", str(work)],
                          capture_output=True, text=True, env={**os.environ, "PYTHON": sys.executable}, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    for n in (1, 2, 4):
        assert f"--configfile {work / f'runs_per_gpu_{n}.yaml'}" in proc.stdout
        assert yaml.safe_load((work / f"runs_per_gpu_{n}.yaml").read_text())["performance"] == {"runs_per_gpu": n}
    assert "bench/run.py --only train_loop --device cuda" in proc.stdout
    rows = json.loads((work / "gpu_study.json").read_text())["rows"]
    planned = [r for r in rows if r["status"] == "planned (dry run)"]
    assert [r["runs_per_gpu"] for r in planned] == [1, 2, 4]
    for row in planned:  # the study's 4 models x 2 splits; its 3 networks' inference measured once each
        assert "measure_inference 3, train_model 8, evaluate_model 8" in row["detail"], row
    assert (work / "cifar-10-python.tar.gz").is_file()
