"""make bench: every speed figure of this machine, each beside its baseline from the same run.

  python bench/run.py [--only pipeline,train_loop,tensorboard,workflow,inference] [--out results/bench.json]
  python bench/run.py --only grids   # the workflow's two large grids alone, without the demo
  python bench/run.py --only noop --baseline main   # the 1,000-run no-op, this checkout against main's

- pipeline: our batched augmentation (crop, flip, normalise) against torchvision's
  transforms.v2 per-sample pipeline through a DataLoader with a worker per core.
- train_loop[model]: our training loop against a plain PyTorch loop over
  batches augmented beforehand, same model, optimizer and batch size, 32 px.
- tensorboard: custom_cnn's epoch (training and validation) with the TensorBoard
  writer of its live curves and without it.
- workflow: the demo from scratch, each job's time and peak memory from its
  benchmark: file, the no-op re-run, and the dry run and no-op re-run of a
  200-run grid and of a 1,000-run one (workflow_timing.many_runs_config).
- noop (not in the default set; needs --baseline REV): the 1,000-run grid's
  no-op re-run with this checkout's workflow and with revision REV's (git
  archive), each grid prepared by its own, timed in turn 5 times: before and
  after a change in one run, wall and CPU seconds.
- inference (not in the default set): the study models' cost of inference as
  evaluate_model records it (GMACs, images/s at the evaluation batch size,
  single-image latency), each beside a plain timing loop over the same
  passes, best of two in turn; and our multiply-add count of ResNet50 at
  224 px beside torchvision's.

Targets (issues 6, 14, 15 and 26, on 2 cores): pipeline ratio >= 4, train_loop
ratio >= 0.98 (the median of 5 interleaved repeats), no-op re-run of the 200-run
grid < 5 s and of the 1,000-run grid < 5 s; an epoch with the TensorBoard
writer at most 2% slower than without.

--threads 1 runs every section on one torch thread: on a busy machine
train_loop's CPU-time ratio (cpu_ratio) is then free of the threads'
spin-waiting, which a crowded two-thread loop counts as its own time.

--device cuda measures train_loop on a GPU (bench/gpu_study.py calls it so),
with --train-loop-images images per model. Missing one prints MISSED; the exit
status is 0 either way, since a slow machine is a finding, not a crash.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import measure  # noqa: E402
import workflow_timing  # noqa: E402
from cnncompare.train.devices import Performance  # noqa: E402

TARGETS = {"pipeline": 4.0, "train_loop": 0.98, "grid_noop_s": 5.0, "many_runs_noop_s": 5.0, "tensorboard": 1.02}
TRAIN_LOOP_REPEATS = 5
NOOP_AGAINST_REPEATS = 5
TRAIN_LOOP_IMAGES = {"custom_cnn": 1536, "vgg16": 1536, "resnet50": 768}  # a few seconds each on 2 cores


def verdict(ok: bool) -> str:
    return "ok" if ok else "MISSED"


def bench_pipeline(device) -> dict:
    images, labels = measure.synthetic_cifar(20_000)
    augment = measure.study_blocks(["custom_cnn"])["custom_cnn"]["augment"]
    row = measure.pipeline(images, labels, augment, 128, device, workers=os.cpu_count(), repeats=3)
    row["target"] = f">= {TARGETS['pipeline']}"
    row["verdict"] = verdict(row["ratio"] >= TARGETS["pipeline"])
    print("\npipeline (crop, flip, normalise; 20,000 CIFAR-shaped images, batch 128):")
    measure.print_table([row], list(row))
    return row


def bench_train_loop(device, images_per_model: int | None = None) -> list[dict]:
    blocks = measure.study_blocks(list(TRAIN_LOOP_IMAGES))
    perf = Performance.resolve({}, device)
    rows = []
    for name, n in TRAIN_LOOP_IMAGES.items():
        images, labels = measure.synthetic_cifar(images_per_model or n)
        row = {"model": name, **measure.train_loop(blocks[name], images, labels, device, perf,
                                                   repeats=TRAIN_LOOP_REPEATS, warmup_images=4 * 128)}
        row["verdict"] = verdict(row["ratio"] >= TARGETS["train_loop"])
        rows.append(row)
    print(f"\ntrain_loop (32 px, {perf.describe()['precision']}, median of {TRAIN_LOOP_REPEATS} interleaved "
          f"repeats; target ratio >= {TARGETS['train_loop']}):")
    measure.print_table(rows, list(rows[0]))
    return rows


def bench_tensorboard(device, scratch: Path, train_images: int = 512, val_images: int = 256) -> dict:
    # Small epochs: the writer's fixed cost per epoch weighs most there (the worst case).
    block = {**measure.study_blocks(["custom_cnn"])["custom_cnn"], "epochs": 3}
    images, labels = measure.synthetic_cifar(train_images + val_images)
    row = measure.tensorboard_epochs(block, images, labels, val_images, device, scratch, repeats=5)
    row["target"] = f"<= {TARGETS['tensorboard']}"
    row["verdict"] = verdict(row["ratio"] <= TARGETS["tensorboard"])
    print(f"\ntensorboard (custom_cnn, {train_images} train + {val_images} val images, 32 px; "
          "seconds per epoch with the live curves' writer and without):")
    measure.print_table([row], list(row))
    return row


def bench_workflow(scratch: Path) -> dict:
    demo = workflow_timing.demo(scratch / "demo")
    print(f"\nworkflow: the demo from scratch {demo['wall_s']:.1f} s, no-op re-run {demo['noop_rerun_s']:.2f} s")
    measure.print_table(demo["jobs"], ["job", "seconds", "max_rss_mb"])
    return {"demo": demo, **bench_grids(scratch)}


def bench_grids(scratch: Path) -> dict:
    grid = workflow_timing.grid(scratch / "grid")
    grid["target_noop_s"] = f"< {TARGETS['grid_noop_s']}"
    grid["verdict"] = verdict(grid["noop_rerun_s"] < TARGETS["grid_noop_s"])
    many = workflow_timing.grid(scratch / "many", workflow_timing.many_runs_config())
    many["target_noop_s"] = f"< {TARGETS['many_runs_noop_s']}"
    many["verdict"] = verdict(many["noop_rerun_s"] < TARGETS["many_runs_noop_s"])
    print(f"\nlarge grids, best of 3 each (the {grid['runs']}-run grid: config.yaml with 25 seeds; the "
          f"{many['runs']}-run grid: workflow_timing.many_runs_config(); load average {os.getloadavg()[0]:.1f}):")
    measure.print_table([grid, many], list(grid))
    return {"grid": grid, "many_runs": many}


def bench_noop_against(scratch: Path, baseline: str) -> dict:
    """The 1,000-run grid's no-op re-run with this checkout and with git revision
    `baseline`, in turn (workflow_timing.noop_against): before and after in one run."""
    row = workflow_timing.noop_against(baseline, scratch, workflow_timing.many_runs_config(),
                                       repeats=NOOP_AGAINST_REPEATS)
    row["target_noop_s"] = f"< {TARGETS['many_runs_noop_s']}"
    row["verdict"] = verdict(row["noop_s"] < TARGETS["many_runs_noop_s"])
    print(f"\n1,000-run grid's no-op re-run, this checkout against {baseline} (median of {row['repeats']} "
          f"interleaved repeats; CPU: Snakemake's user + system seconds; load average {os.getloadavg()[0]:.1f}):")
    measure.print_table([row], list(row))
    return row


def bench_inference(device) -> dict:
    blocks = measure.study_blocks()
    perf = Performance.resolve({}, device)
    rows = [{"model": name, **measure.inference(block, device, perf)} for name, block in blocks.items()]
    print(f"\ninference (evaluate_model's figures, {perf.describe()['precision']}; plain: model(x) on a float "
          "batch made beforehand, as many passes; best of 2):")
    measure.print_table(rows, list(rows[0]))
    check = measure.torchvision_gmacs_check()
    check["ratio"] = check["ours_gmacs"] / check["torchvision_gmacs"]
    print("\nmultiply-adds against torchvision's published figure:")
    measure.print_table([check], list(check))
    return {"models": rows, "gmacs_check": check}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="pipeline,train_loop,tensorboard,workflow")
    parser.add_argument("--out", type=Path, default=measure.REPO / "results" / "bench.json")
    parser.add_argument("--baseline", default=None, metavar="REV",
                        help="with --only noop: the git revision (e.g. main) whose workflow's no-op re-run of the "
                             "1,000-run grid is timed in turn with this checkout's")
    parser.add_argument("--device", default="cpu", help="cpu (this machine's figures) or cuda (train_loop on a GPU)")
    parser.add_argument("--threads", type=int, default=os.cpu_count(),
                        help="torch threads (default: every core). On a busy machine, 1 gives train_loop's "
                             "CPU-time ratio without the threads' spin-waiting, which a crowded 2-thread loop counts")
    parser.add_argument("--train-loop-images", type=int, default=None,
                        help="images per model for train_loop (default: a few seconds each on 2 cores)")
    args = parser.parse_args()
    sections = args.only.split(",")
    if "noop" in sections and not args.baseline:
        parser.error("--only noop needs --baseline REV (the revision to time against)")
    device = torch.device(args.device)
    torch.set_num_threads(args.threads)
    info = {**measure.machine(device), "torch_threads": args.threads}
    print(f"{info['device']}, {info['cpu_count']} cores, {args.threads} torch threads, torch "
          f"{info['versions']['torch']}, {info['platform']}")
    start = time.perf_counter()
    results = {"machine": info}
    if "pipeline" in sections:
        results["pipeline"] = bench_pipeline(device)
    if "train_loop" in sections:
        results["train_loop"] = bench_train_loop(device, args.train_loop_images)
    if "inference" in sections:
        results["inference"] = bench_inference(device)
    if "tensorboard" in sections:
        scratch = Path(tempfile.mkdtemp(prefix="cnncompare-bench-"))
        try:
            results["tensorboard"] = bench_tensorboard(device, scratch)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
    if "workflow" in sections or "grids" in sections:
        scratch = Path(tempfile.mkdtemp(prefix="cnncompare-bench-"))
        try:
            results["workflow"] = (bench_workflow if "workflow" in sections else bench_grids)(scratch)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
    if "noop" in sections:
        scratch = Path(tempfile.mkdtemp(prefix="cnncompare-bench-"))
        try:
            results["noop_against"] = bench_noop_against(scratch, args.baseline)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
    results["seconds"] = time.perf_counter() - start
    print(f"\nbench took {results['seconds']:.0f} s")
    measure.write_json(args.out, results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
