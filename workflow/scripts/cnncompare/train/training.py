"""Training one run: load the arrays once onto the device, then epochs of
batched augmentation, optimizer steps and validation, one history row each.

Kept apart, as in torchvision's reference script: load_run_data,
train_one_epoch, predict, fit, and train_run which ties them to files.
"""

from __future__ import annotations

import copy
import logging
import math
import os
import random
import signal
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch
from torch import nn

from cnncompare.train import checkpoint, costs

from cnncompare.data import checksums
from cnncompare.columns import HISTORY_COLUMNS
from cnncompare.train.augment import epoch_batches, to_float
from cnncompare.data.datasets import load_classes, load_prepared
from cnncompare.train.devices import (
    Performance, Stopwatch, choose_device, gpu_expected, set_determinism, warn_if_gpu_missing,
)
from cnncompare.fileio import write_csv, write_json
from cnncompare.track.live_curves import LiveCurves
from cnncompare.track.record import final_metrics
from cnncompare.track.tracker import LiveLogger, LiveLoggers
from cnncompare.train.models import build_model, count_parameters, parameter_groups
from cnncompare.plan.runs import run_label
from cnncompare.data.splits import PARTS, read_split

log = logging.getLogger(__name__)



# --- setup -----------------------------------------------------------------------------


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # seeds every CUDA device too


def channel_stats(images: np.ndarray, chunk: int = 8192) -> tuple[list[float], list[float]]:
    """Per-channel mean and std of uint8 NHWC images, scaled to [0, 1], in chunks
    so a 50,000-image set never exists as float all at once."""
    total = np.zeros(3)
    squares = np.zeros(3)
    for start in range(0, len(images), chunk):
        block = images[start:start + chunk].reshape(-1, 3).astype(np.float64) / 255.0
        total += block.sum(0)
        squares += (block ** 2).sum(0)
    count = len(images) * images.shape[1] * images.shape[2]
    mean = total / count
    std = np.sqrt(np.maximum(squares / count - mean ** 2, 1e-12))
    return mean.tolist(), std.tolist()


@dataclass
class RunData:
    """The parts of one split as uint8 NHWC images and int64 labels on the device."""

    parts: dict[str, tuple[torch.Tensor, torch.Tensor]]
    classes: list[str]
    mean: list[float] = field(default_factory=list)
    std: list[float] = field(default_factory=list)

    def size(self, part: str) -> int:
        return len(self.parts[part][1])


def load_run_data(data_dir, split_path, device: torch.device, parts=PARTS, stats: bool = True) -> RunData:
    """Read train.npz / test.npz once and move the split's parts onto the device.

    Each file read is checked against the checksum preparation recorded
    (datasets.load_prepared). A part with the same images as one already loaded (val and test in the
    'two' split) shares its tensors. `stats` computes the training part's
    channel mean and std (training needs them, evaluation does not).
    """
    data_dir = Path(data_dir)
    split = read_split(split_path)
    sources = {}
    for name in {split[p][0] for p in parts}:
        sources[name] = load_prepared(data_dir, name)
    loaded = {}
    mean, std = [], []
    for part in parts:
        source, indices = split[part]
        same = next((p for p in loaded if split[p][0] == source and np.array_equal(split[p][1], indices)), None)
        if same is not None:
            loaded[part] = loaded[same]
            continue
        images, labels = sources[source]
        picked = images[indices]  # one copy, used for the statistics and moved to the device
        if part == "train" and stats:
            mean, std = channel_stats(picked)
        loaded[part] = (torch.from_numpy(picked).to(device), torch.from_numpy(labels[indices]).to(device))
    return RunData(loaded, load_classes(data_dir), mean, std)


# --- optimisation ------------------------------------------------------------------------


def make_optimizer(model: nn.Module, block: dict) -> torch.optim.Optimizer:
    """The block's optimizer over the trainable parameters only, one group per
    learning rate (base and head when lr_base is set)."""
    groups = parameter_groups(model, block)
    name = block["optimizer"]
    if name == "sgd":
        momentum = block["momentum"]
        return torch.optim.SGD(
            groups, lr=block["lr"], momentum=momentum,
            nesterov=block["nesterov"] and momentum > 0, weight_decay=block["weight_decay"],
        )
    if name == "adam":
        return torch.optim.Adam(groups, lr=block["lr"], weight_decay=block["weight_decay"])
    if name == "adamw":
        return torch.optim.AdamW(groups, lr=block["lr"], weight_decay=block["weight_decay"])
    raise ValueError(f"unknown optimizer {name!r}")


