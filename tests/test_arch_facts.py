"""The torchvision table shipped with the package: it equals what the installed
torchvision answers, its sizes are what real networks accept, and with it no
plan imports torch."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from cnncompare.plan import arch_facts
from cnncompare.plan.arch_facts import TABLE_PATH, check_block_counts
from cnncompare.train.arch_table import weights_info
from conftest import REPO, SNAKEMAKE, planned_jobs, write_config


def test_block_counts_are_checked_without_a_model():
    block = {"arch": "vgg16", "keep_blocks": 3, "freeze": "base"}
    check_block_counts(block, 5)
    with pytest.raises(ValueError, match="keep_blocks: 6 asked, but vgg16 has 5 feature blocks"):
        check_block_counts({**block, "keep_blocks": 6}, 5)
    with pytest.raises(ValueError, match="freeze: 4 blocks asked, but vgg16 keeps only 3"):
        check_block_counts({**block, "freeze": 4}, 5)
    with pytest.raises(ValueError, match="has no feature blocks"):
        check_block_counts({"arch": "vit_b_16", "keep_blocks": 2, "freeze": "none"}, None)


def test_the_shipped_table_equals_a_fresh_generation(tmp_path):
    """`make arch-table` run against the installed torchvision writes exactly the shipped file."""
    fresh = tmp_path / "torchvision_archs.json"
    env = {**os.environ, "PYTHONPATH": str(REPO / "workflow" / "scripts")}
    proc = subprocess.run([sys.executable, "-W", "ignore", "-m", "cnncompare.train.arch_table", "--out", str(fresh)],
                          capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert fresh.read_text() == TABLE_PATH.read_text(), (
        "the shipped torchvision table differs from the installed torchvision's answers: run `make arch-table`"
    )


def test_the_table_answers_as_torchvision_does():
    for arch, weights in (("resnet50", "DEFAULT"), ("vgg16", "IMAGENET1K_V1"), ("mobilenet_v3_small", "DEFAULT")):
        facts = arch_facts.weights(arch, weights)
        assert (facts.file, facts.url, facts.label) == weights_info(arch, weights)
        assert facts.file.split("-")[-1].startswith(facts.sha256_prefix)
    with pytest.raises(ValueError, match="available: DEFAULT, .*IMAGENET1K_V1"):
        arch_facts.weights("vgg16", "IMAGENET9K")
    assert arch_facts.block_count("vgg16") == 5 and arch_facts.block_count("vit_b_16") is None


@pytest.mark.parametrize("arch, keep_blocks", [("vgg11", None), ("vgg16", 3), ("alexnet", None), ("densenet121", None)])
def test_the_smallest_size_is_what_the_real_network_takes(arch, keep_blocks):
    """Found on the meta device; checked here with real weights on the CPU: one
    pixel less fails ("Output size is too small" and the like), the smallest works."""
    import torch

    from cnncompare.plan.config import resolve_config
    from cnncompare.train.models import build_model

    smallest, largest = arch_facts.input_range(arch, keep_blocks)
    block = resolve_config({"models": {"m": {"arch": arch, "keep_blocks": keep_blocks}}, "compare": {"models": ["m"]}})
    block = block["models"]["m"]
    for size, works in ((smallest, True), (smallest - 1, False)):
        try:
            model = build_model({**block, "image_size": size}, 10).eval()
            with torch.no_grad():
                model(torch.zeros(2, 3, size, size))
        except RuntimeError:
            assert not works, f"{arch} at {size} px failed"
        else:
            assert works, f"{arch} at {size} px worked, but the table says {smallest} is the smallest"
    assert largest is None


def test_an_arch_the_table_does_not_know_is_told_with_the_way_to_add_it():
    message = arch_facts.unknown_arch_hint("resnet9000")
    assert "unknown arch 'resnet9000'" in message and "torchvision" in message
    assert arch_facts.table()["torchvision"] in message and TABLE_PATH.name in message


def _poisoned(tmp_path):
    """A torch and torchvision that cannot be imported."""
    poisoned = tmp_path / "poisoned"
    for name in ("torch", "torchvision"):
        (poisoned / name).mkdir(parents=True)
        (poisoned / name / "__init__.py").write_text(f"raise ImportError('{name} imported at plan time')\n")
    return {**os.environ, "PYTHONPATH": f"{poisoned}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}


def test_no_plan_imports_torch_first_or_later(tmp_path):
    """The first plan of the study, a second one, and one of pretrained models of other
    families, with a torch that cannot be imported: each plans, and no cache is written."""
    env = _poisoned(tmp_path)
    others = write_config(tmp_path / "others.yaml", {
        "models": {"vit": {"arch": "vit_b_16", "pretrained": True}, "mnet": {"arch": "mobilenet_v3_small",
                                                                              "pretrained": True, "keep_blocks": 4}},
        "compare": {"models": ["vit", "mnet"]},
    })
    for configs in ([REPO / "config.yaml"], [REPO / "config.yaml"], [REPO / "config.yaml", others]):
        cmd = [SNAKEMAKE, "--snakefile", str(REPO / "Snakefile"), "--directory", str(tmp_path / "work"),
               "--configfile", *map(str, configs), "--cores", "1", "--dry-run"]
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
        assert proc.returncode == 0, proc.stderr[-3000:]
        jobs = planned_jobs(proc.stdout + proc.stderr)
        assert jobs["train_model"] == (8 if len(configs) == 1 else 4)
    assert not (tmp_path / "work" / ".snakemake" / "cnncompare").exists()
    # The poison works: the package's models module cannot be imported with it.
    probe = subprocess.run([sys.executable, "-c", "import cnncompare.train.models"], capture_output=True, text=True,
                           env={**env, "PYTHONPATH": env["PYTHONPATH"] + os.pathsep + str(REPO / "workflow/scripts")})
    assert probe.returncode != 0 and "imported at plan time" in probe.stderr


def test_what_the_snakefile_imports_needs_neither_torch_nor_numpy():
    """Snakemake's own process plans, and runs the downloads, with Snakemake, PyYAML
    and jsonschema alone (the SLURM plugin brings numpy, a plain Snakemake does not)."""
    code = (
        "import sys\n"
        "import cnncompare.plan.plan, cnncompare.plan.notices, cnncompare.plan.plan_checks, cnncompare.data.datasets, cnncompare.data.formats, cnncompare.logs\n"
        "import cnncompare.plan.report_files, cnncompare.plan.runs, cnncompare.report.after_failure, cnncompare.plan.sizing, cnncompare.plan.archs\n"
        "import cnncompare.data.formats.imagefolder\n"
        "heavy = sorted(m for m in ('torch', 'torchvision', 'numpy', 'PIL', 'scipy', 'sklearn') if m in sys.modules)\n"
        "print(','.join(heavy))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO / "workflow" / "scripts")}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == ""


def test_with_another_torchvision_installed_the_message_says_how_to_regenerate(monkeypatch):
    monkeypatch.setattr(arch_facts.metadata, "version", lambda name: "0.99.0")
    message = arch_facts.unknown_arch_hint("resnet9000")
    assert "the installed torchvision is 0.99.0" in message and "make arch-table" in message
