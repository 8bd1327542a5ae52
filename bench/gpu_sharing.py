"""Wall time of 8 runs through the real workflow at performance.runs_per_gpu
N = 1, 2, 4, 8 on one GPU (bench/gpu_check.py --runs-per-gpu), each beside N = 1
measured in the same call.

8 runs: one model of config.yaml (custom_cnn unless told) x 2 splits x 4 seeds,
a few epochs each, on a CIFAR-10-sized synthetic archive (tests/cifar_format.py).
The data are prepared once, outside the timing; each N then trains and
evaluates the 8 runs in a results folder of its own, with --resources gpu=1, so
only runs_per_gpu changes between the rows.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "tests")]
import cifar_format  # noqa: E402

SEEDS = [0, 1, 2, 3]
SPLITS = ["two", "three"]


def model_block(name: str, epochs: int) -> dict:
    """The config.yaml block from random initialisation (no weights to fetch here)."""
    block = yaml.safe_load((REPO / "config.yaml").read_text())["models"][name]
    block = {k: v for k, v in block.items() if k not in ("description", "reference", "weights")}
    # The one-cycle schedule's warm-up must end before the last epoch.
    warmup = min(block.get("warmup_epochs", 0), epochs - 1)
    return {**block, "pretrained": False, "epochs": epochs, "warmup_epochs": warmup}


def sharing_config(work: Path, archive: dict, device: str, models: dict, runs_per_gpu: int, threads: int,
                   seeds: list[int]) -> dict:
    """`models` on both splits of the synthetic CIFAR archive, with `seeds`, at `runs_per_gpu`: each
    value in a results folder of its own over one shared data_dir (bench/gpu_study.py uses it too)."""
    return {
        "results_dir": str(work / f"runs_per_gpu_{runs_per_gpu}"),
        "data_dir": str(work / "data"),  # shared: prepared once
        "weights_dir": str(work / "weights"),
        "device": device,
        "performance": {"runs_per_gpu": runs_per_gpu},
        "datasets": {"cifar10": {"url": archive["url"], "md5": archive["md5"]}},
        "models": models,
        "compare": {"datasets": ["cifar10"], "splits": SPLITS, "models": list(models), "seeds": seeds},
        "resources": {rule: {"gpu": 1, "threads": threads} for rule in ("train_model", "evaluate_model")},
    }


def run_config(work: Path, archive: dict, device: str, model: str, block: dict, runs_per_gpu: int,
               threads: int) -> dict:
    return sharing_config(work, archive, device, {model: block}, runs_per_gpu, threads, SEEDS)


def snakemake(work: Path, config: dict, name: str, *args: str) -> float:
    configfile = work / f"{name}.yaml"
    configfile.write_text(yaml.safe_dump(config))
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"), "--directory", str(work),
         "--configfile", str(configfile), "--cores", str(os.cpu_count()), "--resources", "gpu=1", "--quiet",
         "rules", *args],
        check=True, cwd=REPO,
    )
    return time.perf_counter() - start


def wall_times(work: Path, values: list[int], device: str = "cuda", model: str = "custom_cnn", epochs: int = 2,
               train_images: int = 50_000) -> list[dict]:
    """One row per N: the wall time of training and evaluating the 8 runs, and its speed-up over N = 1."""
    work.mkdir(parents=True, exist_ok=True)
    archive = cifar_format.write_archive(work / "cifar-10-python.tar.gz", n_train=train_images,
                                         n_test=train_images // 5)
    block = model_block(model, epochs)
    # The same threads per job at every N, as many as the cores allow at the largest N.
    threads = max(1, (os.cpu_count() or 1) // max(values))
    first = run_config(work, archive, device, model, block, values[0], threads)
    snakemake(work, first, "prepare", "--until", "make_split")
    rows = []
    for n in values:
        seconds = snakemake(work, run_config(work, archive, device, model, block, n, threads), f"n{n}",
                            "--until", "evaluate_model")
        rows.append({"runs_per_gpu": n, "runs": len(SEEDS) * len(SPLITS), "model": model, "epochs": epochs,
                     "train_images": train_images, "threads_per_job": threads, "wall_s": seconds})
        print(f"runs_per_gpu {n}: 8 runs trained and evaluated in {seconds:.1f} s", flush=True)
    base = next((r["wall_s"] for r in rows if r["runs_per_gpu"] == 1), None)
    for row in rows:
        row["speedup_vs_1"] = base / row["wall_s"] if base else None
    return rows
