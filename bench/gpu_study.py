"""The whole study on one GPU machine, in one call of under 10 minutes: bench/gpu_study.sh.

  bench/gpu_study.sh [--dry-run] [--work DIR] [--epochs 1] [--runs-per-gpu 1,2,4] [--budget-s 570]

From nothing prepared:
1. writes a CIFAR-10-sized synthetic archive in the real format
   (cifar-10-python.tar.gz, 50,000 + 10,000 images, tests/cifar_format.py) and
   ImageNet-shaped weights files of random values in the weights cache (the
   machine needs no network; the pretrained models load them as they would
   ImageNet's);
2. times the training loop against a plain loop on CUDA (bench/run.py --only
   train_loop --device cuda: the median of 5 interleaved repeats per model);
3. runs the study of config.yaml (its four models, both splits, seed 0, cut to
   --epochs epochs each) through the real Snakefile once per
   performance.runs_per_gpu N, each into a results folder of its own beside one
   shared data folder (prepared once, timed apart): wall time, jobs, and each
   model's median epoch as history.csv recorded it;
4. prints one table and writes it, with every figure, to DIR/gpu_study.json.

Each step gets what is left of --budget-s; a step that runs out is cut and
named in the table, so the call ends within the budget.

--dry-run (any machine, seconds): writes a small archive of the same format,
plans each step with `snakemake --dry-run` on the CPU and prints the jobs it
would run, and prints the commands of the other steps without running them.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "tests"), str(REPO / "workflow" / "scripts")]
import cifar_format  # noqa: E402
from gpu_sharing import SPLITS, sharing_config  # noqa: E402  (bench/ is the script's folder)


def study_models(epochs: int) -> dict:
    """config.yaml's model blocks, each cut to `epochs` epochs (its warm-up ending before the last)."""
    models = yaml.safe_load((REPO / "config.yaml").read_text())["models"]
    return {name: {**block, "epochs": epochs, "warmup_epochs": min(block.get("warmup_epochs", 0), epochs - 1)}
            for name, block in models.items()}


class Budget:
    def __init__(self, seconds: float):
        self.end = time.monotonic() + seconds

    def left(self) -> float:
        return max(0.0, self.end - time.monotonic())


def run(cmd: list[str], budget: Budget, log: Path) -> tuple[float, str]:
    """(wall seconds, 'ok' | 'failed (rc)' | 'cut: budget spent'), output to `log`."""
    start = time.perf_counter()
    with open(log, "w") as out:
        try:
            proc = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, cwd=REPO, timeout=budget.left())
            status = "ok" if proc.returncode == 0 else f"failed ({proc.returncode}, see {log})"
        except subprocess.TimeoutExpired:
            status = "cut: budget spent"
    return time.perf_counter() - start, status


def snakemake_cmd(work: Path, configfile: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"), "--directory", str(work),
            "--configfile", str(configfile), "--cores", str(os.cpu_count()), "--resources", "gpu=1", *args]


def job_stats(text: str) -> dict[str, int]:
    sys.path.insert(0, str(REPO / "tests"))
    from conftest import planned_jobs

    return planned_jobs(text)


def epoch_medians(results: Path) -> dict[str, float]:
    """Each model's median epoch (training and validation) over its runs, from history.csv."""
    import csv

    path = results / "history.csv"
    if not path.exists():
        return {}
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    return {model: statistics.median(float(r["epoch_seconds"]) for r in rows if r["model"] == model)
            for model in sorted({r["model"] for r in rows})}


