"""The workflow submitted to a real SLURM cluster with profiles/slurm.

.ci/run starts a one-node cluster (.ci/slurm-up). Here, without one, the test
is skipped; in CI (CI=true) a missing cluster is a failure.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from conftest import REPO, planned_jobs, snakemake, tiny_config, write_config

pytestmark = pytest.mark.workflow


def cluster_is_up() -> bool:
    if not shutil.which("sbatch"):
        return False
    proc = subprocess.run(["sinfo", "-h", "-o", "%T"], capture_output=True, text=True)
    return proc.returncode == 0 and bool({"idle", "mixed", "allocated"} & set(proc.stdout.split()))


@pytest.fixture(scope="module")
def slurm():
    if not cluster_is_up():
        if os.environ.get("CI") == "true":
            pytest.fail("CI=true but no SLURM cluster answers: .ci/run must start one (.ci/slurm-up)")
        pytest.skip("no SLURM cluster here (start one with sudo .ci/slurm-up)")


def metrics_of(results: Path) -> dict:
    found = {}
    for path in sorted(results.glob("runs/*/*/*/*/metrics.json")):
        metrics = json.loads(path.read_text())
        timing = {"train_seconds", "setup_seconds", "images_per_second", "peak_rss_mb", "started_at",
                  "eval_seconds", "checkpoint_bytes", "device", "eval_device"}
        found[str(path.relative_to(results))] = {k: v for k, v in metrics.items() if k not in timing}
    return found


def history_of(results: Path) -> list[str]:
    lines = (results / "history.csv").read_text().splitlines()
    header = lines[0].split(",")
    keep = [i for i, name in enumerate(header) if "seconds" not in name]
    return sorted(",".join(row.split(",")[i] for i in keep) for row in lines)


def rules_by_job(output: str) -> dict[str, str]:
    """{snakemake job id: rule name} from the job blocks Snakemake prints."""
    found = {}
    for block in re.finditer(r"^(?:local)?rule (\w+):\n((?:[ \t]+.*\n)*)", output, re.MULTILINE):
        job = re.search(r"jobid: (\d+)", block.group(2))
        if job:
            found[job.group(1)] = block.group(1)
    return found


def test_slurm_profile_submits_every_job_and_matches_a_local_run(slurm, tmp_path, cifar_archive, capsys):
    model = {"arch": "custom_cnn", "epochs": 2, "batch_size": 50, "lr": 0.02}
    runs = {}
    for where in ("local", "slurm"):
        workdir = tmp_path / where
        workdir.mkdir()
        config = tiny_config(workdir, cifar_archive, models={"custom_cnn": model})
        configfile = write_config(workdir / "config.yaml", config)
        extra = []
        if where == "slurm":
            # No slurmdbd here, so no sacct: ask squeue, and ask early.
            extra = ["--profile", str(REPO / "profiles/slurm"), "--slurm-status-command", "squeue",
                     "--slurm-init-seconds-before-status-checks", "1", "--seconds-between-status-checks", "1",
                     "--latency-wait", "5"]
        start = time.monotonic()
        proc = snakemake(workdir, configfile, *extra)
        runs[where] = {"workdir": workdir, "output": proc.stdout + proc.stderr,
                       "seconds": time.monotonic() - start}

    output = runs["slurm"]["output"]
    planned = planned_jobs(output)
    # Each line shows up twice (stdout and the logger's stderr): count distinct jobs.
    submitted = sorted(set(re.findall(r"Job (\d+) has been submitted with SLURM jobid (\d+)", output)))
    # Every job but the localrule download and the target rule 'all' went through sbatch.
    expected = sum(planned.values()) - planned["download_dataset"] - planned["all"]
    assert len(submitted) == expected, output[-3000:]
    slurm_ids = [jobid for _, jobid in submitted]
    states = subprocess.run(["squeue", "-h", "-t", "all", "-j", ",".join(slurm_ids), "-o", "%i %T"],
                            capture_output=True, text=True, check=True).stdout.split("\n")
    done = {line.split()[0]: line.split()[1] for line in states if line.strip()}
    assert set(done) == set(slurm_ids) and set(done.values()) == {"COMPLETED"}, done
    with capsys.disabled():  # into the CI log, which keeps what the cluster did
        print(f"\nSLURM run: {len(slurm_ids)} jobs via sbatch, {runs['slurm']['seconds']:.1f} s "
              f"(the same workflow run locally: {runs['local']['seconds']:.1f} s)")
        rules = rules_by_job(output)
        for job, jobid in sorted(submitted, key=lambda pair: int(pair[1])):
            print(f"  slurm job {jobid}: {rules.get(job, '?')} (snakemake job {job}), {done[jobid]}")

    local, cluster = (runs[w]["workdir"] / "results" for w in ("local", "slurm"))
    assert metrics_of(cluster) == metrics_of(local)
    assert len(metrics_of(cluster)) == 2
    assert history_of(cluster) == history_of(local)
