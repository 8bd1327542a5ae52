"""Snakemake's own process needs no torch: plans run in a Python environment that
holds Snakemake, its SLURM plugin, PyYAML and jsonschema, and nothing of the
training stack, as a Snakemake installed on its own (the Snakemake docs' way)
or a login node's environment would be.

The environment is built once per machine with pip (versions from
requirements.txt and requirements-cluster.txt) under the temporary folder, and reused while those lines
stay the same.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from conftest import REPO, planned_jobs, write_config

pytestmark = pytest.mark.workflow

SCHEDULER_PACKAGES = ("snakemake", "snakemake-executor-plugin-slurm", "pyyaml", "jsonschema")


def requirement(name: str) -> str:
    """The line of a package (its version range) in requirements.txt or
    requirements-cluster.txt (the SLURM plugin), comments dropped."""
    for file in ("requirements.txt", "requirements-cluster.txt"):
        for line in (REPO / file).read_text().splitlines():
            spec = line.split("#")[0].strip()
            if re.match(rf"{re.escape(name)}\s*([<>=!~]|$)", spec, re.IGNORECASE):
                return spec
    raise AssertionError(f"{name} is in neither requirements.txt nor requirements-cluster.txt")


@pytest.fixture(scope="session")
def scheduler_env() -> Path:
    """The bin folder of a venv with the scheduler's packages and no torch."""
    specs = [requirement(name) for name in SCHEDULER_PACKAGES]
    key = hashlib.sha256("\n".join([*specs, sys.version]).encode()).hexdigest()[:12]
    venv = Path(tempfile.gettempdir()) / "cnncompare-test-cache" / f"scheduler-venv-{key}"
    done = venv / "installed.txt"
    if not done.is_file():
        shutil.rmtree(venv, ignore_errors=True)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        pip = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", *specs],
                             capture_output=True, text=True)
        assert pip.returncode == 0, pip.stderr[-3000:]
        done.write_text("\n".join(specs) + "\n")
    return venv / "bin"


def plan(bin_dir: Path, workdir: Path, *configfiles: Path) -> tuple[subprocess.CompletedProcess, float]:
    start = time.perf_counter()
    proc = subprocess.run(
        [str(bin_dir / "snakemake"), "--snakefile", str(REPO / "Snakefile"), "--directory", str(workdir),
         "--configfile", *map(str, configfiles), "--cores", "1", "--dry-run"],
        capture_output=True, text=True,
    )
    return proc, time.perf_counter() - start


def test_the_environment_has_no_torch(scheduler_env):
    for module in ("torch", "torchvision"):
        proc = subprocess.run([str(scheduler_env / "python"), "-c", f"import {module}"], capture_output=True, text=True)
        assert proc.returncode != 0 and "No module named" in proc.stderr


def test_the_study_plans_without_torch(scheduler_env, tmp_path):
    proc, seconds = plan(scheduler_env, tmp_path, REPO / "config.yaml")
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-3000:]
    assert planned_jobs(output) == {
        "download_dataset": 1, "download_weights": 2, "prepare_dataset": 1, "make_split": 2,
        "measure_inference": 3, "train_model": 8, "evaluate_model": 8, "aggregate_results": 1,
        "render_report": 1, "all": 1,
    }
    print(f"\nthe study's dry run without torch: {sum(planned_jobs(output).values())} jobs in {seconds:.1f} s")


def test_vit_at_32_px_fails_naming_image_size_without_torch(scheduler_env, tmp_path):
    overlay = write_config(tmp_path / "vit.yaml", {
        "models": {"vit": {"arch": "vit_b_16", "image_size": 32}}, "compare": {"models": ["vit"]},
    })
    proc, _ = plan(scheduler_env, tmp_path, REPO / "config.yaml", overlay)
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "models.vit.image_size: 32 is too small for vit_b_16" in output and "set image_size: 224" in output
    assert "No module named" not in output and "torch" not in output.replace("torchvision", "")
