"""Model construction from a model block of the config.

Every model takes float images in [0, 1], NCHW, and normalises them itself
with buffers that travel in its state dict, so evaluation needs nothing but
model.pt and the block that built it.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from cnncompare.archs import KNOWN_ARCHS


class Normalize(nn.Module):
    """Per-channel standardisation with the training set's statistics."""

    def __init__(self, mean: Sequence[float], std: Sequence[float]):
        super().__init__()
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1))

    def forward(self, x):
        return (x - self.mean) / self.std


def _conv_bn(c_in: int, c_out: int) -> list[nn.Module]:
    # No conv bias: the batch norm that follows has its own shift.
    return [
        nn.Conv2d(c_in, c_out, kernel_size=3, padding=1, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=True),
    ]


class CustomCNN(nn.Sequential):
    """The study's network: three blocks of two 3x3 convolutions (32, 64, 128
    channels) with batch norm, each closed by 2x2 max pooling and dropout, then
    one dense layer. About 308k parameters for 10 classes at 32 px."""

    def __init__(self, num_classes: int, dropout: float, widths=(32, 64, 128)):
        layers: list[nn.Module] = []
        c_in = 3
        for width in widths:
            layers += _conv_bn(c_in, width) + _conv_bn(width, width)
            layers += [nn.MaxPool2d(2), nn.Dropout(dropout)]
            c_in = width
        # Pooling to 4x4 is the identity at 32 px and keeps the dense layer's
        # size fixed when images are larger.
        layers += [nn.AdaptiveAvgPool2d(4), nn.Flatten(), nn.Linear(c_in * 16, num_classes)]
        super().__init__(*layers)


def build_model(block: dict, num_classes: int, mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25)) -> nn.Module:
    """The network a model block describes, preceded by its input normalisation.

    mean and std are placeholders when the weights come from a state dict.
    """
    arch = block["arch"]
    if arch == "custom_cnn":
        net = CustomCNN(num_classes, dropout=block["dropout"])
    else:
        raise ValueError(f"unknown arch {arch!r}; known: {', '.join(KNOWN_ARCHS)}")
    return nn.Sequential(Normalize(mean, std), net)


def count_parameters(model: nn.Module) -> tuple[int, int]:
    """(total, trainable) parameter counts."""
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return total, trainable
