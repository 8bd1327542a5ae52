"""MNIST and Fashion-MNIST: four gzipped IDX files each.

IDX (LeCun's format): two zero bytes, a type byte (0x08: unsigned byte), the
number of dimensions, each dimension as a big-endian uint32, then the values
row-major. Images are (N, 28, 28) grey levels, 0 the background; labels (N,).
Both data sets use the same four file names.
"""

from __future__ import annotations

import gzip
import logging
import os
import struct
import zlib
from pathlib import Path

import numpy as np

from cnncompare.data.datasets import DataError, write_prepared
from cnncompare.data.formats import IDX_FILES

log = logging.getLogger(__name__)


MNIST_CLASSES = [str(d) for d in range(10)]
FASHION_MNIST_CLASSES = [
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
]
SIDE = 28
_UNSIGNED_BYTE = 0x08


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """The uint8 array of a gzipped (or plain) IDX file of unsigned bytes."""
    path = Path(path)
    try:
        with open(path, "rb") as fh:
            raw = fh.read()
        if raw[:2] == b"\x1f\x8b":  # the gzip magic number
            raw = gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as exc:
        raise DataError(f"cannot read {path}: {exc}") from exc
    if len(raw) < 4 or raw[:2] != b"\0\0":
        raise DataError(f"{path}: not an IDX file (it must start with two zero bytes)")
    if raw[2] != _UNSIGNED_BYTE:
        raise DataError(f"{path}: IDX values of type 0x{raw[2]:02x}; only unsigned bytes (0x08) are read")
    ndim = raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataError(f"{path}: the IDX header is cut off")
    shape = struct.unpack(f">{ndim}I", raw[4:header])
    expected = int(np.prod(shape, dtype=np.int64))
    if len(raw) - header != expected:
        raise DataError(
            f"{path}: the IDX header promises shape {shape} ({expected} bytes), "
            f"but {len(raw) - header} bytes follow it"
        )
    return np.frombuffer(raw, np.uint8, offset=header).reshape(shape)


def read_part(images_path: Path, labels_path: Path, num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    images, labels = read_idx(images_path), read_idx(labels_path)
    if images.ndim != 3 or images.shape[1:] != (SIDE, SIDE):
        raise DataError(f"{images_path}: expected images of shape (N, {SIDE}, {SIDE}), got {images.shape}")
    if labels.ndim != 1:
        raise DataError(f"{labels_path}: expected one label per image, got shape {labels.shape}")
    if len(labels) != len(images):
        raise DataError(f"{images_path} holds {len(images)} images but {labels_path} {len(labels)} labels")
    if labels.size and labels.max() >= num_classes:
        raise DataError(f"{labels_path}: labels must lie in 0..{num_classes - 1}, found {labels.max()}")
    return images, labels.astype(np.int64)


def grey_to_rgb(images: np.ndarray, size: int, fit: str) -> np.ndarray:
    """(N, h, w) grey -> (N, size, size, 3) RGB with three equal channels.

    `pad` centres the image on a black square (MNIST's background is 0), so no
    pixel changes; `resize` scales it bilinearly.
    """
    n, h, w = images.shape
    if fit == "pad":
        if size < max(h, w):
            raise ValueError(f"cannot pad {h}x{w} images to {size} px; use fit: resize")
        top, left = (size - h) // 2, (size - w) // 2
        grey = np.zeros((n, size, size), np.uint8)
        grey[:, top:top + h, left:left + w] = images
    elif fit == "resize":
        from PIL import Image

        grey = np.empty((n, size, size), np.uint8)
        for i, image in enumerate(images):
            grey[i] = np.asarray(Image.fromarray(image).resize((size, size), Image.Resampling.BILINEAR))
    else:
        raise ValueError(f"fit is pad or resize, not {fit!r}")
    return np.repeat(grey[..., None], 3, axis=3)


def prepare_idx(downloads: dict, settings: dict, out_dir, classes: list[str]) -> None:
    parts = {}
    for part in ("train", "test"):
        images, labels = read_part(
            Path(downloads[IDX_FILES[f"{part}_images"]]), Path(downloads[IDX_FILES[f"{part}_labels"]]), len(classes)
        )
        parts[part] = (grey_to_rgb(images, settings["image_size"], settings["fit"]), labels)
    log.info("%s %d px grey images made %d px RGB", settings["fit"], SIDE, settings["image_size"])
    write_prepared(out_dir, parts["train"], parts["test"], classes)


def prepare_mnist(downloads: dict, settings: dict, out_dir) -> None:
    prepare_idx(downloads, settings, out_dir, MNIST_CLASSES)


def prepare_fashion_mnist(downloads: dict, settings: dict, out_dir) -> None:
    prepare_idx(downloads, settings, out_dir, FASHION_MNIST_CLASSES)
