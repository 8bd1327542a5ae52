"""Writers of small archives in the real CIFAR-10 python format, for tests.

The layout is the official one: cifar-10-batches-py/ holding data_batch_1..5,
test_batch and batches.meta, each a protocol-2 pickle of a dict with bytes
keys; b"data" is uint8 (N, 3072) with the red plane, then green, then blue,
each row-major; b"labels" a list of ints. As in the official files (written by
Python 2), the pickles name numpy.core.multiarray.
"""

from __future__ import annotations

import hashlib
import io
import pickle
import tarfile
from pathlib import Path

import numpy as np

CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
FOLDER = "cifar-10-batches-py"


# One colour per class, the same in every part of the archive.
PALETTE = np.random.default_rng(2021).integers(40, 216, size=(10, 3))


def class_images(labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """uint8 (N, 32, 32, 3) images whose class is learnable: a class colour and
    a class-specific stripe direction, under noise."""
    n = len(labels)
    palette = PALETTE
    base = palette[labels][:, None, None, :].astype(np.float64)
    yy, xx = np.mgrid[0:32, 0:32]
    angle = labels[:, None, None] * np.pi / 10
    stripes = np.sin((np.cos(angle) * xx + np.sin(angle) * yy) * 0.8)[..., None] * 40
    noise = rng.normal(0, 25, size=(n, 32, 32, 3))
    return np.clip(base + stripes + noise, 0, 255).astype(np.uint8)


def to_rows(images: np.ndarray) -> np.ndarray:
    """(N, 32, 32, 3) HWC -> (N, 3072) in CIFAR's channel-plane order."""
    return np.ascontiguousarray(images.transpose(0, 3, 1, 2).reshape(len(images), -1))


def batch_pickle(data: np.ndarray, labels, name: str = "batch") -> bytes:
    obj = {
        b"batch_label": name.encode(),
        b"labels": [int(v) for v in labels],
        b"data": data,
        b"filenames": [f"img_{i}.png".encode() for i in range(len(labels))],
    }
    raw = pickle.dumps(obj, protocol=2)
    # NumPy 2 pickles name numpy._core; the official files name numpy.core.
    return raw.replace(b"numpy._core.multiarray", b"numpy.core.multiarray")


def meta_pickle(classes=CLASSES) -> bytes:
    return pickle.dumps(
        {b"label_names": [c.encode() for c in classes], b"num_cases_per_batch": 10000, b"num_vis": 3072},
        protocol=2,
    )


def add_bytes(tar: tarfile.TarFile, name: str, payload: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(payload)
    info.mode = 0o644
    tar.addfile(info, io.BytesIO(payload))


def write_archive(path, n_train: int = 1000, n_test: int = 300, seed: int = 0,
                  members: dict[str, bytes] | None = None, skip: tuple[str, ...] = (),
                  relabel=None) -> dict:
    """Write a CIFAR-10-format .tar.gz; return its md5 and the arrays written.

    `members` adds or replaces members (name relative to the archive root);
    `skip` leaves out members by their file name; `relabel(part, labels)`
    gives the labels written for the images drawn ("train" or "test").
    """
    rng = np.random.default_rng(seed)
    train_labels = np.arange(n_train) % 10
    rng.shuffle(train_labels)
    test_labels = np.arange(n_test) % 10
    rng.shuffle(test_labels)
    train_images = class_images(train_labels, rng)
    test_images = class_images(test_labels, rng)
    if relabel is not None:
        train_labels, test_labels = relabel("train", train_labels), relabel("test", test_labels)
    contents = {f"{FOLDER}/batches.meta": meta_pickle()}
    for i, part in enumerate(np.array_split(np.arange(n_train), 5), start=1):
        contents[f"{FOLDER}/data_batch_{i}"] = batch_pickle(
            to_rows(train_images[part]), train_labels[part], f"training batch {i} of 5"
        )
    contents[f"{FOLDER}/test_batch"] = batch_pickle(to_rows(test_images), test_labels, "testing batch 1 of 1")
    contents.update(members or {})
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, "w:gz") as tar:
        for name, payload in contents.items():
            if name.rsplit("/", 1)[-1] not in skip:
                add_bytes(tar, name, payload)
    return {
        "path": path,
        "url": path.resolve().as_uri(),
        "md5": hashlib.md5(path.read_bytes()).hexdigest(),
        "train": (train_images, train_labels.astype(np.int64)),
        "test": (test_images, test_labels.astype(np.int64)),
    }


# --- CIFAR-100 ---------------------------------------------------------------------------

CIFAR100_FOLDER = "cifar-100-python"
FINE_CLASSES = [f"fine_{i:02d}" for i in range(100)]
COARSE_CLASSES = [f"coarse_{i:02d}" for i in range(20)]


def cifar100_pickle(data: np.ndarray, fine, coarse, name: str) -> bytes:
    obj = {
        b"batch_label": name.encode(),
        b"fine_labels": [int(v) for v in fine],
        b"coarse_labels": [int(v) for v in coarse],
        b"data": data,
        b"filenames": [f"img_{i}.png".encode() for i in range(len(fine))],
    }
    return pickle.dumps(obj, protocol=2).replace(b"numpy._core.multiarray", b"numpy.core.multiarray")


def write_cifar100_archive(path, n_train: int = 300, n_test: int = 100, seed: int = 0,
                           members: dict[str, bytes] | None = None) -> dict:
    """A CIFAR-100-format .tar.gz (cifar-100-python/train, test, meta), random
    pixels; the coarse label of fine class f is f // 5."""
    rng = np.random.default_rng(seed)
    contents = {
        f"{CIFAR100_FOLDER}/meta": pickle.dumps(
            {b"fine_label_names": [c.encode() for c in FINE_CLASSES],
             b"coarse_label_names": [c.encode() for c in COARSE_CLASSES]},
            protocol=2,
        )
    }
    parts = {}
    for part, n in (("train", n_train), ("test", n_test)):
        fine = rng.integers(0, 100, size=n)
        images = rng.integers(0, 256, size=(n, 32, 32, 3), dtype=np.uint8)
        contents[f"{CIFAR100_FOLDER}/{part}"] = cifar100_pickle(to_rows(images), fine, fine // 5, part)
        parts[part] = (images, fine.astype(np.int64))
    contents.update(members or {})
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, "w:gz") as tar:
        for name, payload in contents.items():
            add_bytes(tar, name, payload)
    return {
        "path": path,
        "url": path.resolve().as_uri(),
        "md5": hashlib.md5(path.read_bytes()).hexdigest(),
        **parts,
    }
