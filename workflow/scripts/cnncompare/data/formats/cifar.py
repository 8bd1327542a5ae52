"""CIFAR-10 and CIFAR-100: the python-pickle archives of the University of Toronto.

Each archive holds one folder of pickled dicts. A batch's b"data" is uint8
(N, 3072): the 1024 red values row by row, then green, then blue. CIFAR-10 has
five train batches, a test batch and batches.meta (label_names); CIFAR-100 one
train and one test file, each with fine (100) and coarse (20) labels, and meta
naming both.
"""

from __future__ import annotations

import os
import pickle
import tempfile
from pathlib import Path

import numpy as np

from cnncompare.data.datasets import DataError, safe_extract, write_prepared
from cnncompare.data.formats import CIFAR10_FILES, CIFAR100_FILES


# What a pickled numpy array needs, and nothing else. The official archive was
# written by Python 2 with numpy.core; NumPy 2 calls that module numpy._core.
_ALLOWED_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy.core.numeric", "_frombuffer"),
    ("numpy._core.numeric", "_frombuffer"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("_codecs", "encode"),  # how Python 3's protocol 2 stores bytes
}


class _ArrayOnlyUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        if (module, name) not in _ALLOWED_GLOBALS:
            raise pickle.UnpicklingError(f"forbidden global {module}.{name}")
        if module.startswith("numpy.core.") and hasattr(np, "_core"):
            module = "numpy._core." + module.removeprefix("numpy.core.")
        return super().find_class(module, name)


def load_pickle(path: str | os.PathLike) -> dict:
    """Unpickle a CIFAR batch, allowing only what numpy arrays need."""
    path = Path(path)
    try:
        with open(path, "rb") as fh:
            obj = _ArrayOnlyUnpickler(fh, encoding="bytes").load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, ImportError,
            MemoryError) as exc:
        raise DataError(f"cannot unpickle {path}: {exc}") from exc
    if not isinstance(obj, dict):
        raise DataError(f"{path}: expected a dict, got {type(obj).__name__}")
    # Python 2 pickles give bytes keys; normalise to str.
    return {k.decode() if isinstance(k, bytes) else k: v for k, v in obj.items()}


def _cifar_batch(path: Path, label_key: str, num_classes: int, side: int = 32):
    batch = load_pickle(path)
    for key in ("data", label_key):
        if key not in batch:
            raise DataError(f"{path}: no '{key}' entry (has: {', '.join(sorted(batch))})")
    data = np.asarray(batch["data"])
    labels = np.asarray(batch[label_key], dtype=np.int64)
    per_image = 3 * side * side
    if data.ndim != 2 or data.shape[1] != per_image:
        raise DataError(
            f"{path}: expected {per_image} values per image (3 x {side} x {side}), got array of shape {data.shape}"
        )
    if data.dtype != np.uint8:
        raise DataError(f"{path}: expected uint8 pixels, got {data.dtype}")
    if labels.shape != (data.shape[0],):
        raise DataError(f"{path}: {data.shape[0]} images but {labels.shape[0]} labels")
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        raise DataError(
            f"{path}: labels must lie in 0..{num_classes - 1}, found {labels.min()}..{labels.max()}"
        )
    # Each row is the red plane, then green, then blue, each row-major.
    images = data.reshape(-1, 3, side, side).transpose(0, 2, 3, 1)
    return np.ascontiguousarray(images), labels


CIFAR10_LAYOUT = {
    "folder": "cifar-10-batches-py",
    "train": [f"data_batch_{i}" for i in range(1, 6)],
    "test": ["test_batch"],
    "meta": "batches.meta",
    "names_key": "label_names",
    "label_key": "labels",
}


def parse_cifar(extracted: str | os.PathLike, layout: dict = CIFAR10_LAYOUT):
    """Read extracted CIFAR python batches into (train, test, class names)."""
    folder = Path(extracted) / layout["folder"]
    needed = [layout["meta"], *layout["train"], *layout["test"]]
    missing = [name for name in needed if not (folder / name).is_file()]
    if missing:
        raise DataError(f"{folder}: the archive lacks {', '.join(missing)}")
    meta = load_pickle(folder / layout["meta"])
    if layout["names_key"] not in meta:
        raise DataError(f"{folder / layout['meta']}: no '{layout['names_key']}' entry")
    classes = [n.decode() if isinstance(n, bytes) else str(n) for n in meta[layout["names_key"]]]
    parts = {}
    for part in ("train", "test"):
        batches = [
            _cifar_batch(folder / name, layout["label_key"], len(classes)) for name in layout[part]
        ]
        parts[part] = (
            np.concatenate([b[0] for b in batches]),
            np.concatenate([b[1] for b in batches]),
        )
    return parts["train"], parts["test"], classes


def cifar100_layout(labels: str) -> dict:
    """CIFAR-100 read with its `labels`: fine (100 classes) or coarse (20 superclasses)."""
    if labels not in ("fine", "coarse"):
        raise ValueError(f"CIFAR-100 labels are fine or coarse, not {labels!r}")
    return {
        "folder": "cifar-100-python",
        "train": ["train"],
        "test": ["test"],
        "meta": "meta",
        "names_key": f"{labels}_label_names",
        "label_key": f"{labels}_labels",
    }


def prepare_cifar(archive: str | os.PathLike, out_dir: str | os.PathLike, layout: dict = CIFAR10_LAYOUT) -> None:
    """Extract an official CIFAR archive to a scratch folder, parse it, write the prepared files."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".extract-", dir=out_dir) as scratch:
        safe_extract(archive, scratch)
        train, test, classes = parse_cifar(scratch, layout)
    write_prepared(out_dir, train, test, classes)




def prepare_cifar10(downloads: dict, settings: dict, out_dir) -> None:
    prepare_cifar(downloads[CIFAR10_FILES[0]], out_dir, CIFAR10_LAYOUT)


def prepare_cifar100(downloads: dict, settings: dict, out_dir) -> None:
    prepare_cifar(downloads[CIFAR100_FILES[0]], out_dir, cifar100_layout(settings["labels"]))
