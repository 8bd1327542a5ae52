"""cnncompare as a Snakemake module, the way the workflow catalog deploys it:
a user's own folder, Snakefile and config, with `use rule * from cnncompare`.

The unit tests check what makes that work without running Snakemake; the
workflow test runs it, as a user would, through to the report."""

from __future__ import annotations

import copy
import csv
import os
import re
import subprocess
from pathlib import Path

import pytest
import yaml

from conftest import REPO, SNAKEMAKE

# What a user writes (docs/module.md shows the same): their config, the module
# from a local checkout, every rule, and the three hooks the module cannot
# register itself.
USER_SNAKEFILE = """\
configfile: "config/config.yaml"


module cnncompare:
    snakefile:
        "{entry}"
    config:
        config


use rule * from cnncompare


onstart:
    cnncompare.onstart()


onsuccess:
    cnncompare.onsuccess()


onerror:
    cnncompare.onerror()
"""

# Folders of the checkout that running the workflow may fill without writing
# anything of the workflow's: Python's byte code and pytest's cache.
CACHES = {".git", "__pycache__", ".pytest_cache"}


def _code(text: str) -> str:
    """A Snakefile's code: comments and docstrings left out."""
    text = re.sub(r'""".*?"""', "", text, flags=re.S)
    return "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))


def _workflow_files():
    return [REPO / "Snakefile", REPO / "workflow" / "Snakefile", *sorted((REPO / "workflow" / "rules").glob("*.smk"))]


def test_the_catalog_entry_point_is_workflow_snakefile_and_keeps_the_default_target():
    entry = _code((REPO / "workflow" / "Snakefile").read_text())
    assert 'include: "../Snakefile"' in entry
    # An include drops the default target its file set; the entry point sets it again.
    assert "workflow.default_target = rules.all.rule.name" in entry


@pytest.mark.parametrize("path", _workflow_files(), ids=lambda p: str(p.relative_to(REPO)))
def test_the_workflow_finds_its_own_files_from_its_own_place(path):
    """In a module, workflow.basedir and the working directory are the user's
    folder: nothing of the workflow's may be found from them. A localrules:
    list would name the rules without a module's `as prefix_*`."""
    code = _code(path.read_text())
    for found_from in ("workflow.basedir", "os.getcwd", "Path.cwd", "Path(\".\")"):
        assert found_from not in code, f"{path.name}: {found_from}"
    assert not re.search(r"^localrules:", code, re.M), f"{path.name}: say localrule: True in the rule"


def test_the_catalog_file_says_how_the_workflow_is_used():
    """The keys the Snakemake workflow catalog reads (its docs: "Adding workflows")."""
    usage = yaml.safe_load((REPO / ".snakemake-workflow-catalog.yml").read_text())["usage"]
    assert set(usage) == {"mandatory-flags", "software-stack-deployment"}
    flags = usage["mandatory-flags"]
    assert set(flags) == {"desc", "flags"} and isinstance(flags["desc"], str)
    assert isinstance(flags["flags"], (str, list))
    stack = usage["software-stack-deployment"]
    assert set(stack) <= {"conda", "apptainer", "apptainer+conda", "report"}
    assert all(isinstance(value, bool) for value in stack.values())
    # conda: every rule with a script names its env (tests/test_packaging.py checks which);
    # report: `snakemake --report` has its page and captions (tests/test_report.py runs it).
    assert stack["conda"] and stack["report"]
    assert re.search(r'^report: "report/workflow.rst"', (REPO / "Snakefile").read_text(), re.M)
    assert (REPO / "report" / "workflow.rst").is_file()


# --- the workflow test ---------------------------------------------------------------


