"""Results folders written by a test instead of by training: every file a run
leaves that aggregate_results and render_report read (metrics.json,
history.csv, the two benchmark files, confusion.csv, misclassified.npz,
predictions.csv), with
plausible values, so the report's rules run for real on grids too large to
train in a test (200 runs)."""

from __future__ import annotations

import csv
import json
import zlib
from pathlib import Path

import numpy as np

from cnncompare.columns import HISTORY_COLUMNS
from cnncompare.data.class_balance import balance_scores

DIGITS = [str(i) for i in range(10)]
BENCHMARK_HEADER = ["s", "h:m:s", "max_rss", "max_vms", "max_uss", "max_pss", "io_in", "io_out", "mean_load",
                    "cpu_time"]


def model_block(arch: str = "custom_cnn", **overrides) -> dict:
    block = {"arch": arch, "epochs": 10, "batch_size": 32, "optimizer": "sgd", "lr": 0.02, "momentum": 0.9,
             "nesterov": True, "weight_decay": 5e-4, "schedule": "onecycle", "warmup_epochs": 1, "dropout": 0.25,
             "augment": {"crop_padding": 4, "flip": True}, "keep_weights": "best", "label_smoothing": 0.0,
             "eval_batch_size": 1000, "image_size": 32, "pretrained": False, "weights": "DEFAULT", "freeze": "none"}
    return {**block, **overrides}


def _rng(*key) -> np.random.Generator:
    return np.random.default_rng(zlib.crc32("/".join(map(str, key)).encode()))


