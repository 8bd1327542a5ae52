"""The workflow submitted to a real SLURM cluster with --workflow-profile profiles/slurm.

.ci/run starts a one-node cluster with two GPUs (.ci/slurm-up); `make test` installs the executor
plugin of requirements-cluster.txt into a venv of its own (.venv-cluster), which submits. Here,
without either, the test is skipped; in CI (CI=true) either missing is a failure.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from datetime import datetime
from pathlib import Path

import pytest
import yaml

from cnncompare.columns import INFERENCE_TIMING_KEYS
from conftest import REPO, planned_jobs, snakemake, tiny_config, write_config

pytestmark = pytest.mark.workflow

# The Python that submits: the Makefile's venv of the SLURM executor plugin (.venv-cluster), which
# also sees this venv's packages; the other tests' Snakemake starts do without the plugin.
CLUSTER_PYTHON = os.environ.get("CNNCOMPARE_CLUSTER_PYTHON") or f"{sys.prefix}-cluster/bin/python"
# What the test's copy of profiles/slurm adds, as a user fills in the commented keys.
ACCOUNT = "cnncompare-ci"
PARTITIONS = {"default": "cpu", "gpu": "gpu"}  # .ci/slurm-up's default partition is 'main'
GPU_RULES = ("train_model", "evaluate_model")
# measure_inference asks for evaluate_model's resources (config resources has no section of its own).
GPU_JOBS = (*GPU_RULES, "measure_inference")


def cluster_is_up() -> bool:
    if not shutil.which("sbatch"):
        return False
    proc = subprocess.run(["sinfo", "-h", "-o", "%T"], capture_output=True, text=True)
    return proc.returncode == 0 and bool({"idle", "mixed", "allocated"} & set(proc.stdout.split()))


def plugin_is_installed() -> bool:
    if not Path(CLUSTER_PYTHON).is_file():
        return False
    found = subprocess.run([CLUSTER_PYTHON, "-c", "import snakemake, snakemake_executor_plugin_slurm"],
                           capture_output=True)
    return found.returncode == 0


@pytest.fixture(scope="module")
def slurm():
    missing = None
    if not cluster_is_up():
        missing = "no SLURM cluster here (start one with sudo .ci/slurm-up)"
    elif not plugin_is_installed():
        missing = f"no SLURM executor plugin for {CLUSTER_PYTHON} (make {Path(CLUSTER_PYTHON).parents[1]}/.installed)"
    if missing:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true but {missing}: .ci/run must provide both")
        pytest.skip(missing)


def metrics_of(results: Path) -> dict:
    found = {}
    for path in sorted(results.glob("runs/*/*/*/*/metrics.json")):
        metrics = json.loads(path.read_text())
        timing = {"train_seconds", "setup_seconds", "images_per_second", "peak_rss_mb", "started_at",
                  "eval_seconds", "checkpoint_bytes", "device", "eval_device", *INFERENCE_TIMING_KEYS}
        found[str(path.relative_to(results))] = {k: v for k, v in metrics.items() if k not in timing}
    return found


def history_of(results: Path) -> list[str]:
    lines = (results / "history.csv").read_text().splitlines()
    header = lines[0].split(",")
    keep = [i for i, name in enumerate(header) if "seconds" not in name]
    return sorted(",".join(row.split(",")[i] for i in keep) for row in lines)


def job_blocks(output: str) -> dict[str, dict]:
    """{snakemake job id: {'rule': .., 'resources': {..}}} from the job blocks Snakemake prints."""
    found = {}
    for block in re.finditer(r"^(?:local)?rule (\w+):\n((?:[ \t]+.*\n)*)", output, re.MULTILINE):
        job = re.search(r"jobid: (\d+)", block.group(2))
        if job:
            line = re.search(r"resources: (.*)", block.group(2))
            resources = dict(re.findall(r"(\w+)=([^,]+)", line.group(1))) if line else {}
            found[job.group(1)] = {"rule": block.group(1), "resources": resources}
    return found


def slurm_profile(folder: Path) -> Path:
    """profiles/slurm as a user fills it in: an account and partitions (a GPU one for the GPU rules)."""
    profile = yaml.safe_load((REPO / "profiles/slurm/config.yaml").read_text())
    profile["default-resources"].update(slurm_account=ACCOUNT, slurm_partition=PARTITIONS["default"])
    profile["set-resources"] = {rule: {"slurm_partition": PARTITIONS["gpu"]} for rule in GPU_JOBS}
    folder.mkdir()
    (folder / "config.yaml").write_text(yaml.safe_dump(profile, sort_keys=False))
    return folder


class RunningJobs:
    """Polls squeue while the workflow runs: every set of job ids seen RUNNING at once."""

    def __init__(self):
        self.seen: list[set[str]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)

    def _poll(self):
        while not self._stop.is_set():
            proc = subprocess.run(["squeue", "-h", "-t", "RUNNING", "-o", "%i"], capture_output=True, text=True)
            running = set(proc.stdout.split())
            if running:
                self.seen.append(running)
            self._stop.wait(0.25)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def show_job(jobid: str) -> dict[str, str]:
    """`scontrol show job` as {key: value}."""
    text = subprocess.run(["scontrol", "show", "job", jobid], capture_output=True, text=True, check=True).stdout
    return dict(re.findall(r"(\w+)=(\S*)", text))


def megabytes(value: str) -> int:
    number, unit = re.fullmatch(r"(\d+)([MGT])", value).groups()
    return int(number) * {"M": 1, "G": 1024, "T": 1024 ** 2}[unit]


def minutes(limit: str) -> int:
    days, _, clock = limit.rpartition("-")
    h, m, s = (int(x) for x in clock.split(":"))
    return int(days or 0) * 24 * 60 + h * 60 + m + (s > 0)


def test_slurm_profile_submits_every_job_with_its_settings_and_matches_a_local_run(
        slurm, tmp_path, cifar_archive, capsys):
    # One thread per job: two training jobs fit the node's two CPUs at once. Three
    # epochs keep each training job running long enough to overlap the other's.
    model = {"arch": "custom_cnn", "epochs": 3, "batch_size": 50, "lr": 0.02}
    resources = {rule: {"threads": 1} for rule in GPU_RULES}
    profile = slurm_profile(tmp_path / "profile")
    runs = {}

    def configured(where: str) -> tuple[Path, Path]:
        workdir = tmp_path / where
        workdir.mkdir()
        config = tiny_config(workdir, cifar_archive, models={"custom_cnn": model}, resources=resources)
        return workdir, write_config(workdir / "config.yaml", config)

    def run_locally():
        workdir, configfile = configured("local")
        start = time.monotonic()
        proc = snakemake(workdir, configfile, check=False)
        runs["local"] = {"workdir": workdir, "output": proc.stdout + proc.stderr, "returncode": proc.returncode,
                         "seconds": time.monotonic() - start}

    # The local run beside the cluster's: most of the cluster run is waiting on SLURM's scheduler
    # and its status checks, and the test would otherwise wait for both in turn.
    local = threading.Thread(target=run_locally)
    local.start()
    workdir, configfile = configured("slurm")
    start = time.monotonic()
    # The README's command (no --resources: SLURM hands out the GPUs). No
    # slurmdbd here, so no sacct: ask squeue, and ask early.
    cmd = [CLUSTER_PYTHON, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"), "--directory", str(workdir),
           "--configfile", str(configfile), "--workflow-profile", str(profile), "--cores", "2",
           "--slurm-status-command", "squeue", "--slurm-init-seconds-before-status-checks", "1",
           "--seconds-between-status-checks", "1", "--latency-wait", "5"]
    with RunningJobs() as running:
        proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    runs["slurm"] = {"workdir": workdir, "output": proc.stdout + proc.stderr, "seconds": time.monotonic() - start}
    local.join()
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-6000:]
    assert runs["local"]["returncode"] == 0, runs["local"]["output"][-6000:]

    output = runs["slurm"]["output"]
    # The SLURM profile alone: profiles/default (local settings, gpu=1) is not loaded.
    assert f"Using workflow specific profile {profile}" in output and "profiles/default" not in output
    planned = planned_jobs(output)
    # Each line shows up twice (stdout and the logger's stderr): count distinct jobs.
    submitted = sorted(set(re.findall(r"Job (\d+) has been submitted with SLURM jobid (\d+)", output)))
    # Every job but the localrule download and the target rule 'all' went through sbatch.
    expected = sum(planned.values()) - planned["download_dataset"] - planned["all"]
    assert len(submitted) == expected, output[-3000:]

    blocks = job_blocks(output)
    jobs = {jobid: {**blocks[job], "show": show_job(jobid)} for job, jobid in submitted}
    with capsys.disabled():  # into the CI log, which keeps what the cluster did
        print(f"\nSLURM run: {len(jobs)} jobs via sbatch, {runs['slurm']['seconds']:.1f} s "
              f"(the same workflow run locally beside it: {runs['local']['seconds']:.1f} s); scontrol show job:")
        for jobid, job in sorted(jobs.items(), key=lambda pair: int(pair[0])):
            show = job["show"]
            print(f"  JobId={jobid} {job['rule']:<17} JobState={show['JobState']} Partition={show['Partition']} "
                  f"Account={show['Account']} TimeLimit={show['TimeLimit']} MinMemoryNode={show['MinMemoryNode']} "
                  f"NumCPUs={show['NumCPUs']} TresPerJob={show.get('TresPerJob', '-')} "
                  f"StartTime={show['StartTime']} EndTime={show['EndTime']}")

    for jobid, job in jobs.items():
        show, resources, rule = job["show"], job["resources"], job["rule"]
        where = f"job {jobid} ({rule}): {show}"
        assert show["JobState"] == "COMPLETED", where
        assert show["Account"] == ACCOUNT, where
        gpu_rule = rule in GPU_JOBS
        assert show["Partition"] == PARTITIONS["gpu" if gpu_rule else "default"], where
        # What Snakemake planned for the job is what sbatch asked SLURM for.
        assert megabytes(show["MinMemoryNode"]) == int(resources["mem_mb"]), where
        assert minutes(show["TimeLimit"]) == int(resources["runtime"]), where
        if gpu_rule:
            assert show.get("TresPerJob") == "gres:gpu:1" and resources["gpu"] == "1", where
        else:
            # The SLURM profile's default-resources, not the local profile's (mem_mb 2000).
            assert (resources["mem_mb"], resources["runtime"]) == ("4000", "60"), where
            assert "TresPerJob" not in show, where

    # Two training jobs RUNNING at the same time: the cluster has two GPUs, and
    # nothing in the profile limits the workflow to one.
    training = {jobid for jobid, job in jobs.items() if job["rule"] == "train_model"}
    assert len(training) == 2
    assert any(training <= running_now for running_now in running.seen), running.seen
    starts_ends = [(datetime.fromisoformat(jobs[j]["show"]["StartTime"]),
                    datetime.fromisoformat(jobs[j]["show"]["EndTime"])) for j in sorted(training)]
    (start_a, end_a), (start_b, end_b) = starts_ends
    assert start_a < end_b and start_b < end_a, starts_ends
    with capsys.disabled():
        overlap = (min(end_a, end_b) - max(start_a, start_b)).total_seconds()
        print(f"  train_model jobs {' and '.join(sorted(training))} RUNNING together (squeue), "
              f"overlapping {overlap:.0f} s by StartTime/EndTime")

    local, cluster = (runs[w]["workdir"] / "results" for w in ("local", "slurm"))
    assert metrics_of(cluster) == metrics_of(local)
    assert len(metrics_of(cluster)) == 2
    assert history_of(cluster) == history_of(local)
