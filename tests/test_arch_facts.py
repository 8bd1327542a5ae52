"""torchvision's answers are cached, so that a Snakemake invocation after the first imports no torch."""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from cnncompare.arch_facts import ArchFacts, check_block_counts
from cnncompare.archs import weights_info
from conftest import REPO, SNAKEMAKE


def test_block_counts_are_checked_without_a_model():
    block = {"arch": "vgg16", "keep_blocks": 3, "freeze": "base"}
    check_block_counts(block, 5)
    with pytest.raises(ValueError, match="keep_blocks: 6 asked, but vgg16 has 5 feature blocks"):
        check_block_counts({**block, "keep_blocks": 6}, 5)
    with pytest.raises(ValueError, match="freeze: 4 blocks asked, but vgg16 keeps only 3"):
        check_block_counts({**block, "freeze": 4}, 5)
    with pytest.raises(ValueError, match="has no feature blocks"):
        check_block_counts({"arch": "vit_b_16", "keep_blocks": 2, "freeze": "none"}, None)


def test_answers_are_torchvisions_and_a_cache_of_another_version_is_ignored(tmp_path):
    path = tmp_path / "facts.json"
    facts = ArchFacts(path)
    assert facts.weights("resnet50", "DEFAULT") == weights_info("resnet50", "DEFAULT")
    assert facts.block_count("vgg16") == 5
    facts.save()
    cached = json.loads(path.read_text())
    assert cached["blocks"] == {"vgg16": 5} and "resnet50:DEFAULT" in cached["weights"]

    cached["blocks"]["vgg16"] = 99
    path.write_text(json.dumps(cached))
    assert ArchFacts(path).block_count("vgg16") == 99  # read, not asked again
    path.write_text(json.dumps({**cached, "torchvision": "0.0.1"}))
    assert ArchFacts(path).block_count("vgg16") == 5  # another torchvision: asked again


def test_a_second_plan_of_the_study_imports_no_torch(tmp_path):
    # A torch that cannot be imported: the second dry run must not need one.
    poisoned = tmp_path / "poisoned"
    for name in ("torch", "torchvision"):
        (poisoned / name).mkdir(parents=True)
        (poisoned / name / "__init__.py").write_text(f"raise ImportError('{name} imported at plan time')\n")
    cmd = [SNAKEMAKE, "--snakefile", str(REPO / "Snakefile"), "--directory", str(tmp_path / "work"),
           "--configfile", str(REPO / "config.yaml"), "--cores", "1", "--dry-run"]
    first = subprocess.run(cmd, capture_output=True, text=True)
    assert first.returncode == 0, first.stderr[-3000:]
    env = {**os.environ, "PYTHONPATH": f"{poisoned}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    second = subprocess.run(cmd, capture_output=True, text=True, env=env)
    assert second.returncode == 0, second.stderr[-3000:]
    assert first.stdout.count("rule train_model") == second.stdout.count("rule train_model") == 8
    # The poison works: without the cache the plan fails on it.
    (tmp_path / "work" / ".snakemake" / "cnncompare" / "arch_facts.json").unlink()
    third = subprocess.run(cmd, capture_output=True, text=True, env=env)
    assert third.returncode != 0 and "imported at plan time" in third.stdout + third.stderr
