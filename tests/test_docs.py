"""The documentation points only at things that exist: every relative link of
README.md and docs/*.md reaches a file of the repository (and, with #anchor,
a heading of that page), and every test the pages cite as evidence
(`tests/test_x.py`, `test_x.py::test_y`, `::test_y`, `[param]`) is a test.

Fast tier: no Snakemake. Test names come from the test files' syntax trees;
only files whose parametrized ids are cited are collected by pytest, once."""

from __future__ import annotations

import ast
import fnmatch
import re
import subprocess
import sys
from functools import cache
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
TESTS = REPO / "tests"
PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
FENCE = re.compile(r"^```.*?^```", re.M | re.S)
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")
CODE_SPAN = re.compile(r"`([^`\n]+)`")
FILE_ID = re.compile(r"(?:tests/)?(test_\w+\.py)(?:::([\w*]+)(\[.+\])?)?")
TEST_ID = re.compile(r"::([\w*]+)(\[.+\])?")
PARAM_ID = re.compile(r"\[(.+)\]")


def _rel(page: Path) -> str:
    return str(page.relative_to(REPO))


def _prose(text: str) -> str:
    """The page without its fenced code blocks, where a [x](y) is code, not a link."""
    return FENCE.sub("", text)


def github_anchor(heading: str) -> str:
    """The anchor GitHub gives a heading: lower case, punctuation dropped, spaces as hyphens."""
    text = re.sub(r"[`*_]|\[([^\]]*)\]\([^)]*\)", r"\1", heading.strip()).lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


@cache
def anchors(page: Path) -> frozenset[str]:
    found, seen = set(), {}
    for heading in re.findall(r"^#{1,6} (.+)$", _prose(page.read_text()), re.M):
        slug = github_anchor(heading)
        n = seen.get(slug, 0)
        seen[slug] = n + 1
        found.add(slug if n == 0 else f"{slug}-{n}")  # GitHub numbers repeated headings
    found.update(re.findall(r"<a (?:id|name)=\"([^\"]+)\"", page.read_text()))
    return frozenset(found)


def relative_links(page: Path) -> list[str]:
    prose = CODE_SPAN.sub("", _prose(page.read_text()))
    return [t for t in LINK.findall(prose) if not re.match(r"[a-z][a-z+.-]*:", t)]


@pytest.mark.parametrize("page", PAGES, ids=_rel)
def test_every_relative_link_reaches_a_file_and_its_anchor(page):
    broken = []
    for target in relative_links(page):
        path_part, _, anchor = target.partition("#")
        path = (page.parent / path_part).resolve() if path_part else page
        if REPO not in path.parents or not path.exists():
            broken.append(f"{target}: no such file")
        elif anchor and path.suffix == ".md" and anchor not in anchors(path):
            broken.append(f"{target}: {_rel(path)} has no heading with anchor #{anchor}")
    assert not broken, f"{_rel(page)} links what is not there:\n  " + "\n  ".join(broken)


def test_the_anchor_rule_is_githubs():
    assert github_anchor("Trackers: TensorBoard, MLflow, Weights & Biases") == "trackers-tensorboard-mlflow-weights--biases"
    assert github_anchor("The steps (Snakemake rules)") == "the-steps-snakemake-rules"
    assert github_anchor("Snakemake's own report") == "snakemakes-own-report"
    assert github_anchor("What happens when...") == "what-happens-when"


# --- test ids ---------------------------------------------------------------------------------------------


@cache
def names_of_tests(file_name: str) -> frozenset[str]:
    """The test functions of a test file, top level and in Test classes, read from its syntax tree."""
    tree = ast.parse((TESTS / file_name).read_text())
    names = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name.startswith("test"):
            names.add(node.name)
        elif isinstance(node, ast.ClassDef) and node.name.startswith("Test"):
            names.update(f.name for f in node.body if isinstance(f, ast.FunctionDef) and f.name.startswith("test"))
    return frozenset(names)


def cited_ids(page: Path) -> list[tuple[int, str, str | None, str | None]]:
    """(line, file, test or None, param or None) for each test a page cites.

    `::test_y` belongs to the last file named on its line, and `[param]` to
    the last test: the failure table writes a row's tests that way."""
    cited = []
    for number, line in enumerate(page.read_text().splitlines(), 1):
        file = test = None
        for span in CODE_SPAN.findall(line):
            if m := FILE_ID.fullmatch(span):
                file, test, param = m.groups()
                cited.append((number, file, test, param and param[1:-1]))
            elif (m := TEST_ID.fullmatch(span)) and file:
                test, param = m.groups()
                cited.append((number, file, test, param and param[1:-1]))
            elif (m := PARAM_ID.fullmatch(span)) and file and test:
                cited.append((number, file, test, m.group(1)))
        # A test file named outside a code span, in a fenced block say.
        cited += [(number, name, None, None) for name in re.findall(r"\btests/(test_\w+\.py)\b", line)]
    return cited


def _files_with_cited_params() -> list[str]:
    return sorted({file for page in PAGES for _, file, _, param in cited_ids(page)
                   if param and (TESTS / file).exists()})


@pytest.fixture(scope="session")
def collected_ids() -> dict[str, set[str]]:
    """`name[param]` of every parametrized test in the files whose params are cited, as pytest names them."""
    files = _files_with_cited_params()
    if not files:
        return {}
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", "-o", "addopts=",
         *(f"tests/{f}" for f in files)], cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    ids: dict[str, set[str]] = {}
    for line in proc.stdout.splitlines():
        if "::" in line:
            path, _, name = line.partition("::")
            ids.setdefault(Path(path).name, set()).add(name)
    return ids


@pytest.mark.parametrize("page", PAGES, ids=_rel)
def test_every_cited_test_exists(page, collected_ids):
    missing = []
    for number, file, test, param in cited_ids(page):
        where = f"line {number}: {file}" + (f"::{test}" if test else "") + (f"[{param}]" if param else "")
        if not (TESTS / file).is_file():
            missing.append(f"{where}: no file tests/{file}")
            continue
        if test is None:
            continue
        names = fnmatch.filter(names_of_tests(file), test)  # a * stands for the rest of a family of names
        if not names:
            missing.append(f"{where}: no test {test} in tests/{file}")
        elif param is not None and not any(f"{n}[{param}]" in collected_ids.get(file, ()) for n in names):
            missing.append(f"{where}: {test} has no parameter [{param}]")
    assert not missing, f"{_rel(page)} cites tests that do not exist:\n  " + "\n  ".join(missing)


def test_the_failure_table_cites_tests_in_each_form():
    """The parser sees the forms the failure table uses, so an empty result cannot pass for a clean one."""
    cited = cited_ids(REPO / "docs/failures.md")
    assert any(test and "*" in test for _, _, test, _ in cited)
    assert any(param for _, _, _, param in cited)
    assert len({(file, test) for _, file, test, _ in cited}) > 50