def _merged(base: dict, overlay: dict) -> dict:
    """`overlay` onto `base` key by key, as Snakemake merges config files."""
    merged = copy.deepcopy(base)
    for key, value in overlay.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merged(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def _tiny_demo_config() -> dict:
    """The demo (.test/demo.yaml onto config.yaml), cut to one epoch of
    custom_cnn at 16 px on both splits. Paths stay relative: they are the
    user's folder's."""
    config = _merged(
        yaml.safe_load((REPO / "config.yaml").read_text()),
        yaml.safe_load((REPO / ".test" / "demo.yaml").read_text()),
    )
    config["results_dir"] = "results"
    config["models"]["custom_cnn"].update(epochs=1, warmup_epochs=0, image_size=16, batch_size=64)
    config["compare"].update(models=["custom_cnn"], splits=["two", "three"], seeds=[0])
    return config


def _checkout_files() -> dict[str, tuple[int, int]]:
    """Every file of the checkout, with its size and modification time."""
    files = {}
    for folder, subfolders, names in os.walk(REPO):
        subfolders[:] = [name for name in subfolders if name not in CACHES]
        for name in names:
            path = Path(folder) / name
            if path.is_file() and not name.endswith(".pyc"):
                stat = path.stat()
                files[str(path.relative_to(REPO))] = (stat.st_size, stat.st_mtime_ns)
    return files


@pytest.mark.workflow
def test_a_users_snakefile_runs_the_module_to_its_report(tmp_path):
    user = tmp_path / "my-study"
    (user / "config").mkdir(parents=True)
    (user / "Snakefile").write_text(USER_SNAKEFILE.format(entry=REPO / "workflow" / "Snakefile"))
    (user / "config" / "config.yaml").write_text(yaml.safe_dump(_tiny_demo_config(), sort_keys=False))
    before = _checkout_files()

    # What a user types in their folder: no --snakefile, --directory or --configfile.
    proc = subprocess.run(
        [SNAKEMAKE, "--cores", "2"], cwd=user, capture_output=True, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"}, timeout=600,
    )
    assert proc.returncode == 0, f"snakemake failed:\n{proc.stdout[-4000:]}\n{proc.stderr[-8000:]}"

    html = (user / "results" / "report.html").read_text()
    for split in ("two", "three"):
        assert f"digits/{split}/custom_cnn/seed0" in html
    summary = (user / "results" / "summary.csv").read_text().splitlines()
    assert len(summary) == 3  # a header and the two runs
    done = [line for line in proc.stderr.splitlines() if "steps (100%) done" in line]
    print(f"user's Snakefile:\n{(user / 'Snakefile').read_text()}\n{done[-1] if done else ''}; "
          f"report.html {len(html):,} characters; summary.csv runs: "
          + ", ".join(f"{r['dataset']}/{r['split']}/{r['model']}/seed{r['seed']} test_acc {r['test_acc']}"
                     for r in csv.DictReader(summary)))
    # The workflow's commit is its checkout's, not the user's folder's (no git there).
    commit = subprocess.run(["git", "-C", str(REPO), "rev-parse", "HEAD"], capture_output=True, text=True)
    if commit.returncode == 0:
        assert commit.stdout.strip() in html
    # Data and metadata went to the user's folder, and nothing into the checkout.
    assert (user / "resources" / "data" / "digits" / "train.npz").is_file()
    assert (user / ".snakemake").is_dir()
    after = _checkout_files()
    assert after == before, {
        "new": sorted(set(after) - set(before)),
        "changed": sorted(k for k in set(after) & set(before) if after[k] != before[k]),
        "gone": sorted(set(before) - set(after)),
    }


@pytest.mark.workflow
def test_a_bad_config_in_a_module_is_told_without_the_note_on_config_yaml(tmp_path):
    """The note that config.yaml was not read from the working directory is for
    runs of the checkout; a module's config is whatever the user's Snakefile gives."""
    user = tmp_path / "my-study"
    (user / "config").mkdir(parents=True)
    (user / "Snakefile").write_text(USER_SNAKEFILE.format(entry=REPO / "workflow" / "Snakefile"))
    config = _tiny_demo_config()
    config["compare"]["seeds"] = [-1]
    (user / "config" / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    proc = subprocess.run([SNAKEMAKE, "-n"], cwd=user, capture_output=True, text=True, timeout=300)
    told = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "invalid configuration:\n  - compare.seeds[0]: -1 must be >= 0" in told
    assert "no config.yaml in" not in told
