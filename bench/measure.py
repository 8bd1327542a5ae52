"""Measurements shared by bench/run.py (this machine) and bench/gpu_check.py (a GPU).

Each figure is taken side by side with its baseline in the same process, on
the same data, and the two are interleaved so that a slow moment of the
machine hits both.
"""

from __future__ import annotations

import copy
import json
import math
import os
import platform
import statistics
import sys
from pathlib import Path

import numpy as np
import torch
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "workflow" / "scripts"))

from cnncompare.train import costs  # noqa: E402
from cnncompare.train.augment import epoch_batches  # noqa: E402
from cnncompare.plan.config import resolve_config  # noqa: E402
from cnncompare.train.devices import Performance, Stopwatch, synchronize  # noqa: E402
from cnncompare.train.models import Preprocess, build_model  # noqa: E402
from cnncompare.track.live_curves import LiveCurves  # noqa: E402
from cnncompare.train.training import (  # noqa: E402
    RunData, batching, fit, make_optimizer, make_scheduler, train_one_epoch,
)

CIFAR_MEAN = [0.4914, 0.4822, 0.4465]
CIFAR_STD = [0.2470, 0.2435, 0.2616]


def machine(device: torch.device) -> dict:
    return {
        "device": costs.device_name(device),
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
        "versions": costs.versions(),
    }


def study_blocks(names=None) -> dict:
    """The model blocks of config.yaml, resolved, from random initialisation (the
    arithmetic of a pretrained start is the same, and no weights are needed)."""
    config = resolve_config(yaml.safe_load((REPO / "config.yaml").read_text()))
    names = names or config["compare"]["models"]
    return {name: {**config["models"][name], "pretrained": False} for name in names}


def synthetic_cifar(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """uint8 (n, 32, 32, 3) images and int64 labels: CIFAR-10's shape and types."""
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8), rng.integers(0, 10, n).astype(np.int64)


def print_table(rows: list[dict], columns: list[str]) -> None:
    text = [[_cell(row.get(c)) for c in columns] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in text)) for i, c in enumerate(columns)]
    print("  ".join(c.ljust(w) for c, w in zip(columns, widths)))
    for r in text:
        print("  ".join(v.ljust(w) for v, w in zip(r, widths)), flush=True)


def _cell(value) -> str:
    if isinstance(value, float):
        return f"{value:,.3g}" if abs(value) < 100 else f"{value:,.0f}"
    return "" if value is None else str(value)


def write_json(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2) + "\n")
    print(f"\nwrote {path}")


def interleaved_rates(runs: dict, device: torch.device, repeats: int) -> tuple[dict, dict]:
    """({name: [images per second of each repeat]}, {name: [images per CPU second
    of this process]}) of functions that each return the images they handled,
    run in turn `repeats` times, so that the k-th figures of all of them were
    taken next to each other. On the CPU the second is what a busy machine
    changes least: other processes take wall time from a loop, little CPU time.
    The order alternates (A B, B A, A B, ...): whatever going first costs or
    gains (caches another loop left, the allocator) falls on each side alike."""
    import time

    rates = {name: [] for name in runs}
    cpu_rates = {name: [] for name in runs}
    for repeat in range(repeats):
        for name, fn in (list(runs.items()) if repeat % 2 == 0 else list(runs.items())[::-1]):
            cpu = time.process_time()
            clock = Stopwatch(device).start()
            seen = fn()
            rates[name].append(seen / clock.seconds())
            cpu_rates[name].append(seen / max(time.process_time() - cpu, 1e-9))
    return rates, cpu_rates


def best_rates(runs: dict, device: torch.device, repeats: int) -> dict:
    """{name: best images per second} of functions that each return the images
    they handled, run in turn `repeats` times so a slow moment hits all of them."""
    best = dict.fromkeys(runs, 0.0)
    for _ in range(repeats):
        for name, fn in runs.items():
            clock = Stopwatch(device).start()
            seen = fn()
            best[name] = max(best[name], seen / clock.seconds())
    return best