def lr_factor(schedule: str, step: int, total_steps: int, warmup_steps: int) -> float:
    """Multiplier of the peak learning rate at optimizer step `step` (0-based)."""
    if schedule == "constant":
        return 1.0
    if schedule == "step":
        progress = step / total_steps
        return 1.0 if progress < 0.5 else 0.1 if progress < 0.75 else 0.01
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    remaining = max(total_steps - warmup_steps, 1)
    progress = (step - warmup_steps) / remaining
    if schedule == "onecycle":
        return 1.0 - progress
    if schedule == "cosine":
        return 0.5 * (1.0 + math.cos(math.pi * progress))
    raise ValueError(f"unknown schedule {schedule!r}")


def make_scheduler(optimizer, block: dict, steps_per_epoch: int):
    total = block["epochs"] * steps_per_epoch
    warmup = min(int(round(block["warmup_epochs"] * steps_per_epoch)), total - 1)
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: lr_factor(block["schedule"], step, total, warmup)
    )


def batching(n_images: int, batch_size: int) -> tuple[int, int]:
    """(batch size, steps per epoch). The last incomplete batch is dropped (a
    batch of one breaks batch norm); a set smaller than a batch is one step."""
    batch_size = min(batch_size, n_images)
    return batch_size, n_images // batch_size


def cpu_copy(model: nn.Module) -> dict:
    """A snapshot of the model's state, on the CPU, that later steps cannot change."""
    return {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}


# Plain eager fp32, for callers that pass no performance settings (tests, benchmarks).
FP32 = Performance(bf16=False, channels_last=False, compile=False, deterministic=False)


def train_one_epoch(model, images, labels, optimizer, scheduler, loss_fn, block, generator,
                    perf: Performance = FP32, forward=None):
    """One pass over the shuffled training part. Returns (loss, accuracy, images seen,
    learning rate of the last step), loss and accuracy as running averages over the
    epoch's augmented batches, read from the device once.

    `forward` is what computes the logits (the compiled model, when compiled).
    """
    forward = forward or model
    model.train()
    batch_size, steps = batching(len(labels), block["batch_size"])
    loss_sum = torch.zeros((), device=labels.device)
    correct = torch.zeros((), device=labels.device, dtype=torch.long)
    for x, y in epoch_batches(images, labels, batch_size, steps, block["augment"], generator):
        with perf.autocast(labels.device):
            logits = forward(x)
            loss = loss_fn(logits, y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        lr = optimizer.param_groups[-1]["lr"]
        optimizer.step()
        scheduler.step()
        loss_sum += loss.detach()  # every batch has batch_size images
        correct += (logits.detach().argmax(1) == y).sum()
    seen = steps * batch_size
    return loss_sum.item() / steps, correct.item() / seen, seen, lr


@torch.no_grad()
def predict(model, images, labels, batch_size: int, perf: Performance = FP32, forward=None):
    """(mean cross-entropy, accuracy, predicted labels) without augmentation."""
    return predict_with_confidence(model, images, labels, batch_size, perf, forward, confidence=False)[:3]


@torch.no_grad()
def predict_with_confidence(model, images, labels, batch_size: int, perf: Performance = FP32, forward=None,
                            confidence: bool = True):
    """predict()'s figures and, per image, the softmax probability of the predicted class
    (None without `confidence`: validation during training does not need it).

    The probability is read off the same logits after the loss and argmax are
    taken, so it changes neither."""
    forward = forward or model
    model.eval()
    loss_sum = torch.zeros((), device=labels.device)
    predictions, confidences = [], []
    for start in range(0, len(labels), batch_size):
        x = to_float(images[start:start + batch_size])
        y = labels[start:start + batch_size]
        with perf.autocast(labels.device):
            logits = forward(x)
        loss_sum += nn.functional.cross_entropy(logits.float(), y, reduction="sum")
        predictions.append(logits.argmax(1))
        if confidence:
            confidences.append(logits.float().softmax(1).amax(1))
    predicted = torch.cat(predictions)
    accuracy = (predicted == labels).sum().item() / len(labels)
    return loss_sum.item() / len(labels), accuracy, predicted, torch.cat(confidences) if confidence else None


# --- the run ------------------------------------------------------------------------


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}h{m:02d}m" if h else f"{m}m{s:02d}s" if m else f"{s}s"


@dataclass
class FitResult:
    history: list[dict]
    tested_state: dict
    best_epoch: int
    tested_epoch: int
    status: str
    train_seconds: float
    images_per_second: float


