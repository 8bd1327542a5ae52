"""Wall times of the workflow itself: the demo from scratch, each job's time and
peak memory from Snakemake's benchmark: files, a no-op re-run, and the dry run
and no-op re-run of a 200-run grid (the default config with 25 seeds) and of a
1,000-run grid (many_runs_config)."""

from __future__ import annotations

import copy
import csv
import re
import resource
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


def snakemake(workdir: Path, *args: str, checkout: Path = REPO) -> tuple[float, str]:
    """Run Snakemake from a checkout of the workflow (this one unless `checkout`
    says; so its profiles/default applies, as for a user) with `workdir` as its
    working directory; (seconds, output)."""
    start = time.perf_counter()
    proc = subprocess.run(
        [SNAKEMAKE, "--directory", str(workdir), *args], cwd=checkout, capture_output=True, text=True,
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
    """A large grid over the default config (the 200-run one unless `overrides` says):
    the dry run from an empty folder and the no-op re-run, best of `repeats` each."""
    overrides = seeds_config() if overrides is None else overrides
    prepared = prepare_grid(workdir, overrides, repeats)
    noop = [noop_rerun(prepared) for _ in range(repeats)]
    return {"runs": grid_runs(overrides), "jobs_planned": prepared["jobs"], "outputs": prepared["outputs"],
            "dry_run_s": min(prepared["dry_run_s"]), "noop_rerun_s": min(noop)}


def prepare_grid(workdir: Path, overrides: dict, repeats: int = 1, checkout: Path = REPO) -> dict:
    """Dry-run a grid (`repeats` times, from an empty folder) with `checkout`'s
    workflow; then put every output the DAG lists in place (empty files: a
    no-op re-run reads none of them) and mark them up to date with `snakemake
    --touch`, which records their metadata as a real run does."""
    workdir.mkdir(parents=True, exist_ok=True)
    overrides_file = workdir / "grid.yaml"
    overrides_file.write_text(yaml.safe_dump(overrides))
    # The checkout's own config.yaml: the Snakefile's configfile is relative to the working directory.
    args = ["--configfile", str(checkout / "config.yaml"), str(overrides_file), "--cores", "2",
            "--resources", "gpu=1"]
    dry = []
    for _ in range(repeats):
        seconds, output = snakemake(workdir, *args, "--dry-run", checkout=checkout)
        dry.append(seconds)
    jobs = planned_total(output)

    _, summary = snakemake(workdir, *args, "--summary", checkout=checkout)
    outputs = [line.split("\t")[0] for line in summary.splitlines()[1:] if "\t" in line]
    for name in outputs:
        path = workdir / name
        if not path.suffix:  # a directory() output (the runs' figures): every file output has a suffix
            path.mkdir(parents=True, exist_ok=True)
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch()
    snakemake(workdir, *args, "--touch", checkout=checkout)
    return {"workdir": workdir, "args": args, "checkout": checkout, "jobs": jobs, "outputs": len(outputs),
            "dry_run_s": dry}


def noop_rerun(prepared: dict, cpu: list | None = None) -> float:
    """Seconds of one re-run of a grid prepare_grid made, which must do nothing;
    its CPU seconds (user and system, Snakemake's process and its children) are
    appended to `cpu` when given: on a busy machine the figure that moves least."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    seconds, output = snakemake(prepared["workdir"], *prepared["args"], checkout=prepared["checkout"])
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if "Nothing to be done" not in output:
        raise RuntimeError("the grid's re-run was not a no-op:\n" + output[-3000:])
    if cpu is not None:
        cpu.append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
    return seconds


def export_checkout(ref: str, folder: Path) -> Path:
    """The tracked files of git revision `ref` of this repository, written to `folder`
    (git archive: no other worktree is touched); outside git, so its report param
    has no commit, as a copied workflow's."""
    folder.mkdir(parents=True, exist_ok=True)
    archive = subprocess.run(["git", "-C", str(REPO), "archive", "--format=tar", ref], capture_output=True,
                             check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(folder)], input=archive, check=True)
    return folder


def noop_against(baseline: str, scratch: Path, overrides: dict, repeats: int = 5) -> dict:
    """The no-op re-run of one grid with this checkout's workflow and with git
    revision `baseline`'s, each in a folder of its own prepared by it, taken in
    turn `repeats` times, so that a busy moment of the machine hits both: the
    median of each, and the median of the repeats' ratios (this / baseline)."""
    import statistics

    checkouts = {"baseline": export_checkout(baseline, scratch / "baseline-checkout"), "this": REPO}
    prepared = {name: prepare_grid(scratch / f"{name}-grid", overrides, checkout=checkout)
                for name, checkout in checkouts.items()}
    times, cpu = {name: [] for name in prepared}, {name: [] for name in prepared}
    for _ in range(repeats):
        for name in prepared:
            times[name].append(noop_rerun(prepared[name], cpu[name]))

    def median_ratio(figures):
        return statistics.median(t / b for t, b in zip(figures["this"], figures["baseline"]))

    return {"baseline": baseline, "jobs_planned": prepared["this"]["jobs"], "repeats": repeats,
            "baseline_noop_s": statistics.median(times["baseline"]), "noop_s": statistics.median(times["this"]),
            "ratio": median_ratio(times), "baseline_cpu_s": statistics.median(cpu["baseline"]),
            "cpu_s": statistics.median(cpu["this"]), "cpu_ratio": median_ratio(cpu)}
