"""The package's wings keep to the imports their docstrings allow.

plan: shared modules and the data wing's numpy-free facts; data: shared only;
report and track: shared and plan; train: anything but report. And planning
imports no torch, numpy or pandas: Snakemake's own process plans without them.
"""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "workflow" / "scripts" / "cnncompare"
SHARED = {"fileio", "logs", "columns", "protocols", "nested"}
WINGS = ("plan", "data", "train", "report", "track")
ALLOWED = {
    "plan": {"plan", "data"},
    "data": {"data"},
    "train": {"train", "plan", "data", "track"},
    "report": {"report", "plan"},
    "track": {"track", "plan"},
}


def imported_parts(path: Path):
    """The first part after `cnncompare.` of every import in a module."""
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("cnncompare"):
            parts = node.module.split(".")
            if len(parts) > 1:
                yield parts[1]
            else:  # from cnncompare import x
                yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                if parts[0] == "cnncompare" and len(parts) > 1:
                    yield parts[1]


def test_every_module_sits_in_a_wing_or_is_shared():
    top = {p.stem for p in PACKAGE.glob("*.py")} - {"__init__"}
    assert top <= SHARED, f"modules outside a wing: {sorted(top - SHARED)}"
    for wing in WINGS:
        doc = ast.get_docstring(ast.parse((PACKAGE / wing / "__init__.py").read_text()))
        assert doc and "May import" in doc, f"{wing}/__init__.py should say what the wing may import"


@pytest.mark.parametrize("wing", WINGS)
def test_a_wing_imports_only_what_its_docstring_allows(wing):
    wrong = []
    for path in sorted((PACKAGE / wing).rglob("*.py")):
        for part in imported_parts(path):
            if part in WINGS and part not in ALLOWED[wing]:
                wrong.append(f"{path.relative_to(PACKAGE)} imports cnncompare.{part}")
    assert not wrong, "\n".join(wrong)


def test_the_shared_modules_import_no_wing():
    for name in SHARED:
        path = PACKAGE / f"{name}.py"
        if path.exists():
            assert not set(imported_parts(path)) & set(WINGS), name


def test_planning_imports_no_torch_numpy_or_pandas():
    """Every module of the plan wing, and what Snakemake's process imports of
    the data wing, loaded in a fresh interpreter."""
    plan_modules = sorted(f"cnncompare.plan.{p.stem}" for p in (PACKAGE / "plan").glob("*.py")
                          if p.stem != "__init__")
    code = (
        "import sys\n"
        + "".join(f"import {m}\n" for m in plan_modules)
        + "import cnncompare.data.datasets, cnncompare.data.formats, cnncompare.protocols, cnncompare.logs\n"
        + "heavy = sorted({'torch', 'torchvision', 'numpy', 'pandas', 'scipy'} & set(sys.modules))\n"
        + "print(' '.join(heavy))\n"
    )
    probe = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                           env={"PYTHONPATH": str(PACKAGE.parent)}, timeout=60)
    assert probe.returncode == 0, probe.stderr
    assert probe.stdout.strip() == "", f"planning imported {probe.stdout.strip()}"
