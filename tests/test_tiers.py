"""The guard of the two test tiers (docs/tests.md, "Tiers"): a test not marked `workflow`
that starts Snakemake fails at once, saying to mark it; other programs start as before."""

from __future__ import annotations

import subprocess
import sys

import pytest

from conftest import SNAKEMAKE, UNMARKED_SNAKEMAKE, starts_snakemake


@pytest.mark.parametrize("args, shell", [
    ([SNAKEMAKE, "--version"], False),
    (["snakemake", "-n"], False),
    ([sys.executable, "-m", "snakemake", "--version"], False),
    ("cd /tmp && snakemake --cores 1", True),
    (f"{SNAKEMAKE} --dry-run", True),
])
def test_snakemake_command_lines_are_recognised(args, shell):
    assert starts_snakemake(args, shell)


@pytest.mark.parametrize("args, shell", [
    ([sys.executable, "-c", "print(1)"], False),
    (["snakefmt", "--check", "."], False),
    ([sys.executable, "-m", "cnncompare.columns", "--snakefile", "Snakefile"], False),
    ("git status", True),
])
def test_other_command_lines_are_not(args, shell):
    assert not starts_snakemake(args, shell)


@pytest.mark.parametrize("start", [
    lambda: subprocess.run([SNAKEMAKE, "--version"], capture_output=True),
    lambda: subprocess.check_output([sys.executable, "-m", "snakemake", "--version"]),
    lambda: subprocess.Popen("snakemake --version", shell=True),
])
def test_an_unmarked_test_cannot_start_snakemake(start):
    with pytest.raises(pytest.fail.Exception) as failure:
        start()
    assert UNMARKED_SNAKEMAKE in str(failure.value) and "test_an_unmarked_test_cannot_start_snakemake" in str(
        failure.value)


def test_an_unmarked_test_still_starts_other_programs():
    assert subprocess.run([sys.executable, "-c", "print('ok')"], capture_output=True, text=True).stdout == "ok\n"


@pytest.mark.workflow
def test_a_workflow_test_starts_snakemake():
    proc = subprocess.run([SNAKEMAKE, "--version"], capture_output=True, text=True)
    assert proc.returncode == 0 and proc.stdout.strip()


def test_no_test_file_defines_a_fixture_named_like_a_shared_run():
    """work_units groups a file with the users of a shared run (conftest.SHARED_RUN_FIXTURES) when
    its tests take a parameter of that name: a module fixture of the same name would put the file
    on their worker for nothing, where its own run makes that worker's queue the longest."""
    import re
    from pathlib import Path

    from conftest import LONGEST_FIRST, SHARED_RUN_FIXTURES, work_units

    tests = Path(__file__).parent
    for path in sorted(tests.glob("test_*.py")):
        for name in SHARED_RUN_FIXTURES:
            assert not re.search(rf"^def {name}\(", path.read_text(), re.M), f"{path.name} defines {name}"
    units = set(work_units(tests).values())
    assert all(unit in units for unit in LONGEST_FIRST), set(LONGEST_FIRST) - units
