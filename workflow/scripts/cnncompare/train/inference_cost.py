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
  then passes of a full batch until THROUGHPUT_BUDGET_S has passed (at least
  one), so a run's evaluation grows by about a second on a GPU and by two
  batches on a slow CPU.
- Latency: the median of LATENCY_PASSES single-image passes after
  LATENCY_WARMUP passes; the median, since one pass may meet a busy moment.
"""

from __future__ import annotations

import statistics
import time

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from cnncompare.train.augment import to_float
from cnncompare.train.devices import Performance, synchronize

THROUGHPUT_BUDGET_S = 1.0
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
            perf: Performance | None = None, forward=None, budget_s: float = THROUGHPUT_BUDGET_S) -> dict:
    """The three figures of `model` on the device of `images_u8` (uint8 NHWC, at
    the data set's size; any number of them), for metrics.json."""
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
            "latency_passes": LATENCY_PASSES,
            "latency_warmup": LATENCY_WARMUP,
            "how": "torch.utils.flop_counter (2 FLOPs per multiply-add); eval mode, no gradients, "
                   "on the evaluation's device and precision; throughput after one warm-up pass, "
                   "latency the median of single-image passes after warm-up",
        },
    }