# --- pipeline: our batched augmentation against torchvision's per-sample one -------------


class _V2Samples(torch.utils.data.Dataset):
    """CIFAR-shaped uint8 arrays through transforms.v2, one image at a time, as a
    torchvision-style training script feeds a DataLoader."""

    def __init__(self, images: np.ndarray, labels: np.ndarray, augment: dict):
        from torchvision.transforms import v2

        self.images, self.labels = images, labels
        steps = [v2.ToImage()]
        if augment["crop_padding"]:
            steps.append(v2.RandomCrop(32, padding=augment["crop_padding"]))
        if augment["flip"]:
            steps.append(v2.RandomHorizontalFlip())
        steps += [v2.ToDtype(torch.float32, scale=True), v2.Normalize(CIFAR_MEAN, CIFAR_STD)]
        self.transform = v2.Compose(steps)

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, i):
        return self.transform(self.images[i]), self.labels[i]


def pipeline(images: np.ndarray, labels: np.ndarray, augment: dict, batch_size: int, device: torch.device,
             workers: int, repeats: int = 2) -> dict:
    """Images per second of one augmented, normalised epoch delivered on `device`:
    ours (uint8 data already on the device, augmented in chunks, then the
    model's Preprocess) against a DataLoader of transforms.v2 with `workers` workers."""
    loader = torch.utils.data.DataLoader(
        _V2Samples(images, labels, augment), batch_size=batch_size, shuffle=True, drop_last=True,
        num_workers=workers, persistent_workers=workers > 0, pin_memory=device.type == "cuda",
    )
    on_device = torch.from_numpy(images).to(device)
    normalise = Preprocess(CIFAR_MEAN, CIFAR_STD, 32).to(device)
    generator = torch.Generator(device=device).manual_seed(0)
    batch, steps = batching(len(labels), batch_size)

    on_device_labels = torch.from_numpy(labels).to(device)

    def ours() -> int:
        for x, y in epoch_batches(on_device, on_device_labels, batch, steps, augment, generator):
            x = normalise(x)
        return steps * batch

    def theirs() -> int:
        seen = 0
        for x, y in loader:
            x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
            seen += len(y)
        return seen

    ours(), theirs()  # warm-up: worker start, kernels
    best = best_rates({"ours": ours, "torchvision": theirs}, device, repeats)
    return {
        "images": len(labels), "batch_size": batch_size, "workers": workers,
        "ours_images_per_s": best["ours"], "torchvision_images_per_s": best["torchvision"],
        "ratio": best["ours"] / best["torchvision"],
    }


# --- train loop: ours against a plain loop over augmented tensors ------------------------


def make_model(block: dict, device: torch.device, perf: Performance):
    torch.manual_seed(0)
    model = build_model(block, 10, CIFAR_MEAN, CIFAR_STD).to(device)
    forward = perf.prepare(model)
    return model, forward


