"""Release basics: a citation file with the keys the Citation File Format
requires, crediting the 2021 study; a changelog whose newest version is the
package's; documentation that links nothing outside the repository."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

import cnncompare

REPO = Path(__file__).resolve().parents[1]


def test_citation_cff_is_cff_1_2_0_of_this_version_and_credits_the_study():
    citation = yaml.safe_load((REPO / "CITATION.cff").read_text())
    # The keys CFF 1.2.0 requires of the file and of every reference.
    assert {"cff-version", "message", "title", "authors"} <= set(citation)
    assert citation["cff-version"] == "1.2.0"
    assert citation["version"] == cnncompare.__version__
    assert citation["license"] == "MIT" and "MIT License" in (REPO / "LICENSE").read_text()
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", citation["date-released"])  # a string, as the schema wants
    for person in citation["authors"]:
        assert "name" in person or "family-names" in person, person
    study = [ref for ref in citation["references"] if ref.get("year") == 2021]
    assert len(study) == 1
    assert {"type", "title", "authors"} <= set(study[0])
    assert "CIFAR-10" in study[0]["title"] and "docs/design.md" in study[0]["notes"]


def test_the_changelogs_newest_version_is_the_packages():
    versions = re.findall(r"^## (\d+\.\d+\.\d+)", (REPO / "CHANGELOG.md").read_text(), re.MULTILINE)
    assert versions and versions[0] == cnncompare.__version__


def test_documentation_links_only_files_of_the_repository():
    for doc in [REPO / "README.md", *sorted((REPO / "docs").glob("*.md")), REPO / "CHANGELOG.md"]:
        for target in re.findall(r"\]\(([^)\s]+)", doc.read_text()):
            assert not re.match(r"[a-z]+:", target), f"{doc.name} links outside the repository: {target}"
            if target.startswith("#"):
                continue  # a heading of the same page (tests/test_docs.py checks anchors)
            path = (doc.parent / target.split("#")[0]).resolve()
            assert REPO in path.parents and path.exists(), f"{doc.name} links {target}, not a file of the repository"
