"""Wall times of the workflow itself: the demo from scratch, each job's time and
peak memory from Snakemake's benchmark: files, a no-op re-run, and the dry run
and no-op re-run of a 200-run grid (the default config with 25 seeds) and of a
1,000-run grid (many_runs_config)."""

from __future__ import annotations

import copy
import csv
import re
import subprocess
import sys
import time
from pathlib import Path

import yaml
from snakemake.utils import update_config

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "workflow" / "scripts"))
from cnncompare.plan.plan import make_plan  # noqa: E402  (the package lives under workflow/scripts)
SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))


def snakemake(workdir: Path, *args: str) -> tuple[float, str]:
    """Run Snakemake from the repository (so profiles/default applies, as for a user)
    with `workdir` as its working directory; (seconds, output)."""
    start = time.perf_counter()
    proc = subprocess.run(
        [SNAKEMAKE, "--directory", str(workdir), *args], cwd=REPO, capture_output=True, text=True,
    )
    seconds = time.perf_counter() - start
    if proc.returncode:
        raise RuntimeError(f"snakemake {' '.join(args)} failed:\n{proc.stderr[-3000:]}")
    return seconds, proc.stdout + proc.stderr


def planned_total(output: str) -> int:
    match = re.search(r"^total\s+(\d+)", output, re.MULTILINE)
    return int(match.group(1)) if match else 0


def job_benchmarks(results: Path) -> list[dict]:
    """One row per train/evaluate job: Snakemake's measured wall seconds and peak RSS."""
    rows = []
    for path in sorted(results.rglob("*.benchmark.tsv")):
        with open(path, newline="") as fh:
            row = next(csv.DictReader(fh, delimiter="\t"))
        run = path.parent.relative_to(results / "runs")
        rows.append({
            "job": f"{path.name.split('.')[0]} {run}", "seconds": float(row["s"]),
            "max_rss_mb": float(row["max_rss"]) if row["max_rss"] not in ("", "-", "NA") else None,
        })
    return rows


def demo(workdir: Path) -> dict:
    """The offline demo (make demo's command) from an empty folder, then a no-op re-run."""
    # The Snakefile's own configfile is relative to the working directory: name both.
    configs = [str(REPO / "config.yaml"), str(REPO / ".test" / "demo.yaml")]
    args = ["--configfile", *configs, "--cores", "2", "--resources", "gpu=1"]
    wall, _ = snakemake(workdir, *args)
    noop, output = snakemake(workdir, *args)
    if "Nothing to be done" not in output:
        raise RuntimeError("the demo's re-run was not a no-op:\n" + output[-3000:])
    results = workdir / yaml.safe_load((REPO / ".test" / "demo.yaml").read_text())["results_dir"]
    return {"wall_s": wall, "noop_rerun_s": noop, "jobs": job_benchmarks(results)}


def seeds_config(seeds: int = 25) -> dict:
    """The 200-run grid: the default config (2 splits x 4 models) with `seeds` seeds."""
    return {"compare": {"seeds": list(range(seeds))}}


def many_runs_config(lrs: int = 25, batch_sizes: int = 10, seeds: int = 2) -> dict:
    """The 1,000-run grid, as a user writes it: one custom_cnn block swept over
    `lrs` learning rates x `batch_sizes` batch sizes (250 variants), x 2 splits x
    `seeds` seeds, with compare.max_runs raised to hold it."""
    sweep = {"lr": [round(0.001 * (i + 1), 6) for i in range(lrs)],
             "batch_size": [16 * (i + 1) for i in range(batch_sizes)]}
    return {
        "models": {"cnn": {"arch": "custom_cnn", "epochs": 20, "sweep": sweep}},
        "compare": {"datasets": ["cifar10"], "splits": ["two", "three"], "models": ["cnn"],
                    "seeds": list(range(seeds)), "max_runs": 1000},
    }


def grid_runs(overrides: dict) -> int:
    """The number of runs the plan makes of the default config with `overrides`
    merged onto it, as a second --configfile is (the schema fills the rest)."""
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    update_config(config, copy.deepcopy(overrides))
    return len(make_plan(config).runs)


def grid(workdir: Path, overrides: dict | None = None, repeats: int = 3) -> dict:
    """A large grid over the default config (the 200-run one unless `overrides` says).

    Dry run from an empty folder; then every output the DAG lists is put in
    place (empty files: a no-op re-run reads none of them) and marked up to
    date with `snakemake --touch`, which records their metadata as a real run
    does; then the no-op re-run. Best of `repeats` for each.
    """
    overrides = seeds_config() if overrides is None else overrides
    workdir.mkdir(parents=True, exist_ok=True)
    overrides_file = workdir / "grid.yaml"
    overrides_file.write_text(yaml.safe_dump(overrides))
    args = ["--configfile", str(REPO / "config.yaml"), str(overrides_file), "--cores", "2", "--resources", "gpu=1"]
    dry = []
    for _ in range(repeats):
        seconds, output = snakemake(workdir, *args, "--dry-run")
        dry.append(seconds)
    jobs = planned_total(output)

    _, summary = snakemake(workdir, *args, "--summary")
    outputs = [line.split("\t")[0] for line in summary.splitlines()[1:] if "\t" in line]
    for name in outputs:
        path = workdir / name
        if not path.suffix:  # a directory() output (the runs' figures): every file output has a suffix
            path.mkdir(parents=True, exist_ok=True)
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch()
    snakemake(workdir, *args, "--touch")
    noop = []
    for _ in range(repeats):
        seconds, output = snakemake(workdir, *args)
        if "Nothing to be done" not in output:
            raise RuntimeError("the grid's re-run was not a no-op:\n" + output[-3000:])
        noop.append(seconds)
    return {"runs": grid_runs(overrides), "jobs_planned": jobs, "outputs": len(outputs), "dry_run_s": min(dry),
            "noop_rerun_s": min(noop)}
