"""The conda environment of the rules and requirements.txt describe the same software."""

from pathlib import Path

import yaml
from packaging.requirements import Requirement

REPO = Path(__file__).resolve().parents[1]
# Not in the rules' environment: test tools, and the executor plugin, which
# runs beside snakemake itself on the submit host.
DEV_ONLY = {"pytest", "snakefmt", "snakemake-executor-plugin-slurm"}


def _requirements() -> dict[str, Requirement]:
    reqs = {}
    for line in (REPO / "requirements.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            req = Requirement(line)
            reqs[req.name.lower()] = req
    return reqs


def _env_pins() -> dict[str, str]:
    env = yaml.safe_load((REPO / "workflow/envs/cnncompare.yaml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d)
    pins = {}
    for line in pip:
        name, _, version = line.partition("==")
        assert version, f"{line}: every package in the environment is pinned with =="
        pins[name.lower()] = version
    return pins


def test_every_runtime_requirement_is_pinned_in_the_env_within_its_range():
    reqs, pins = _requirements(), _env_pins()
    for name, req in reqs.items():
        if name in DEV_ONLY:
            assert name not in pins
            continue
        assert name in pins, f"{name} is in requirements.txt but not in workflow/envs/cnncompare.yaml"
        assert req.specifier.contains(pins[name]), f"{name}=={pins[name]} is outside {req.specifier}"


def test_the_env_holds_nothing_requirements_txt_lacks():
    assert set(_env_pins()) <= set(_requirements())