def print_table(rows: list[dict]) -> None:
    columns = ["step", "runs_per_gpu", "wall_s", "speedup", "jobs", "detail", "status"]
    text = [[("" if r.get(c) is None else f"{r[c]:.1f}" if isinstance(r.get(c), float) else str(r[c]))
             for c in columns] for r in rows]
    widths = [max(len(c), *(len(t[i]) for t in text)) for i, c in enumerate(columns)]
    print("\n" + "  ".join(c.ljust(w) for c, w in zip(columns, widths)))
    for t in text:
        print("  ".join(v.ljust(w) for v, w in zip(t, widths)), flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=Path("/tmp/cnncompare-gpu-study"))
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--runs-per-gpu", default="1,2,4")
    parser.add_argument("--train-images", type=int, default=50_000)
    parser.add_argument("--budget-s", type=float, default=570.0, help="the whole call, seconds (10 minutes less 30 s)")
    parser.add_argument("--dry-run", action="store_true", help="plan every step on this machine, run none")
    args = parser.parse_args()
    budget = Budget(args.budget_s)
    values = [int(v) for v in args.runs_per_gpu.split(",")]
    device = "cpu" if args.dry_run else "cuda"
    shutil.rmtree(args.work, ignore_errors=True)
    args.work.mkdir(parents=True)
    rows: list[dict] = []

    if not args.dry_run:
        import torch

        if not torch.cuda.is_available():
            print("no CUDA device here: run with --dry-run to see what this runs", file=sys.stderr)
            return 2
        print(f"{torch.cuda.get_device_name(0)}, {os.cpu_count()} cores, torch {torch.__version__}", flush=True)

    # 1. The archive (the real format) and weights of random values; a small archive for the dry run.
    start = time.perf_counter()
    n_train = 1000 if args.dry_run else args.train_images
    archive = cifar_format.write_archive(args.work / "cifar-10-python.tar.gz", n_train=n_train,
                                         n_test=n_train // 5)
    models = study_models(args.epochs)
    if not args.dry_run:
        from weights_format import write_random_weights

        for block in models.values():
            if block.get("pretrained"):
                write_random_weights(block["arch"], args.work / "weights", block.get("weights", "DEFAULT"))
    rows.append({"step": f"archive ({n_train:,} + {n_train // 5:,} images) and weights",
                 "wall_s": time.perf_counter() - start, "status": "ok"})

    # 2. The training loop against a plain loop, on CUDA: first, being short (about a minute),
    # so that a study which overruns the budget cuts a study, not this.
    loop_json = args.work / "train_loop.json"
    loop = [sys.executable, str(REPO / "bench" / "run.py"), "--only", "train_loop", "--device", "cuda",
            "--train-loop-images", "10000", "--out", str(loop_json)]
    if args.dry_run:
        print("would run:", " ".join(loop))
        rows.append({"step": "train_loop on CUDA, ours / plain (median of 5)", "status": "not run (dry run)"})
    else:
        seconds, status = run(loop, budget, args.work / "train_loop.log")
        if loop_json.exists():
            for r in json.loads(loop_json.read_text())["train_loop"]:
                rows.append({"step": f"train_loop {r['model']}, ours / plain (median of 5)", "wall_s": None,
                             "detail": f"ratio {r['ratio']:.3f} ({r['ratio_min']:.3f}-{r['ratio_max']:.3f}), "
                                       f"{r['ours_images_per_s']:,.0f} vs {r['plain_images_per_s']:,.0f} images/s",
                             "status": r["verdict"]})
        else:
            rows.append({"step": "train_loop on CUDA", "wall_s": seconds, "status": status})

    # 3. The study at each runs_per_gpu; the same threads per job at every N.
    threads = max(1, (os.cpu_count() or 1) // max(values))
    configs = {n: sharing_config(args.work, archive, device, models, n, threads, [0]) for n in values}
    for n, config in configs.items():
        (args.work / f"runs_per_gpu_{n}.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    first = args.work / f"runs_per_gpu_{values[0]}.yaml"
    prepare = snakemake_cmd(args.work, first, "--until", "make_split")
    if args.dry_run:
        print("would run:", " ".join(prepare))
    else:
        seconds, status = run(prepare, budget, args.work / "prepare.log")
        rows.append({"step": "prepare data (download from file://, prepare, 2 splits)", "wall_s": seconds,
                     "status": status})
    base = None
    for n in values:
        configfile = args.work / f"runs_per_gpu_{n}.yaml"
        cmd = snakemake_cmd(args.work, configfile, *(["--dry-run"] if args.dry_run else []))
        log = args.work / f"runs_per_gpu_{n}.log"
        if args.dry_run:
            print("would run:", " ".join(cmd[:-1]))
        seconds, status = run(cmd, budget, log)
        jobs = job_stats(log.read_text()) if args.dry_run else None
        medians = {} if args.dry_run else epoch_medians(args.work / f"runs_per_gpu_{n}")
        if n == 1 and status == "ok" and not args.dry_run:
            base = seconds
        rows.append({
            "step": f"study, {len(models)} models x {len(SPLITS)} splits, {args.epochs} epoch(s)",
            "runs_per_gpu": n, "wall_s": None if args.dry_run else seconds,
            "speedup": base / seconds if base and not args.dry_run and status == "ok" else None,
            "jobs": sum(v for k, v in jobs.items() if k != "all") if jobs else None,
            "detail": ", ".join(f"{k} {v}" for k, v in jobs.items() if k != "all") if jobs else
            ", ".join(f"{m} {s:.2f} s/epoch" for m, s in medians.items()),
            "status": "planned (dry run)" if args.dry_run and status == "ok" else status,
        })

    print_table(rows)
    out = args.work / "gpu_study.json"
    out.write_text(json.dumps({"dry_run": args.dry_run, "epochs": args.epochs, "rows": rows}, indent=2) + "\n")
    print(f"\nwrote {out}; {args.budget_s - budget.left():.0f} s of the {args.budget_s:.0f} s budget used")
    # A missed target is a finding (MISSED in the table), not a failure; a failed or cut step is.
    return 1 if any(r["status"].startswith(("failed", "cut")) for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
