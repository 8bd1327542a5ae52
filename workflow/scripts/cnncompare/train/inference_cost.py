"""What a trained model costs at inference: multiply-adds per image, images per
second at the evaluation batch size, and the latency of one image.

The three figures timm's benchmark tables give, measured the way evaluation
runs the model: in eval mode, without gradients, on the run's device, with its
precision and memory format, from the uint8 NHWC images the data set holds
(their float conversion and any resize to image_size included in the times).

- MACs: torch.utils.flop_counter counts 2 FLOPs per multiply-add of the
  convolutions and matrix products (what the figures of CNN papers count);
  batch norm, activations and pooling are not counted. Counted on one image
  of image_size px, so they do not depend on the data set's own size.
- Throughput: one pass to warm up (first-call allocations and kernel choices),
  then passes of a full batch until the config's
  inference_timing.throughput_seconds (1 s by default) have passed (at least
  one pass), so the measurement takes about that long on a GPU and two
  batches on a slow CPU.
- Latency: the median of LATENCY_PASSES single-image passes after
  LATENCY_WARMUP passes; the median, since one pass may meet a busy moment.

The figures depend on the network only (its model block, the data set's
classes and image size, the device, the evaluation batch size), never on the
trained weights' values: rule measure_inference takes them once per network
(plan.Model.network: the block's settings that shape it) and data set (measure_network), in a job that claims every core of a local run
so that no training job shares them, and every run's evaluation copies that
file into its metrics.json (shared_cost). Two runs of one network then show the
same figures, and a run's evaluation no longer pays for them.
"""

from __future__ import annotations

import logging
import os
import statistics
import time

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from cnncompare.train.augment import to_float
from cnncompare.train.devices import Performance, synchronize

log = logging.getLogger(__name__)

LATENCY_WARMUP = 3
LATENCY_PASSES = 20


def count_macs(model: nn.Module, image_size: int, device: torch.device | str = "cpu") -> int:
    """Multiply-adds of one forward pass over one image of image_size x image_size px."""
    x = torch.rand(1, 3, image_size, image_size, device=device)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            model(x)
    finally:
        model.train(was_training)
    return counter.get_total_flops() // 2


def _batch_of(images: torch.Tensor, size: int) -> torch.Tensor:
    """`size` images taken from `images` in turn (repeated when there are fewer)."""
    index = torch.arange(size, device=images.device) % len(images)
    return images[index]


def _timed(forward, x: torch.Tensor, perf: Performance) -> float:
    device = x.device
    synchronize(device)
    start = time.perf_counter()
    with perf.autocast(device):
        forward(x)
    synchronize(device)
    return time.perf_counter() - start


def measure(model: nn.Module, images_u8: torch.Tensor, image_size: int, batch_size: int,
            perf: Performance | None = None, forward=None, budget_s: float | None = None) -> dict:
    """The three figures of `model` on the device of `images_u8` (uint8 NHWC, at
    the data set's size; any number of them), for metrics.json. `budget_s`: the
    seconds of full-batch passes timed (inference_timing.throughput_seconds;
    the schema's default when not given)."""
    if budget_s is None:
        from cnncompare.plan.defaults import schema_default

        budget_s = schema_default("inference_timing", "throughput_seconds")
    device = images_u8.device
    perf = perf or Performance(bf16=False, channels_last=False, compile=False, deterministic=False)
    forward = forward or model
    was_training = model.training
    model.eval()
    try:
        macs = count_macs(model, image_size, device)
        with torch.no_grad():
            batch = to_float(_batch_of(images_u8, batch_size))
            _timed(forward, batch, perf)  # warm-up
            passes, seconds = 0, 0.0
            while passes == 0 or seconds < budget_s:
                seconds += _timed(forward, batch, perf)
                passes += 1
            one = to_float(images_u8[:1])
            for _ in range(LATENCY_WARMUP):
                _timed(forward, one, perf)
            latencies = [_timed(forward, one, perf) for _ in range(LATENCY_PASSES)]
    finally:
        model.train(was_training)
    return {
        "gmacs": macs / 1e9,
        "inference_images_per_second": round(passes * batch_size / seconds, 1),
        "latency_ms": round(statistics.median(latencies) * 1000, 3),
        "inference_measured": {
            "macs": macs,
            "counted_at_px": image_size,
            "batch_size": batch_size,
            "throughput_passes": passes,
            "throughput_seconds": budget_s,
            "latency_passes": LATENCY_PASSES,
            "latency_warmup": LATENCY_WARMUP,
            "how": "torch.utils.flop_counter (2 FLOPs per multiply-add); eval mode, no gradients, "
                   "on the evaluation's device and precision; throughput after one warm-up pass, "
                   "latency the median of single-image passes after warm-up",
        },
    }


