"""Batched augmentation on the training device.

Images stay uint8 NHWC (as prepared) until the last step. A random crop with
padding and a horizontal flip are one gather: each image's row and column
indices into the padded batch are computed with tensor arithmetic, and a flip
is just reversed column indices. No PIL, no per-image Python.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def to_float(images_u8: torch.Tensor) -> torch.Tensor:
    """uint8 NHWC -> float32 NCHW in [0, 1].

    The permuted view keeps NHWC memory order, i.e. channels_last, which
    convolutions on both CPU and GPU handle without a copy back.
    """
    return images_u8.permute(0, 3, 1, 2).float().div_(255.0)


def crop_flip(images_u8: torch.Tensor, padding: int, flip: bool, generator: torch.Generator) -> torch.Tensor:
    """Random crop after zero padding by `padding`, and random horizontal flip (p=0.5).

    Input and output: uint8 NHWC of the same shape, on the input's device.
    """
    n, h, w, _ = images_u8.shape
    device = images_u8.device
    if padding == 0 and not flip:
        return images_u8
    padded = F.pad(images_u8, (0, 0, padding, padding, padding, padding)) if padding else images_u8
    dy, dx = torch.randint(0, 2 * padding + 1, (2, n, 1), device=device, generator=generator)
    rows = dy + torch.arange(h, device=device)
    cols = torch.arange(w, device=device).expand(n, w)
    if flip:
        flipped = torch.rand(n, 1, device=device, generator=generator) < 0.5
        cols = torch.where(flipped, (w - 1) - cols, cols)
    cols = dx + cols
    batch = torch.arange(n, device=device).view(n, 1, 1)
    return padded[batch, rows.view(n, h, 1), cols.view(n, 1, w)]


def augment_batch(images_u8: torch.Tensor, augment: dict, generator: torch.Generator) -> torch.Tensor:
    """The training transform of a model block's `augment`: uint8 NHWC -> float NCHW."""
    return to_float(crop_flip(images_u8, augment["crop_padding"], augment["flip"], generator))
