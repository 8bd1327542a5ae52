"""Shared fixtures: a tiny CIFAR-10-format archive and a way to run Snakemake
on the real Snakefile in a scratch folder."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

import cifar_format

REPO = Path(__file__).resolve().parents[1]
SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))


@pytest.fixture(scope="session")
def cifar_archive(tmp_path_factory):
    """1,000 train and 300 test images with a learnable class signal, in the real format."""
    return cifar_format.write_archive(tmp_path_factory.mktemp("archive") / "cifar-10-python.tar.gz")


def tiny_config(workdir: Path, archive: dict, **overrides) -> dict:
    """A complete config that trains custom_cnn briefly on the tiny archive, on the CPU."""
    config = {
        "results_dir": str(workdir / "results"),
        "data_dir": str(workdir / "data"),
        "device": "cpu",
        "datasets": {"cifar10": {"url": archive["url"], "md5": archive["md5"]}},
        "models": {
            "custom_cnn": {
                "arch": "custom_cnn",
                "epochs": 3,
                "batch_size": 50,
                "lr": 0.02,
                "warmup_epochs": 1,
            }
        },
        "compare": {"datasets": ["cifar10"], "splits": ["two", "three"], "models": ["custom_cnn"], "seeds": [0]},
        "resources": {"train_model": {"threads": 2}, "evaluate_model": {"threads": 2}},
    }
    config.update(overrides)
    return config


def write_config(path: Path, config: dict) -> Path:
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def snakemake(workdir: Path, configfile: Path, *args: str, check: bool = True,
              snakefile: Path = REPO / "Snakefile", env: dict | None = None) -> subprocess.CompletedProcess:
    """Run the repository's Snakefile (or a copy's) with `configfile`, its metadata kept in `workdir`
    (`env`: variables to set for it)."""
    cmd = [
        SNAKEMAKE, "--snakefile", str(snakefile), "--directory", str(workdir),
        "--configfile", str(configfile), "--cores", "2", "--resources", "gpu=1", *args,
    ]
    env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if check and proc.returncode != 0:
        raise AssertionError(f"snakemake failed ({proc.returncode}):\n{proc.stdout[-4000:]}\n{proc.stderr[-8000:]}")
    return proc


def planned_jobs(output: str) -> dict[str, int]:
    """The 'Job stats' table of a Snakemake plan, as {rule: count}; {} when nothing is to be done."""
    if "Nothing to be done" in output:
        return {}
    match = re.search(r"Job stats:\n(.*?)\n\s*total\s+(\d+)", output, re.S)
    assert match, f"no job stats in:\n{output[-3000:]}"
    jobs = {}
    for line in match.group(1).splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].isdigit():
            jobs[parts[0]] = int(parts[1])
    return jobs


@pytest.fixture(scope="session")
def finished(tmp_path_factory, cifar_archive):
    """One complete run of the workflow on both splits (tests/test_workflow.py plans on top of it;
    tests/test_failures.py runs variants in its folder, each with a results_dir of its own, and
    compares with its runs)."""
    workdir = tmp_path_factory.mktemp("workflow")
    config = tiny_config(workdir, cifar_archive)
    configfile = write_config(workdir / "config.yaml", config)
    proc = snakemake(workdir, configfile)
    return {"workdir": workdir, "config": config, "configfile": configfile, "log": proc.stdout + proc.stderr}
