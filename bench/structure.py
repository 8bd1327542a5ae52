"""The code's structure in figures, for a checkout: modules per wing, the size of
common.smk and of the biggest modules, and how many places write three facts that
should have one home (runs_per_gpu's default, split titles, accuracy formats).

    python bench/structure.py [CHECKOUT]     # default: this checkout

Counts are of code lines (comments and docstrings are not stripped, but tests,
docs and benchmarks are not searched), so compare two checkouts with the same script.
"""

from __future__ import annotations

import re
import sys
from collections import Counter
from pathlib import Path

# A literal default of runs_per_gpu: `runs_per_gpu=1`, `runs_per_gpu: int = 1`,
# `.get("runs_per_gpu", 1)`, `runs_per_gpu: 1` (YAML), a schema `default: 1` under it.
RUNS_PER_GPU_DEFAULT = re.compile(r"runs_per_gpu\"?\s*(?::\s*int\s*)?(=|,|:)\s*1\b")
# A split variant's title or name in words: "three splits (...)", 'two splits', "Two-split".
SPLIT_TITLE = re.compile(r"""["'][^"'\n]*\b(two|three)[ -]splits?\b""", re.I)
# An accuracy (a fraction) written as a percentage: `* 100:.1f`, `:.1%`, `| pct`, `* 100|round`.
ACCURACY_FORMAT = re.compile(r"\*\s*100\s*:[+]?\.\d+f|\{[^}]*:\.\d%\}|\*\s*100\)?\s*\|\s*round")


def code_files(root: Path):
    for pattern in ("workflow/**/*.py", "workflow/**/*.smk", "report/**/*.j2", "Snakefile", "config.yaml",
                    "workflow/schemas/*.yaml"):
        yield from (p for p in root.glob(pattern) if p.is_file())


def schema_default_lines(root: Path) -> int:
    """`default: 1` within the runs_per_gpu entry of the schema."""
    schema = root / "workflow/schemas/config.schema.yaml"
    lines = schema.read_text().splitlines() if schema.exists() else []
    for i, line in enumerate(lines):
        if line.strip().startswith("runs_per_gpu:"):
            indent = len(line) - len(line.lstrip())
            for follow in lines[i + 1:]:
                if follow.strip() and len(follow) - len(follow.lstrip()) <= indent:
                    break
                if re.match(r"\s*default:\s*1\b", follow):
                    return 1
    return 0


def places(root: Path, pattern: re.Pattern, only=None) -> list[str]:
    found = []
    for path in code_files(root):
        if only and not only(path):
            continue
        for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
            if pattern.search(line):
                found.append(f"{path.relative_to(root)}:{number}")
    return found


def main(root: Path) -> None:
    package = root / "workflow/scripts/cnncompare"
    modules = [p for p in package.rglob("*.py") if p.name != "__init__.py" or p.parent.name == "formats"]
    wings = Counter(p.relative_to(package).parts[0] if len(p.relative_to(package).parts) > 1 else "(top level)"
                    for p in modules)
    print(f"== {root}")
    print(f"modules: {len(modules)}; per wing: " + ", ".join(f"{w} {n}" for w, n in sorted(wings.items())))
    common = root / "workflow/rules/common.smk"
    print(f"common.smk: {len(common.read_text().splitlines())} lines")
    biggest = sorted(((len(p.read_text().splitlines()), p.relative_to(package)) for p in modules), reverse=True)[:3]
    print("three biggest modules: " + ", ".join(f"{path} {n}" for n, path in biggest))
    rpg = places(root, RUNS_PER_GPU_DEFAULT, only=lambda p: "schemas" not in p.parts)
    rpg_count = len(rpg) + schema_default_lines(root)
    print(f"places writing runs_per_gpu's default: {rpg_count}" + (f" ({', '.join(rpg)}, + schema)" if rpg else ""))
    titles = places(root, SPLIT_TITLE, only=lambda p: p.suffix in {".py", ".j2", ".smk"})
    outside = [t for t in titles if not t.startswith("workflow/scripts/cnncompare/protocols.py")]
    print(f"lines spelling a split title: {len(titles)} in {len({t.split(':')[0] for t in titles})} files; "
          f"outside protocols.py: {len(outside)} in {len({t.split(':')[0] for t in outside})} files")
    acc = places(root, ACCURACY_FORMAT, only=lambda p: p.suffix in {".py", ".j2"})
    print(f"lines formatting an accuracy as a percentage: {len(acc)} in {len({a.split(':')[0] for a in acc})} files")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).resolve().parents[1]).resolve())
