"""Every Python and shell snippet of README.md runs, in the order the README
gives them, against a finished demo: a snippet that fails is a failed test.

The demo is cut short (conftest.DEMO_CUT: custom_cnn for 2 epochs, vgg16 for 1,
the three-way split) and run once per session in a copy of the workflow (the
`finished_demo` fixture of tests/conftest.py), where the snippets' own paths (`results/demo`, `.test/demo.yaml`, `.venv/bin/...`) hold as they do after
`make demo`: the copy's `.test/demo.yaml` is the cut demo, so nothing in a
snippet is rewritten. A snippet that must not run in a test (make demo
itself, installs, servers, SLURM) says so in its fence, ```bash no-test: why,
and is skipped with that reason."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
from pathlib import Path
from typing import NamedTuple

import pytest

from conftest import demo_env

REPO = Path(__file__).resolve().parents[1]
LANGUAGES = {"python": "python", "bash": "bash", "sh": "bash", "shell": "bash"}


class Snippet(NamedTuple):
    line: int  # of the opening fence
    language: str  # python or bash
    code: str
    skip: str | None  # why it must not run in a test, from the fence's `no-test: why`


def readme_snippets(text: str) -> list[Snippet]:
    snippets = []
    for m in re.finditer(r"^```(\w+)([^\n]*)\n(.*?)^```", text, re.M | re.S):
        language = LANGUAGES.get(m.group(1))
        if language is None:
            continue  # yaml, plain text: nothing to run
        info = m.group(2).strip()
        skip = info.partition("no-test")[2].lstrip(": ").strip() if "no-test" in info else None
        snippets.append(Snippet(text.count("\n", 0, m.start()) + 1, language, m.group(3), skip))
    return snippets


SNIPPETS = readme_snippets((REPO / "README.md").read_text())


def test_the_readme_has_snippets_to_run_and_each_skipped_one_says_why():
    assert sum(s.skip is None and s.language == "python" for s in SNIPPETS) >= 3
    assert any(s.skip is None and s.language == "bash" for s in SNIPPETS)
    assert all(s.skip for s in SNIPPETS if s.skip is not None), "a no-test fence gives its reason: no-test: why"
    # make demo itself is never run by a test, and `make test` would run this test again.
    for snippet in SNIPPETS:
        if re.search(r"^make (demo|test)\b", snippet.code, re.M):
            assert snippet.skip, f"README line {snippet.line} runs make demo or make test"


def _needs_mlflow(snippet: Snippet) -> bool:
    return "mlflow" in snippet.code


@pytest.mark.workflow
@pytest.mark.parametrize("snippet", SNIPPETS, ids=[f"line{s.line}-{s.language}" for s in SNIPPETS])
def test_readme_snippet_runs_after_the_demo(snippet, finished_demo):
    if snippet.skip:
        pytest.skip(f"README line {snippet.line}: {snippet.skip}")
    if _needs_mlflow(snippet) and importlib.util.find_spec("mlflow") is None and os.environ.get("CI") != "true":
        pytest.skip("MLflow is not installed (requirements-track.txt)")
    if snippet.language == "python" and "mlflow.db" in snippet.code and not (
            finished_demo / "results/demo/mlflow.db").exists():
        # The README exports before it reads the store; run alone, this snippet exports first.
        subprocess.run([".venv/bin/snakemake", "--configfile", ".test/demo.yaml", "--cores", "1", "mlflow"],
                       cwd=finished_demo, capture_output=True, env=demo_env(), check=True, timeout=600)
    if snippet.language == "python":
        script = finished_demo / f"snippet_line{snippet.line}.py"
        script.write_text(snippet.code)
        command = [".venv/bin/python", script.name]
    else:
        command = ["bash", "-euo", "pipefail", "-c", snippet.code]
    proc = subprocess.run(command, cwd=finished_demo, capture_output=True, text=True, env=demo_env(), timeout=600)
    print(proc.stdout[-3000:])
    assert proc.returncode == 0, f"README line {snippet.line} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}"
    if snippet.language == "python":
        # Run as a script, a snippet shows its result only by printing it.
        assert proc.stdout.strip(), f"README line {snippet.line} prints nothing when run as a script"