# What metrics.json says of where its inference figures come from (the report's cost note says it too).
MEASURED_BY = ("rule measure_inference, once per network (the model settings that shape it) and data set, "
               "on the evaluation's device, threads and batch size, from random weights (the figures do "
               "not depend on the weights' values); shared by every run of that network: each split, seed "
               "and model block that differs in training only")


def measure_network(*, data_dir, block: dict, device_setting: str, threads: int, output_path,
                    performance: dict | None = None, cores_claimed: int = 1, alone: bool = False,
                    runs_per_gpu: int | None = None, throughput_seconds: float | None = None) -> dict:
    """Rule measure_inference: the network of `block` on the data set in
    data_dir (its classes, and test images at their prepared size), timed as
    evaluation runs it, written to output_path for every run of it to share.

    `threads` is the evaluation's thread count (the figures are the evaluation's);
    `cores_claimed` what the job claimed of the scheduler, and `alone` whether
    that was every core of a local run, so no other job of the workflow ran
    beside the timing; `throughput_seconds` how long full batches are timed
    (inference_timing.throughput_seconds). The load average before and after is kept, for a machine
    that other users share."""
    import dataclasses

    from cnncompare.data.datasets import load_classes, load_prepared
    from cnncompare.fileio import write_json
    from cnncompare.train import costs
    from cnncompare.train.devices import choose_device
    from cnncompare.train.models import build_model

    torch.set_num_threads(max(1, threads))
    device = choose_device(device_setting, runs_per_gpu=runs_per_gpu)
    # As evaluate_model runs the model: its precision and memory format, never compiled.
    perf = dataclasses.replace(Performance.resolve(performance or {}, device), compile=False)
    classes = load_classes(data_dir)
    images, _ = load_prepared(data_dir, "test")
    batch = torch.from_numpy(images[:block["eval_batch_size"]]).to(device)
    torch.manual_seed(0)  # the weights' values do not matter; fixed all the same
    model = build_model(block, len(classes)).to(device)  # as evaluation builds it, before loading weights
    perf.prepare(model)
    load_before = os.getloadavg()[0]
    cost = measure(model, batch, block["image_size"], block["eval_batch_size"], perf, budget_s=throughput_seconds)
    cost["inference_measured"].update({
        "by": MEASURED_BY,
        "device": costs.device_name(device),
        "threads": torch.get_num_threads(),
        "performance": perf.describe(),
        "cores_claimed": cores_claimed,
        "alone": alone,
        "load_average": [round(load_before, 2), round(os.getloadavg()[0], 2)],
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    })
    log.info("%s: %.4f GMACs per image at %d px, %.1f images/s at batch %d, %.3f ms for one image "
             "(%d threads; %s)", block["arch"], cost["gmacs"], block["image_size"],
             cost["inference_images_per_second"], block["eval_batch_size"], cost["latency_ms"],
             torch.get_num_threads(), "alone" if alone else "other jobs may have shared the cores")
    write_json(output_path, cost)
    return cost


def shared_cost(path) -> dict:
    """The figures measure_network wrote, for a run's metrics.json."""
    from cnncompare.fileio import read_json

    cost = read_json(path)
    return {key: cost[key] for key in ("gmacs", "inference_images_per_second", "latency_ms",
                                       "inference_measured")}
