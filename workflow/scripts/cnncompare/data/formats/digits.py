"""scikit-learn's bundled 8x8 digits: nothing to download."""

from __future__ import annotations

import os

import numpy as np

from cnncompare.data.datasets import DataError, write_prepared


def _split(labels: np.ndarray, test_fraction: float, seed: int):
    """(sorted train and test indices, None), or (None, what is wrong) when
    the split leaves a class out of a part."""
    from sklearn.model_selection import train_test_split

    classes = np.unique(labels)
    try:
        train_idx, test_idx = train_test_split(
            np.arange(len(labels)), test_size=test_fraction, random_state=seed, stratify=labels
        )
    except ValueError:  # a part would hold fewer images than there are classes
        n_test = int(np.ceil(test_fraction * len(labels)))
        part, size = ("test", n_test) if test_fraction < 0.5 else ("training", len(labels) - n_test)
        return None, f"leaves {size} {part} images for {len(classes)} classes"
    for part, indices in (("test", test_idx), ("training", train_idx)):
        missing = np.setdiff1d(classes, labels[indices])
        if len(missing):
            return None, f"leaves class {missing[0]} without a {part} image"
    return (np.sort(train_idx), np.sort(test_idx)), None


def stratified_split(labels: np.ndarray, test_fraction: float, seed: int):
    """(train, test) indices with every class in both parts; else a DataError
    naming the fractions that give that."""
    split, problem = _split(labels, test_fraction, seed)
    if split is None:
        usable = [f / 100 for f in range(1, 100) if _split(labels, f / 100, seed)[0] is not None]
        hint = f"use a test_fraction from {usable[0]:g} to {usable[-1]:g}" if usable else "no test_fraction works"
        raise DataError(f"digits: test_fraction {test_fraction:g} of {len(labels)} images {problem}; {hint}")
    return split


def prepare_digits(out_dir: str | os.PathLike, test_fraction: float, seed: int, side: int = 32) -> None:
    """scikit-learn's 8x8 digits as 32x32 RGB, with a stratified stand-in test set."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    # Pixel values run 0..16; stretch to 0..255, upscale by repetition, grey to RGB.
    small = np.round(digits.images * (255.0 / 16.0)).astype(np.uint8)
    factor = side // small.shape[1]
    big = small.repeat(factor, axis=1).repeat(factor, axis=2)
    images = np.repeat(big[..., None], 3, axis=3)
    labels = digits.target.astype(np.int64)
    train_idx, test_idx = stratified_split(labels, test_fraction, seed)
    write_prepared(
        out_dir,
        (images[train_idx], labels[train_idx]),
        (images[test_idx], labels[test_idx]),
        [str(d) for d in digits.target_names],
    )


def prepare_digits_block(downloads: dict, settings: dict, out_dir) -> None:
    prepare_digits(out_dir, test_fraction=settings["test_fraction"], seed=settings["seed"])
