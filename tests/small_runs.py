"""Small in-memory runs for tests of the training code: a complete model block,
and a learnable data set already split into parts."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

import cifar_format
from cnncompare.plan.config import resolve_config
from cnncompare.train.training import RunData, channel_stats


def model_block(**overrides) -> dict:
    """A custom_cnn block with every default filled, then `overrides`."""
    config = resolve_config({"models": {"m": {"arch": "custom_cnn", **overrides}}, "compare": {"models": ["m"]}})
    return config["models"]["m"]


def run_data(n: int, seed: int, val_size: int | None = None) -> RunData:
    """`n` class-coloured 32 px images; val and test are the first `val_size` (all when None)."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 10
    images = cifar_format.class_images(labels, rng)
    tensors = (torch.from_numpy(images), torch.from_numpy(labels.astype(np.int64)))
    val = tensors if val_size is None else (tensors[0][:val_size], tensors[1][:val_size])
    mean, std = channel_stats(images)
    return RunData({"train": tensors, "val": val, "test": val}, cifar_format.CLASSES, mean, std)


def prepared_data(root: Path) -> Path:
    """600 train and 200 test class-coloured images written as prepared data in
    `root`, with its 'three' split as root/three.npz (the data of test_resume)."""
    from cnncompare.data.datasets import write_prepared
    from cnncompare.data.splits import make_split, write_split

    rng = np.random.default_rng(0)
    train_labels, test_labels = np.arange(600) % 10, np.arange(200) % 10
    write_prepared(
        root,
        (cifar_format.class_images(train_labels, rng), train_labels),
        (cifar_format.class_images(test_labels, rng), test_labels),
        cifar_format.CLASSES,
    )
    write_split(root / "three.npz", make_split("three", train_labels, test_labels, 0.2, 0))
    return root