def fit(model, data: RunData, block: dict, seed: int, device: torch.device, label: str = "",
        checkpoint_path=None, fingerprint: str = "", perf: Performance = FP32,
        gpu_missing: bool = False, live: LiveLogger | None = None, stop_epoch: int | None = None) -> FitResult:
    """Train for block['epochs'] epochs, validating after each; with a stop_epoch
    (a rung of a halved sweep), only up to that epoch, the schedule still set for
    block['epochs'], so the history is a prefix of the full run's.

    Stops early, with status 'diverged', at the first epoch whose training loss
    is not finite. Keeps the weights of the best validation accuracy (or the
    last epoch's, per block['keep_weights']). With a checkpoint_path, saves
    the whole state after every epoch and, when a checkpoint of this run is
    there, resumes after its epoch: the history and weights are then the same
    as without the interruption (on the CPU; GPU kernels may differ in the
    last bits unless perf.deterministic). With gpu_missing (a GPU job on the
    CPU), the first epoch it trains is followed by a warning that says how
    long the whole run takes at that speed. With a `live` logger (started by
    the caller), each epoch's row also goes to it as soon as it is computed.
    """
    train_x, train_y = data.parts["train"]
    val_x, val_y = data.parts["val"]
    forward = perf.prepare(model)  # before the optimizer: memory format changes the parameters
    optimizer = make_optimizer(model, block)
    scheduler = make_scheduler(optimizer, block, batching(len(train_y), block["batch_size"])[1])
    loss_fn = nn.CrossEntropyLoss(label_smoothing=block["label_smoothing"])
    generator = torch.Generator(device=device).manual_seed(seed)

    status = "completed"
    progress = {
        "history": [], "best_acc": -1.0, "best_epoch": 0, "best_state": None,
        "train_images": 0, "train_only_seconds": 0.0, "elapsed": 0.0,
    }
    first_epoch = 1
    saved = checkpoint.load(checkpoint_path, fingerprint, device) if checkpoint_path else None
    if saved:
        model.load_state_dict(saved["model"])
        optimizer.load_state_dict(saved["optimizer"])
        scheduler.load_state_dict(saved["scheduler"])
        checkpoint.restore_rng(saved["rng"], generator)
        progress = saved["progress"]
        if progress["best_state"] is not None:
            progress["best_state"] = {k: v.cpu() for k, v in progress["best_state"].items()}
        first_epoch = saved["epoch"] + 1
        log.info("%sresuming after epoch %d from %s", label, saved["epoch"], checkpoint_path)
    history = progress["history"]
    epochs = block["epochs"]
    last = epochs if stop_epoch is None else min(stop_epoch, epochs)
    clock = Stopwatch(device)
    for epoch in range(first_epoch, last + 1):
        clock.start()
        train_loss, train_acc, seen, lr = train_one_epoch(
            model, train_x, train_y, optimizer, scheduler, loss_fn, block, generator, perf, forward
        )
        progress["train_only_seconds"] += clock.seconds()
        progress["train_images"] += seen
        val_loss, val_acc, _ = predict(model, val_x, val_y, block["eval_batch_size"], perf, forward)
        seconds = clock.seconds()
        progress["elapsed"] += seconds
        history.append({
            "epoch": epoch, "train_loss": train_loss, "train_acc": train_acc,
            "val_loss": val_loss, "val_acc": val_acc, "lr": lr,
            "epoch_seconds": seconds, "elapsed_seconds": progress["elapsed"],
        })
        if live is not None:
            live.epoch(epoch, history[-1])
        left = (epochs - epoch) * progress["elapsed"] / epoch
        log.info(
            "%sepoch %d/%d  train loss %.4f acc %.4f  val loss %.4f acc %.4f  lr %.3g  %.1fs  (%s left)",
            label, epoch, epochs, train_loss, train_acc, val_loss, val_acc, lr, seconds, _duration(left),
        )
        if gpu_missing and epoch == first_epoch:
            this_job = epochs - first_epoch + 1
            log.warning(
                "%sGPU expected, CPU found: epoch %d took %s on the CPU; at that speed this job's %d "
                "epoch%s take about %s (%s still to go)",
                label, epoch, _duration(seconds), this_job, "" if this_job == 1 else "s",
                _duration(seconds * this_job), _duration((epochs - epoch) * seconds),
            )
        if not math.isfinite(train_loss):
            status = "diverged"
            log.warning("%straining loss is %s at epoch %d: stopping, status diverged", label, train_loss, epoch)
            break
        if val_acc > progress["best_acc"]:
            progress["best_acc"], progress["best_epoch"] = val_acc, epoch
            if block["keep_weights"] == "best":
                progress["best_state"] = cpu_copy(model)
        if checkpoint_path:
            checkpoint.save(
                checkpoint_path, fingerprint=fingerprint, epoch=epoch, model=model, optimizer=optimizer,
                scheduler=scheduler, generator=generator, progress=progress,
            )

    if len(history) > last:  # resumed from a checkpoint past this rung (its rung ran again)
        history = history[:last]
    best_state, best_epoch = progress["best_state"], progress["best_epoch"]
    if block["keep_weights"] == "last" or best_state is None:
        tested_state = cpu_copy(model)
        tested_epoch = len(history)
    else:
        tested_state, tested_epoch = best_state, best_epoch
    seconds = progress["train_only_seconds"]
    return FitResult(
        history=history, tested_state=tested_state, best_epoch=best_epoch, tested_epoch=tested_epoch,
        status=status, train_seconds=progress["elapsed"],
        images_per_second=progress["train_images"] / seconds if seconds else 0.0,
    )