def smooth_images(rng: np.random.Generator, count: int, size: int = 32) -> np.ndarray:
    """Images with the coarse structure of photographs (low-frequency colour),
    so their PNGs compress as real thumbnails do, not as noise."""
    coarse = rng.integers(0, 256, size=(count, 4, 4, 3)).astype(np.float32)
    images = np.repeat(np.repeat(coarse, size // 4, axis=1), size // 4, axis=2)
    return np.clip(images + rng.normal(0, 6, images.shape), 0, 255).astype(np.uint8)


def write_run(run_dir: Path, dataset: str, split: str, model: str, seed: int, *, accuracy: float,
              epoch_seconds: float, params: int, epochs: int = 10, classes=DIGITS, cpu_share: float = 1.8,
              device: str = "cpu (x86_64, 2 threads)", extra: dict | None = None, block: dict | None = None,
              sizes=(1437, 360, 360)) -> dict:
    """One completed run's files; returns its metrics."""
    rng = _rng(dataset, split, model, seed)
    run_dir.mkdir(parents=True, exist_ok=True)
    history, elapsed = [], 0.0
    for epoch in range(1, epochs + 1):
        progress = epoch / epochs
        seconds = epoch_seconds * float(rng.normal(1.0, 0.05)) * (1.6 if epoch == 1 else 1.0)
        elapsed += seconds
        val = accuracy * (1 - 0.7 * (1 - progress) ** 2) + float(rng.normal(0, 0.01))
        history.append({
            "epoch": epoch, "train_loss": round(2.3 * (1 - progress) ** 2 + 0.05 + float(rng.random()) * 0.02, 4),
            "train_acc": round(min(0.999, val - 0.02), 4), "val_loss": round(2.2 * (1 - progress) ** 2 + 0.1, 4),
            "val_acc": round(min(0.999, val), 4), "lr": round(0.02 * (1 - progress), 6),
            "epoch_seconds": round(seconds, 3), "elapsed_seconds": round(elapsed, 3),
        })
    with open(run_dir / "history.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=HISTORY_COLUMNS)
        writer.writeheader()
        writer.writerows(history)
    n_test = sizes[2]
    drawn = min(0.999, accuracy + float(rng.normal(0, 0.01)))
    # A confusion matrix of about that accuracy: the diagonal holds the right share of each class.
    per_class = np.full(len(classes), n_test // len(classes))
    matrix = np.zeros((len(classes), len(classes)), dtype=np.int64)
    for i, total in enumerate(per_class):
        right = int(round(total * drawn))
        matrix[i, i] = right
        wrong = rng.multinomial(total - right, np.full(len(classes) - 1, 1 / (len(classes) - 1)))
        matrix[i, [j for j in range(len(classes)) if j != i]] = wrong
    test_acc = float(np.trace(matrix) / matrix.sum())  # as evaluation computes it: the matrix's, predictions.csv's
    with open(run_dir / "confusion.csv", "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["true\\predicted", *classes])
        for name, row in zip(classes, matrix):
            writer.writerow([name, *row.tolist()])
    write_predictions(run_dir / "predictions.csv", matrix, rng)
    true = np.arange(8) % len(classes)
    np.savez(run_dir / "misclassified.npz", images=smooth_images(rng, 8), true=true,
             predicted=(true + 1) % len(classes), index=np.arange(8) * 7)
    train_seconds = round(elapsed, 3)
    wall = train_seconds + 12.0
    for job, seconds, cpu in (("train", wall, wall * cpu_share), ("evaluate", 4.0, 5.0)):
        with open(run_dir / f"{job}.benchmark.tsv", "w") as fh:
            fh.write("\t".join(BENCHMARK_HEADER) + "\n")
            fh.write(f"{seconds:.4f}\t0:00:{int(seconds) % 60:02d}\t812.4\t2000\t700\t720\t10\t2\t80\t{cpu:.2f}\n")
    best = max(history, key=lambda h: h["val_acc"])
    block = block or model_block(epochs=epochs)
    metrics = {
        "dataset": dataset, "split": split, "model": model, "seed": seed, "arch": block["arch"],
        "status": "completed", "epochs_planned": epochs, "epochs_run": epochs, "best_epoch": best["epoch"],
        "tested_epoch": best["epoch"], "tested_weights": f"best validation epoch ({best['epoch']})",
        "train_seconds": train_seconds, "setup_seconds": 2.0, "images_per_second": round(sizes[0] / epoch_seconds, 1),
        "peak_rss_mb": 800.0 + float(rng.random()) * 50, "peak_gpu_mem_mb": None, "checkpoint_bytes": params * 4 + 1500,
        "params_total": params, "params_trainable": params, "params_frozen": 0, "image_size": block["image_size"],
        "pretrained": False, "weights": None, "init": "random initialisation", "num_classes": len(classes),
        "train_size": sizes[0], "val_size": sizes[1], "test_size": sizes[2], "device": device, "threads": 2,
        "started_at": "2026-11-30T10:00:00+00:00",
        "versions": {"cnncompare": "0.1.0", "python": "3.11.2", "torch": "2.14.1", "torchvision": "0.29.1",
                     "numpy": "2.4.6", "snakemake": "9.27.1"},
        "config": block, "train_loss": history[-1]["train_loss"], "train_acc": best["train_acc"],
        "val_loss": best["val_loss"], "val_acc": best["val_acc"], "test_loss": round(1 - test_acc + 0.1, 4),
        "test_acc": test_acc, **balance_scores(matrix), "eval_seconds": 1.5,
        # Inference figures of the size a CNN of `params` parameters has at 32 px on two cores.
        "gmacs": round(GMACS.get(model, params * 150 / 1e9), 6),
        "inference_images_per_second": round(1e9 / params * 0.5 * float(rng.normal(1.0, 0.05)) + 50, 1),
        "latency_ms": round(params / 1e5 * float(rng.normal(1.0, 0.05)) + 0.5, 3),
        **(extra or {}),
    }
    (run_dir / "metrics.json").write_text(json.dumps(metrics, indent=2))
    return metrics


def write_predictions(path: Path, matrix: np.ndarray, rng: np.random.Generator) -> None:
    """predictions.csv agreeing with the confusion matrix: the test images sorted by class, as
    positions 0.. of the test file, each class's predictions in an order of the run's own."""
    true = np.repeat(np.arange(len(matrix)), matrix.sum(axis=1))
    predicted = np.concatenate([rng.permutation(np.repeat(np.arange(len(row)), row)) for row in matrix])
    probability = np.round(rng.uniform(0.3, 1.0, len(true)), 6)
    with open(path, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["index", "true", "predicted", "probability"])
        writer.writerows(zip(range(len(true)), true.tolist(), predicted.tolist(), probability.tolist()))


# Multiply-adds per image at 32 px (bench/run.py --only inference measures them).
GMACS = {"custom_cnn": 0.038654, "vgg16": 0.190649, "vgg16_finetune": 0.190649, "resnet50": 0.086038}

# Four models of the demo's kind: (accuracy, seconds per epoch, trainable parameters).
MODELS = {
    "custom_cnn": (0.97, 2.0, 307_946),
    "vgg16": (0.62, 1.6, 137_738),
    "vgg16_finetune": (0.90, 2.4, 1_873_226),
    "resnet50": (0.80, 6.5, 26_136_138),
}


def write_grid(results: Path, seeds: int, dataset: str = "digits", splits=("two", "three"), models=MODELS,
               epochs: int = 20) -> list:
    """Every run of models x splits x seeds under results/runs/ (20 epochs each,
    as the study trained); returns their metrics."""
    found = []
    for split in splits:
        for model, (accuracy, seconds, params) in models.items():
            for seed in range(seeds):
                run_dir = results / "runs" / dataset / split / model / f"seed{seed}"
                bonus = 0.01 if split == "two" else 0.0  # picking the epoch on the test set flatters
                found.append(write_run(run_dir, dataset, split, model, seed, accuracy=accuracy + bonus,
                                       epoch_seconds=seconds, params=params, epochs=epochs,
                                       block=model_block(epochs=epochs)))
    return found


def render_written(runs_root: Path, out: Path, **render) -> Path:
    """The report of every run written under runs_root ({dataset}/{split}/{model}/seed{n}/), made by
    the real aggregate and render steps with the inputs the rules give them: out/report.html.
    `render`: render_files's other arguments (models, halving, ...)."""
    from cnncompare.report.aggregate import aggregate
    from cnncompare.report.render import render_files

    runs = sorted(p.parent for p in runs_root.glob("*/*/*/*/metrics.json"))
    files = {name: [r / name for r in runs] for name in ("metrics.json", "history.csv", "confusion.csv",
                                                          "misclassified.npz", "predictions.csv")}
    aggregate(files["metrics.json"], files["history.csv"], out / "summary.csv", out / "history.csv",
              train_benchmarks=[r / "train.benchmark.tsv" for r in runs],
              evaluate_benchmarks=[r / "evaluate.benchmark.tsv" for r in runs])
    template = Path(__file__).resolve().parents[1] / "report" / "report.html.j2"
    render_files(out / "summary.csv", out / "history.csv", template, out / "report.html",
                 metrics=files["metrics.json"], confusion=files["confusion.csv"],
                 misclassified=files["misclassified.npz"], predictions=files["predictions.csv"], **render)
    return out / "report.html"
