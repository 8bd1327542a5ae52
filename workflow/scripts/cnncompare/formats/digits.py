"""scikit-learn's bundled 8x8 digits: nothing to download."""

from __future__ import annotations

import os

import numpy as np

from cnncompare.datasets import write_prepared


def prepare_digits(out_dir: str | os.PathLike, test_fraction: float, seed: int, side: int = 32) -> None:
    """scikit-learn's 8x8 digits as 32x32 RGB, with a stratified stand-in test set."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    # Pixel values run 0..16; stretch to 0..255, upscale by repetition, grey to RGB.
    small = np.round(digits.images * (255.0 / 16.0)).astype(np.uint8)
    factor = side // small.shape[1]
    big = small.repeat(factor, axis=1).repeat(factor, axis=2)
    images = np.repeat(big[..., None], 3, axis=3)
    labels = digits.target.astype(np.int64)
    index = np.arange(len(labels))
    train_idx, test_idx = train_test_split(
        index, test_size=test_fraction, random_state=seed, stratify=labels
    )
    train_idx, test_idx = np.sort(train_idx), np.sort(test_idx)
    write_prepared(
        out_dir,
        (images[train_idx], labels[train_idx]),
        (images[test_idx], labels[test_idx]),
        [str(d) for d in digits.target_names],
    )


def prepare_digits_block(downloads: dict, settings: dict, out_dir) -> None:
    prepare_digits(out_dir, test_fraction=settings["test_fraction"], seed=settings["seed"])
