"""SVHN (Street View House Numbers), cropped digits: train_32x32.mat and test_32x32.mat.

Each is a MATLAB (v5) file with X, uint8 of shape (32, 32, 3, N) (row, column,
channel, image: X(:,:,:,i) is image i), and y, of shape (N, 1), holding 1..10
where 10 means the digit 0.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from cnncompare.data.datasets import DataError, write_prepared
from cnncompare.data.formats import SVHN_FILES

CLASSES = [str(d) for d in range(10)]


def read_mat(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """(images N x 32 x 32 x 3, labels 0..9) of one SVHN .mat file."""
    from scipy.io import loadmat

    path = Path(path)
    try:
        mat = loadmat(path, variable_names=["X", "y"])
    except Exception as exc:  # scipy raises ValueError, TypeError, OSError, MatReadError, ... on bad files
        raise DataError(f"cannot read MATLAB file {path}: {type(exc).__name__}: {exc}") from exc
    for key in ("X", "y"):
        if key not in mat:
            raise DataError(f"{path}: no variable '{key}' (has: {', '.join(k for k in mat if not k.startswith('__'))})")
    images, labels = mat["X"], mat["y"]
    if images.ndim != 4 or images.shape[:3] != (32, 32, 3):
        raise DataError(f"{path}: X must have shape (32, 32, 3, N), got {images.shape}")
    if images.dtype != np.uint8:
        raise DataError(f"{path}: X must hold uint8 pixels, got {images.dtype}")
    labels = np.asarray(labels).reshape(-1).astype(np.int64)
    if len(labels) != images.shape[3]:
        raise DataError(f"{path}: {images.shape[3]} images in X but {len(labels)} labels in y")
    if labels.size and (labels.min() < 1 or labels.max() > 10):
        raise DataError(f"{path}: labels in y must lie in 1..10, found {labels.min()}..{labels.max()}")
    labels[labels == 10] = 0  # SVHN writes the digit 0 as class 10
    return np.ascontiguousarray(images.transpose(3, 0, 1, 2)), labels


def prepare_svhn(downloads: dict, settings: dict, out_dir) -> None:
    train, test = (read_mat(downloads[name]) for name in SVHN_FILES)
    write_prepared(out_dir, train, test, CLASSES)