def train_loop(block: dict, images: np.ndarray, labels: np.ndarray, device: torch.device, perf: Performance,
               repeats: int = 2, warmup_images: int = 0) -> dict:
    """Images per second of a training epoch over `images`: our train_one_epoch
    (shuffle, index, augment, step, schedule, running metrics) against the plain
    loop `forward, loss, zero_grad, backward, step` over batches augmented
    beforehand, with the same model, optimizer, batch size and precision; the
    two interleaved `repeats` times. The medians of each side's rates, and the
    median (and range) of the repeats' ratios."""
    block = copy.deepcopy(block)
    x_u8 = torch.from_numpy(images).to(device)
    y = torch.from_numpy(labels).to(device)
    batch, steps = batching(len(y), block["batch_size"])
    generator = torch.Generator(device=device).manual_seed(0)
    augmented = [(x.clone(), y) for x, y in epoch_batches(x_u8, y, batch, steps, block["augment"], generator)]
    loss_fn = torch.nn.CrossEntropyLoss(label_smoothing=block["label_smoothing"])

    ours_model, ours_forward = make_model(block, device, perf)
    ours_opt = make_optimizer(ours_model, block)
    ours_sched = make_scheduler(ours_opt, {**block, "epochs": 1000}, steps)
    plain_model, plain_forward = make_model(block, device, perf)
    plain_opt = make_optimizer(plain_model, block)

    def ours(n_steps=steps):
        images_part, labels_part = (x_u8, y) if n_steps == steps else (x_u8[:n_steps * batch], y[:n_steps * batch])
        train_one_epoch(ours_model, images_part, labels_part, ours_opt, ours_sched, loss_fn, block, generator,
                        perf, ours_forward)
        return n_steps * batch

    def plain(n_steps=steps):
        plain_model.train()
        for xb, yb in augmented[:n_steps]:
            with perf.autocast(device):
                loss = loss_fn(plain_forward(xb), yb)
            plain_opt.zero_grad(set_to_none=True)
            loss.backward()
            plain_opt.step()
        return n_steps * batch

    warm = max(2, min(steps, warmup_images // batch)) if warmup_images else 2
    ours(warm), plain(warm)  # warm-up: cuDNN autotuning, allocator, compilation
    rates, cpu_rates = interleaved_rates({"ours": ours, "plain": plain}, device, repeats)
    # Each repeat's ratio compares two epochs taken next to each other; their median
    # is what a busy moment (which slows one side of one repeat) cannot move.
    ratios = [o / p for o, p in zip(rates["ours"], rates["plain"])]
    row = {
        "images": steps * batch, "batch_size": batch, "repeats": repeats,
        "ours_images_per_s": statistics.median(rates["ours"]), "plain_images_per_s": statistics.median(rates["plain"]),
        "ratio": statistics.median(ratios), "ratio_min": min(ratios), "ratio_max": max(ratios),
    }
    if device.type == "cpu":  # on a GPU the process's CPU time is launch overhead, not the loop's work
        row["cpu_ratio"] = statistics.median(o / p for o, p in zip(cpu_rates["ours"], cpu_rates["plain"]))
    return row


# --- inference: evaluation's figures against a plain timing loop ---------------------------


def inference(block: dict, device: torch.device, perf: Performance, budget_s: float | None = None,
              repeats: int = 2) -> dict:
    """What evaluate_model records of a model (cnncompare/train/inference_cost.py: GMACs,
    images/s at the evaluation batch size, single-image latency) beside a plain
    loop timing `model(x)` on a float batch made beforehand, as many passes.
    Each is measured `repeats` times, in turn, and the best kept (a busy moment
    of the machine only ever slows a measurement down). `budget_s`: the seconds
    of timed full batches, the workflow's inference_timing.throughput_seconds
    (its schema default) unless given."""
    import statistics
    import time

    from cnncompare.train import inference_cost

    size, batch = block["image_size"], block["eval_batch_size"]
    model, forward = make_model(block, device, perf)
    images, _ = synthetic_cifar(batch)
    images_u8 = torch.from_numpy(images).to(device)

    def plain_pass(x) -> float:
        synchronize(device)
        start = time.perf_counter()
        with torch.no_grad(), perf.autocast(device):
            forward(x)
        synchronize(device)
        return time.perf_counter() - start

    # Float images at the data's 32 px in NHWC memory, the layout evaluation's images have.
    x = torch.rand(batch, 32, 32, 3, device=device).permute(0, 3, 1, 2)
    best = {"images_per_s": 0.0, "plain_images_per_s": 0.0, "latency_ms": math.inf, "plain_latency_ms": math.inf}
    for _ in range(repeats):
        ours = inference_cost.measure(model, images_u8, size, batch, perf, forward, budget_s=budget_s)
        passes = ours["inference_measured"]["throughput_passes"]
        model.eval()
        plain_pass(x)  # warm-up
        seconds = sum(plain_pass(x) for _ in range(passes))
        for _ in range(inference_cost.LATENCY_WARMUP):
            plain_pass(x[:1])
        latency = statistics.median(plain_pass(x[:1]) for _ in range(inference_cost.LATENCY_PASSES))
        best["images_per_s"] = max(best["images_per_s"], ours["inference_images_per_second"])
        best["plain_images_per_s"] = max(best["plain_images_per_s"], passes * batch / seconds)
        best["latency_ms"] = min(best["latency_ms"], ours["latency_ms"])
        best["plain_latency_ms"] = min(best["plain_latency_ms"], latency * 1000)
    return {
        "px": size, "gmacs": ours["gmacs"], "batch": batch, "repeats": repeats, **best,
        "ratio": best["images_per_s"] / best["plain_images_per_s"],
    }


def torchvision_gmacs_check() -> dict:
    """Our count against torchvision's own figure: ResNet50 (1000 classes) at
    224 px, whose weights' metadata gives its GFLOPS (multiply-adds, in
    torchvision's sense). Counted on the meta device: shapes only."""
    from torchvision.models import ResNet50_Weights, resnet50

    from cnncompare.train.inference_cost import count_macs

    with torch.device("meta"):
        model = resnet50()
    return {"model": "torchvision resnet50, 224 px", "ours_gmacs": count_macs(model, 224, "meta") / 1e9,
            "torchvision_gmacs": ResNet50_Weights.IMAGENET1K_V2.meta["_ops"]}
# --- tensorboard: an epoch with and without the live curves' writer --------------------------


def tensorboard_epochs(block: dict, images: np.ndarray, labels: np.ndarray, val_size: int, device: torch.device,
                       folder: Path, repeats: int = 3) -> dict:
    """Seconds per epoch of fit() (training, validation, history) with the
    TensorBoard writer of live_curves and without it, same model, data and
    seed, interleaved `repeats` times; the best of each. The writer's opening
    (a new event file) is inside the timed run, counted against its epochs."""
    x, y = torch.from_numpy(images).to(device), torch.from_numpy(labels).to(device)
    data = RunData({"train": (x[val_size:], y[val_size:]), "val": (x[:val_size], y[:val_size])},
                   [str(c) for c in range(10)], CIFAR_MEAN, CIFAR_STD)
    epochs = block["epochs"]

    identity = {"dataset": "bench", "split": "three", "model": "bench", "seed": 0}
    row = {"train_loss": 1.0, "train_acc": 0.5, "val_loss": 1.0, "val_acc": 0.5, "lr": 0.1}

    def run(curves) -> float:
        torch.manual_seed(0)
        model = build_model(block, 10, CIFAR_MEAN, CIFAR_STD).to(device)
        clock = Stopwatch(device).start()
        if curves is not None:
            curves.start(identity, block)
        fit(model, data, block, seed=0, device=device, live=curves)
        seconds = clock.seconds()
        if curves is not None:
            curves.finish(None)
        return seconds / epochs

    warm_up = LiveCurves(folder / "warm-up")  # the tensorboard import, once, as a job pays it
    warm_up.start(identity, block)
    warm_up.epoch(1, row)
    warm_up.finish(None)
    best = {"with": float("inf"), "without": float("inf")}
    for i in range(repeats):
        best["without"] = min(best["without"], run(None))
        best["with"] = min(best["with"], run(LiveCurves(folder / f"run{i}")))
    # The writer alone, free of the epochs' noise: one history row written and flushed, 200 times.
    alone = LiveCurves(folder / "alone")
    alone.start(identity, block)
    alone.epoch(0, row)  # opens the writer, outside the timing
    clock = Stopwatch(torch.device("cpu")).start()
    for epoch in range(1, 201):
        alone.epoch(epoch, row)
    writer_ms = clock.seconds() / 200 * 1000
    alone.finish(None)
    return {
        "train_images": len(labels) - val_size, "val_images": val_size, "epochs": epochs,
        "without_s_per_epoch": best["without"], "with_s_per_epoch": best["with"],
        "ratio": best["with"] / best["without"], "writer_ms_per_epoch": writer_ms,
    }
