"""What the training code does on one GPU, in a few minutes, on synthetic CIFAR-shaped data.

  python bench/gpu_check.py [--train-images 50000] [--out results/gpu_check.json] [--compile]
  python bench/gpu_check.py --runs-per-gpu 1,2,4,8 [--epochs 2] [--model custom_cnn]

For each model of config.yaml (random initialisation, 32 px): seconds per
50,000-image training epoch, images per second in fp32 and under bf16
autocast, peak GPU memory, the time of a 10,000-image evaluation pass, and
our loop against a plain PyTorch loop over pre-augmented batches. Then the
pipeline ratio on the GPU (ours against transforms.v2 through a DataLoader
with a worker per core), whether deterministic mode repeats itself, and an
estimate of the full default comparison (8 runs, 20 epochs each).
The data are random, so no accuracy is measured.

With --runs-per-gpu, it measures that alone instead: the wall time of 8 runs
through the real workflow (one model x 2 splits x 4 seeds) at each
performance.runs_per_gpu N, beside N = 1 (bench/gpu_sharing.py).
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import os
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import measure  # noqa: E402
from cnncompare.train import costs  # noqa: E402
from cnncompare.train.devices import Performance, Stopwatch, choose_device, set_determinism  # noqa: E402
from cnncompare.train.training import RunData, fit, predict, seed_everything  # noqa: E402

JOB_STARTUP_SECONDS = 10  # a training or evaluation job's Python, torch and CUDA start, as seen on a GPU machine


def epoch_figures(name: str, block: dict, images, labels, test, device, perf: Performance) -> dict:
    """One timed 50k-image epoch with our loop and one with the plain loop, after a warm-up.

    peak_mem_mb is the peak of this measurement alone: both loops' models and
    data (50k uint8 images, and the baseline's 600 MB of pre-augmented floats).
    A training job's own peak is in its train.json (bench/gpu_workflow_check.py).
    """
    gc.collect()  # the previous measurement's models and data, out of this one's peak
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)
    loop = measure.train_loop(block, images, labels, device, perf, repeats=1, warmup_images=4096)
    peak = costs.peak_gpu_mem_mb(device)
    model, forward = measure.make_model(block, device, dataclasses.replace(perf, compile=False))
    test_x, test_y = (torch.from_numpy(a).to(device) for a in test)
    predict(model, test_x, test_y, block["eval_batch_size"], perf, forward)  # warm-up
    clock = Stopwatch(device).start()
    predict(model, test_x, test_y, block["eval_batch_size"], perf, forward)
    eval_seconds = clock.seconds()
    return {
        "model": name, "precision": perf.describe()["precision"], "compile": perf.compile,
        "epoch_s": loop["images"] / loop["ours_images_per_s"], "images_per_s": loop["ours_images_per_s"],
        "plain_images_per_s": loop["plain_images_per_s"], "loop_ratio": loop["ratio"],
        "eval_10k_s": eval_seconds * 10_000 / len(test_y), "peak_mem_mb": peak,
    }


def determinism_repeats(images, labels, device) -> bool:
    """Two deterministic custom_cnn runs of one epoch give the same history."""
    block = {**measure.study_blocks(["custom_cnn"])["custom_cnn"], "epochs": 1}
    x, y = torch.from_numpy(images[:10_000]).to(device), torch.from_numpy(labels[:10_000]).to(device)
    data = RunData({"train": (x, y), "val": (x[:2000], y[:2000]), "test": (x[:2000], y[:2000])}, list("0123456789"),
                   measure.CIFAR_MEAN, measure.CIFAR_STD)
    perf = Performance.resolve({"deterministic": True}, device)
    set_determinism(True, device)
    histories = []
    for _ in range(2):
        seed_everything(0)
        model = measure.make_model(block, device, perf)[0]
        result = fit(model, data, block, 0, device, perf=perf)
        histories.append([(r["train_loss"], r["val_loss"], r["val_acc"]) for r in result.history])
    set_determinism(False, device)
    return histories[0] == histories[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train-images", type=int, default=50_000)
    parser.add_argument("--out", type=Path, default=measure.REPO / "results" / "gpu_check.json")
    parser.add_argument("--test-images", type=int, default=10_000)
    parser.add_argument("--compile", action="store_true", help="also time torch.compile (a minute or more per model)")
    parser.add_argument("--device", default="cuda", choices=["cuda", "cpu"], help="cpu: a smoke test of this script")
    parser.add_argument("--runs-per-gpu", default=None,
                        help="e.g. 1,2,4,8: only the wall time of 8 workflow runs at each performance.runs_per_gpu")
    parser.add_argument("--epochs", type=int, default=2, help="epochs of each run, with --runs-per-gpu")
    parser.add_argument("--model", default="custom_cnn", help="the config.yaml model of the runs, with --runs-per-gpu")
    args = parser.parse_args()
    if args.device == "cuda" and not torch.cuda.is_available():
        what = "runs_per_gpu not measured" if args.runs_per_gpu else "nothing to check"
        print(f"no CUDA device: {what} (--device cpu runs the same steps on the CPU)")
        return 1
    if args.runs_per_gpu:
        return check_runs_per_gpu(args)
    start = time.perf_counter()
    device = choose_device(args.device)
    print(f"{costs.device_name(device)}, torch {torch.__version__}, {os.cpu_count()} CPU cores", flush=True)
    images, labels = measure.synthetic_cifar(args.train_images)
    test = measure.synthetic_cifar(args.test_images, seed=1)
    blocks = measure.study_blocks()
    set_determinism(False, device)

    rows = []
    for name, block in blocks.items():
        for precision in ("fp32", "bf16") if device.type == "cuda" else ("fp32",):
            perf = Performance.resolve({"precision": precision}, device)
            rows.append(epoch_figures(name, block, images, labels, test, device, perf))
            measure.print_table(rows[-1:], list(rows[-1]))
    columns = ["model", "precision", "compile", "epoch_s", "images_per_s", "plain_images_per_s", "loop_ratio",
               "eval_10k_s", "peak_mem_mb"]
    print("\nper model, 32 px, batch 128, one epoch of", args.train_images, "images:")
    measure.print_table(rows, columns)

    pipeline = measure.pipeline(images, labels, blocks["custom_cnn"]["augment"], 128, device, os.cpu_count())
    print(f"\npipeline on {device.type} (crop, flip, normalise; batch 128):")
    measure.print_table([pipeline], list(pipeline))

    deterministic = determinism_repeats(images, labels, device)
    print(f"\ndeterministic mode, two custom_cnn runs of one epoch: identical histories: {deterministic}")

    # The default comparison: each model on 'two' (50k train, 10k val) and 'three' (45k, 5k), 20 epochs,
    # then an evaluation over train, val and test, at the default precision (auto).
    estimate, auto = 0.0, Performance.resolve({}, device).describe()["precision"]
    for row in rows:
        if row["precision"] != auto:
            continue
        for train_share, val_images in ((1.0, 10_000), (0.9, 5_000)):
            epoch = row["epoch_s"] * train_share + row["eval_10k_s"] * val_images / 10_000
            evaluation = row["eval_10k_s"] * (train_share * 5 + val_images / 10_000 + 1)
            estimate += 20 * epoch + evaluation + 2 * JOB_STARTUP_SECONDS
    print(f"estimated default comparison (8 runs x 20 epochs, {auto}, one job at a time): {estimate / 60:.1f} min")
    results = {
        "machine": measure.machine(device), "train_images": args.train_images, "models": rows,
        "pipeline": pipeline, "deterministic_repeats": deterministic,
        "estimated_default_comparison_min": estimate / 60,
    }
    measure.write_json(args.out, results)  # kept even if compiling below runs out of time

    if args.compile:
        compiled = []
        for name in ("custom_cnn", "resnet50"):
            perf = Performance.resolve({"compile": True}, device)
            clock = time.perf_counter()
            row = epoch_figures(name, blocks[name], images, labels, test, device, perf)
            compiled.append({**row, "with_compiling_s": time.perf_counter() - clock})
            measure.print_table(compiled[-1:], list(compiled[-1]))
        print("\nwith torch.compile (with_compiling_s: the whole measurement, compiling included):")
        measure.print_table(compiled, columns + ["with_compiling_s"])
        measure.write_json(args.out, {**results, "compiled": compiled})
    print(f"gpu_check took {time.perf_counter() - start:.0f} s")
    return 0


def check_runs_per_gpu(args) -> int:
    import tempfile

    import gpu_sharing

    values = [int(v) for v in args.runs_per_gpu.split(",")]
    device = torch.device(args.device)
    print(f"{costs.device_name(device)}, torch {torch.__version__}, {os.cpu_count()} CPU cores", flush=True)
    with tempfile.TemporaryDirectory(prefix="cnncompare-runs-per-gpu-") as work:
        rows = gpu_sharing.wall_times(Path(work), values, args.device, args.model, args.epochs, args.train_images)
    print(f"\n8 runs ({args.model}, 2 splits x 4 seeds, {args.epochs} epochs of {args.train_images} images, 32 px) "
          f"on one {args.device} device, --resources gpu=1:")
    measure.print_table(rows, list(rows[0]))
    measure.write_json(args.out, {"machine": measure.machine(device), "runs_per_gpu": rows})
    return 0


if __name__ == "__main__":
    sys.exit(main())