def describe_tested_weights(block: dict, result: FitResult) -> str:
    """Which weights model.pt holds, in words, for metrics.json and the report."""
    epoch = result.tested_epoch
    if block["keep_weights"] == "best" and epoch == result.best_epoch and result.best_epoch > 0:
        return f"epoch {epoch}, the best validation accuracy"
    if result.status == "diverged" and epoch == len(result.history):
        return f"epoch {epoch}, where training diverged"
    return f"epoch {epoch}, the last one trained"


def check_pretrained_weights(block: dict, weights_path) -> str | None:
    """The weights file a pretrained block needs, or None for a random start.

    Fails, before any data is loaded, when the file is missing, naming it and
    the command that fetches it: training never downloads.
    """
    if not block.get("pretrained"):
        return None
    if weights_path is None or not Path(weights_path).is_file():
        raise FileNotFoundError(
            f"pretrained weights for {block['arch']} ({block['weights']}) are missing: expected "
            f"{weights_path}. Training never downloads; fetch them on a machine with internet "
            f"with: snakemake --cores 1 {weights_path}"
        )
    return str(weights_path)


class Terminated(SystemExit):
    """SIGTERM (SLURM's warning before a time limit or preemption) or SIGINT
    (Ctrl-C in the terminal running Snakemake) arrived; the exit code is 128 + its number."""


def _exit_on_signal(signum, _frame):
    raise Terminated(128 + signum)


