"""Writers of small data sets in the real MNIST (IDX), SVHN (.mat) and
image-folder formats, for tests. Each is written from the format's
specification, not with the code under test."""

from __future__ import annotations

import gzip
import hashlib
import struct
from pathlib import Path

import numpy as np

IDX_NAMES = {
    "train_images": "train-images-idx3-ubyte.gz",
    "train_labels": "train-labels-idx1-ubyte.gz",
    "test_images": "t10k-images-idx3-ubyte.gz",
    "test_labels": "t10k-labels-idx1-ubyte.gz",
}


def md5_of(path: Path) -> str:
    return hashlib.md5(Path(path).read_bytes()).hexdigest()


def folder_url(folder: Path) -> str:
    return folder.resolve().as_uri() + "/"


# --- IDX (MNIST, Fashion-MNIST) ------------------------------------------------------------


def idx_bytes(array: np.ndarray) -> bytes:
    """Two zero bytes, 0x08 (unsigned byte), the number of dimensions, each
    dimension as a big-endian uint32, then the values row-major."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.tobytes()


def digit_images(labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """(N, 28, 28) grey images on a black background whose class is learnable:
    a bright bar whose row and length depend on the class."""
    images = rng.integers(0, 40, size=(len(labels), 28, 28)).astype(np.uint8)
    for image, label in zip(images, labels):
        row = 3 + 2 * int(label)
        image[row:row + 2, 4:8 + 2 * int(label)] = 250
    return images


def write_idx_set(folder, n_train: int = 200, n_test: int = 60, seed: int = 0,
                  replace: dict[str, bytes] | None = None) -> dict:
    """The four gzipped IDX files of an MNIST-format set in `folder`; `replace`
    swaps a file's bytes (by file name) for broken ones."""
    rng = np.random.default_rng(seed)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    parts = {}
    for part, n in (("train", n_train), ("test", n_test)):
        labels = (np.arange(n) % 10).astype(np.uint8)
        rng.shuffle(labels)
        images = digit_images(labels, rng)
        parts[part] = (images, labels.astype(np.int64))
        for kind, array in (("images", images), ("labels", labels)):
            name = IDX_NAMES[f"{part}_{kind}"]
            (folder / name).write_bytes(gzip.compress(idx_bytes(array)))
    for name, payload in (replace or {}).items():
        (folder / name).write_bytes(payload)
    files = {name: folder / name for name in IDX_NAMES.values()}
    return {
        "folder": folder,
        "files": files,
        "url": folder_url(folder),
        "md5": {name: md5_of(path) for name, path in files.items()},
        **parts,
    }


# --- SVHN ------------------------------------------------------------------------------------


def write_svhn_mat(path, images: np.ndarray, digits: np.ndarray) -> Path:
    """A MATLAB v5 file as SVHN ships it: X (32, 32, 3, N) uint8 with X(:,:,:,i)
    image i, y (N, 1) with the digit 0 written as 10."""
    from scipy.io import savemat

    y = np.where(digits == 0, 10, digits).astype(np.uint8).reshape(-1, 1)
    savemat(str(path), {"X": np.ascontiguousarray(images.transpose(1, 2, 3, 0)), "y": y})
    return Path(path)


def write_svhn_set(folder, n_train: int = 80, n_test: int = 30, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    parts = {}
    for part, name, n in (("train", "train_32x32.mat", n_train), ("test", "test_32x32.mat", n_test)):
        digits = rng.integers(0, 10, size=n)
        digits[:10] = np.arange(10)[:n]  # every digit, 0 (written 10) included
        images = rng.integers(0, 256, size=(n, 32, 32, 3), dtype=np.uint8)
        write_svhn_mat(folder / name, images, digits)
        parts[part] = (images, digits.astype(np.int64))
    files = {name: folder / name for name in ("train_32x32.mat", "test_32x32.mat")}
    return {
        "folder": folder,
        "files": files,
        "url": folder_url(folder),
        "md5": {name: md5_of(path) for name, path in files.items()},
        **parts,
    }


# --- image folders ---------------------------------------------------------------------------

PHOTO_CLASSES = ["cat", "dog", "owl"]
PHOTO_COLOURS = {"cat": (200, 60, 40), "dog": (40, 180, 60), "owl": (50, 70, 210)}


def write_image_folder(root, per_class: int = 20, size: int = 32, seed: int = 0) -> dict:
    """root/<class>/img_NNN.png: lossless PNGs of size x size, one colour per
    class under noise; returns {class: [(path, pixels)]}."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    root = Path(root)
    written = {}
    for cls in PHOTO_CLASSES:
        (root / cls).mkdir(parents=True, exist_ok=True)
        written[cls] = []
        for i in range(per_class):
            noise = rng.integers(-30, 30, size=(size, size, 3))
            pixels = np.clip(np.array(PHOTO_COLOURS[cls]) + noise, 0, 255).astype(np.uint8)
            path = root / cls / f"img_{i:03d}.png"
            Image.fromarray(pixels).save(path)
            written[cls].append((path, pixels))
    return written
