"""Run the real workflow on a GPU machine and print what it measured.

  python bench/gpu_workflow_check.py [--out DIR]

1. The tiny CIFAR-format archive of the tests (1,000 / 300 images), both
   splits, device auto: checks that training and evaluation picked CUDA,
   recorded it, measured peak GPU memory, and still learn.
2. A CIFAR-10-sized synthetic archive (50,000 / 10,000 images), split 'two',
   the four models of config.yaml for a few epochs each: seconds per 50k-image
   epoch, images per second and peak GPU memory of each on this GPU. The
   pretrained models read weights files of random values placed in the cache
   (no network here), which exercises the same loading path.

Needs snakemake importable by this Python; the data are synthetic, so the
accuracies say nothing about CIFAR-10.
"""

from __future__ import annotations

import argparse
import csv
import shutil
import subprocess
import sys
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "tests"), str(REPO / "workflow" / "scripts")]
import cifar_format  # noqa: E402
from weights_format import write_random_weights  # noqa: E402


def run_workflow(workdir: Path, archive: dict, epochs: int, splits: list[str], models: dict) -> float:
    """Run the Snakefile on `archive` with these model blocks, each trained `epochs` epochs."""
    config = {
        "results_dir": str(workdir / "results"),
        "data_dir": str(workdir / "data"),
        "weights_dir": str(workdir / "weights"),
        "device": "auto",
        "datasets": {"cifar10": {"url": archive["url"], "md5": archive["md5"]}},
        "models": {name: {**block, "epochs": epochs} for name, block in models.items()},
        "compare": {"datasets": ["cifar10"], "splits": splits, "models": list(models), "seeds": [0]},
    }
    workdir.mkdir(parents=True, exist_ok=True)
    configfile = workdir / "config.yaml"
    configfile.write_text(yaml.safe_dump(config))
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"), "--directory", str(workdir),
         "--configfile", str(configfile), "--cores", "8", "--resources", "gpu=1", "--quiet", "rules"],
        check=True,
    )
    return time.perf_counter() - start


def read_rows(path: Path) -> list[dict]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=None, help="copy tables and the report here")
    parser.add_argument("--work", type=Path, default=Path("/tmp/cnncompare-gpu-check"))
    parser.add_argument("--train-images", type=int, default=50_000, help="size of the CIFAR-sized archive")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--tiny-only", action="store_true", help="step 1 only (about a minute)")
    args = parser.parse_args()
    import torch

    print(f"torch {torch.__version__}, cuda available: {torch.cuda.is_available()}", flush=True)
    if torch.cuda.is_available():
        print(f"device: {torch.cuda.get_device_name(0)}", flush=True)
    shutil.rmtree(args.work, ignore_errors=True)
    failures = []

    tiny_dir = args.work / "tiny"
    tiny = cifar_format.write_archive(args.work / "tiny.tar.gz")
    tiny_model = {"custom_cnn": {"arch": "custom_cnn", "batch_size": 50}}
    wall = run_workflow(tiny_dir, tiny, epochs=3, splits=["two", "three"], models=tiny_model)
    print(f"\n[tiny] workflow wall time {wall:.1f} s")
    for row in read_rows(tiny_dir / "results/summary.csv"):
        print(f"[tiny] {row['split']}: device {row['device']}, test_acc {float(row['test_acc']):.3f}, "
              f"peak_gpu_mem_mb {row['peak_gpu_mem_mb']}, images/s {row['images_per_second']}")
        if torch.cuda.is_available() and not row["device"].startswith("cuda"):
            failures.append(f"tiny {row['split']}: ran on {row['device']} although CUDA is present")
        if torch.cuda.is_available() and not row["peak_gpu_mem_mb"]:
            failures.append(f"tiny {row['split']}: no peak GPU memory recorded")
        if float(row["test_acc"]) <= 0.5:
            failures.append(f"tiny {row['split']}: test accuracy {row['test_acc']} is not far above chance")

    if args.tiny_only:
        return finish(args, tiny_dir, None, failures)
    full_dir = args.work / "full"
    start = time.perf_counter()
    full = cifar_format.write_archive(
        args.work / "full.tar.gz", n_train=args.train_images, n_test=args.train_images // 5
    )
    print(f"\n[full] archive written in {time.perf_counter() - start:.1f} s")
    study = yaml.safe_load((REPO / "config.yaml").read_text())["models"]
    for name, block in study.items():
        if block.get("pretrained"):
            write_random_weights(block["arch"], full_dir / "weights", block.get("weights", "DEFAULT"))
    wall = run_workflow(full_dir, full, epochs=args.epochs, splits=["two"], models=study)
    print(f"[full] workflow wall time {wall:.1f} s (download, prepare, split, {len(study)} x train + evaluate, report)")
    history = read_rows(full_dir / "results/history.csv")
    for row in read_rows(full_dir / "results/summary.csv"):
        epochs = [float(h["epoch_seconds"]) for h in history if h["model"] == row["model"]]
        print(f"[full] {row['model']:16s} {row['device']}: epochs {', '.join(f'{e:.2f}' for e in epochs)} s "
              f"(train + validation), {float(row['images_per_second']):.0f} images/s, "
              f"peak GPU memory {row['peak_gpu_mem_mb']} MB, trainable {row['params_trainable']} "
              f"of {row['params_total']}, {row['init']}")
        if torch.cuda.is_available() and not row["device"].startswith("cuda"):
            failures.append(f"full {row['model']}: ran on {row['device']} although CUDA is present")
    for bench in sorted((full_dir / "results/runs").rglob("*.benchmark.tsv")):
        seconds = bench.read_text().splitlines()[1].split()[0]
        print(f"[full] {bench.parent.parent.name} {bench.name}: {seconds} s wall (Snakemake benchmark)")

    return finish(args, tiny_dir, full_dir, failures)


def finish(args, tiny_dir: Path, full_dir: Path | None, failures: list[str]) -> int:
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        for name in ("summary.csv", "history.csv", "report.html"):
            shutil.copy(tiny_dir / "results" / name, args.out / f"tiny_{name}")
        if full_dir:
            shutil.copy(full_dir / "results/summary.csv", args.out / "full_summary.csv")
            shutil.copy(full_dir / "results/history.csv", args.out / "full_history.csv")
    for failure in failures:
        print("FAILED:", failure)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