def train_run(*, data_dir, split_path, block: dict, run: dict, seed: int, device_setting: str,
              threads: int, model_path, history_path, info_path, weights_path=None,
              weights_label: str | None = None, checkpoint_path=None, checkpoint_root=None,
              performance: dict | None = None, gpus_requested: int = 0, runs_per_gpu: int | None = None,
              tensorboard_dir=None, rung: dict | None = None) -> dict:
    """Train one run and write model.pt, history.csv and train.json.

    With a `rung` ({"rung": k, "epochs": E}, a rung of a halved sweep short of
    its last), train only up to epoch E, write history.csv and train.json (no
    model.pt: model_path None) and keep the checkpoint, which the next rung
    resumes from if the run goes on (cnncompare.plan.halving).

    With a tensorboard_dir, every epoch's losses, accuracies and learning rate
    are also written there as TensorBoard event files as it ends, and the
    run's params as hparams with the final metrics at the end (live_curves).

    With a checkpoint_path the run survives being killed: it resumes from the
    last complete epoch when started again, and removes the checkpoint once
    its outputs are written (and the folders above it, up to checkpoint_root,
    that are left empty). SIGTERM ends it at once with a non-zero exit,
    keeping the checkpoint of the last complete epoch (a checkpoint being
    written is finished or dropped whole, never torn); so does SIGINT (Ctrl-C).

    `gpus_requested` is the job's `gpu` resource: a job that asked for a GPU
    and runs on the CPU says so first in its log, and train.json records it.
    `runs_per_gpu` (performance.runs_per_gpu) is how many jobs share one GPU;
    None takes the schema's default.
    """
    started = datetime.now(timezone.utc)
    t0 = time.perf_counter()
    weights_path = check_pretrained_weights(block, weights_path)
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, _exit_on_signal)
    torch.set_num_threads(max(1, threads))
    performance = performance or {}
    device = choose_device(device_setting, runs_per_gpu=runs_per_gpu)
    gpu_missing = warn_if_gpu_missing(device_setting, gpus_requested, device, "train_model")
    perf = Performance.resolve(performance, device)
    set_determinism(perf.deterministic, device)
    seed_everything(seed)
    label = f"{run_label(run)}: "
    log.info("%straining on %s, %s, config %s", label, costs.device_name(device), perf.describe(), block)

    data = load_run_data(data_dir, split_path, device)
    data_record = checksums.run_record(data_dir)
    log.info("%sprepared data %s (SHA-256 %s, checked)", label, data_dir, data_record["sha256"])
    for warning in data_record["warnings"]:
        log.warning("%sdata: %s", label, warning)
    model = build_model(block, len(data.classes), data.mean, data.std, weights_path=weights_path).to(device)
    params_total, params_trainable = count_parameters(model)
    init = f"ImageNet weights {weights_label or block['weights']}" if weights_path else "random initialisation"
    log.info(
        "%s%d train, %d val, %d test images at %d px; %d parameters, %d trainable; %s",
        label, data.size("train"), data.size("val"), data.size("test"), block["image_size"],
        params_total, params_trainable, init,
    )
    if block["batch_size"] > data.size("train"):
        log.warning("%sbatch_size %d is above the %d training images: each epoch is one batch of %d "
                    "(summary.csv's batch_size says so)", label, block["batch_size"], data.size("train"),
                    data.size("train"))
    setup_seconds = time.perf_counter() - t0

    inputs = [Path(data_dir) / "train.npz", Path(data_dir) / "test.npz", split_path, weights_path]
    # The live loggers only observe: they get each epoch's row and cannot fail the run (tracker.py).
    live = LiveLoggers([LiveCurves(tensorboard_dir)] if tensorboard_dir else [])
    live.start(run, block)
    final = None  # stays None when training stops early: the loggers then only close
    try:
        result = fit(
            model, data, block, seed, device, label, checkpoint_path=checkpoint_path,
            fingerprint=checkpoint.fingerprint({**block, "performance": performance}, seed, inputs)
            if checkpoint_path else "",
            perf=perf, gpu_missing=gpu_missing, live=live,
            stop_epoch=rung["epochs"] if rung else None,
        )
        # A rung's run is not finished: its loggers close without final metrics.
        final = None if rung else final_metrics(result.history)
    except Terminated as stop:
        name = signal.Signals(stop.code - 128).name
        log.warning("%s%s: stopping; the next start resumes from %s", label, name, checkpoint_path)
        raise
    finally:
        live.finish(final)

    if model_path is not None:
        checkpoint.save_torch(result.tested_state, model_path)
    write_csv(history_path, result.history, HISTORY_COLUMNS)
    info = {
        **run,
        "arch": block["arch"],
        "status": result.status,
        "epochs_planned": block["epochs"],
        "epochs_run": len(result.history),
        "best_epoch": result.best_epoch,
        "tested_epoch": result.tested_epoch,
        "tested_weights": describe_tested_weights(block, result),
        "train_seconds": round(result.train_seconds, 3),
        "setup_seconds": round(setup_seconds, 3),
        "images_per_second": round(result.images_per_second, 1),
        "peak_rss_mb": costs.peak_rss_mb(),
        "peak_gpu_mem_mb": costs.peak_gpu_mem_mb(device),
        "checkpoint_bytes": os.path.getsize(model_path) if model_path is not None else None,
        "params_total": params_total,
        "params_trainable": params_trainable,
        "params_frozen": params_total - params_trainable,
        "image_size": block["image_size"],
        "pretrained": bool(weights_path),
        "weights": (weights_label or block["weights"]) if weights_path else None,
        "init": init,
        "num_classes": len(data.classes),
        "classes": data.classes,
        # Side of the prepared images training read (the model resizes them to image_size).
        "prepared_size": int(data.parts["train"][0].shape[1]),
        "train_size": data.size("train"),
        "val_size": data.size("val"),
        "test_size": data.size("test"),
        "device": costs.device_name(device),
        "gpu_requested": gpu_expected(device_setting, gpus_requested),
        "threads": torch.get_num_threads(),
        "performance": perf.describe(),
        "normalization": {"mean": data.mean, "std": data.std},
        "data": data_record,
        "started_at": started.isoformat(timespec="seconds"),
        "versions": costs.versions(),
        "config": copy.deepcopy(block),
    }
    if rung:
        info["rung"] = rung
    write_json(info_path, info)
    if checkpoint_path and not rung:
        checkpoint.remove(checkpoint_path, up_to=checkpoint_root)
    return info
