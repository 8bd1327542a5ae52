"""Data sets: download, safe extraction, parsing, and the prepared format.

Every data set ends as three files in `{data_dir}/{dataset}/`:
  train.npz, test.npz   images uint8 (N, H, W, 3) RGB HWC, labels int64 (N,)
  classes.json          the class names, index = label
"""

from __future__ import annotations

import hashlib
import logging
import os
import pickle
import tarfile
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np

from cnncompare.fileio import atomic_path, write_json, write_npz

log = logging.getLogger(__name__)


class DataError(RuntimeError):
    """A download, archive or data file is not what it must be."""


# --- download ------------------------------------------------------------------


def _human_bytes(n: float) -> str:
    if n < 1024:
        return f"{n:.0f} B"
    for unit in ("KB", "MB"):
        n /= 1024
        if n < 1024:
            return f"{n:.1f} {unit}"
    return f"{n / 1024:.1f} GB"


def download(url: str, target: str | os.PathLike, md5: str | None = None, chunk_bytes: int = 1 << 20,
             sha256_prefix: str | None = None) -> Path:
    """Fetch `url` into `target`, verifying its checksum on the way.

    The checksum is the full MD5 (data sets) or the leading hex digits of the
    SHA-256 (torch hub weights, whose file names carry them). The bytes go to a
    temporary name beside the target, which is renamed only once the checksum
    matches; on any failure nothing is left behind. Progress is logged about
    every 5% (or every 10 MB when the size is unknown).
    """
    if (md5 is None) == (sha256_prefix is None):
        raise ValueError("give exactly one of md5 and sha256_prefix")
    target = Path(target)
    algorithm, expected = ("MD5", md5) if md5 is not None else ("SHA-256", sha256_prefix)
    digest = hashlib.md5() if md5 is not None else hashlib.sha256()
    with atomic_path(target) as tmp:
        try:
            response = urllib.request.urlopen(url, timeout=60)
        except (urllib.error.URLError, OSError, ValueError) as exc:
            raise DataError(f"download of {url} failed: {exc}") from exc
        with response, open(tmp, "wb") as out:
            total = int(response.headers.get("Content-Length") or 0)
            done, next_report, start = 0, 0.0, time.monotonic()
            while True:
                try:
                    chunk = response.read(chunk_bytes)
                except OSError as exc:
                    raise DataError(f"download of {url} broke off after {done} bytes: {exc}") from exc
                if not chunk:
                    break
                out.write(chunk)
                digest.update(chunk)
                done += len(chunk)
                shown = done / total if total else done / (10 << 20)
                if shown >= next_report:
                    rate = done / max(time.monotonic() - start, 1e-9)
                    size = f" of {_human_bytes(total)} ({100 * done / total:.0f}%)" if total else ""
                    log.info("downloaded %s%s at %s/s", _human_bytes(done), size, _human_bytes(rate))
                    next_report = shown + (0.05 if total else 1.0)
        actual = digest.hexdigest()
        if not actual.startswith(expected.lower()):
            raise DataError(
                f"{algorithm} mismatch for {url}: expected {expected.lower()}, got {actual} "
                f"({_human_bytes(done)} read); the file was not kept"
            )
    log.info("saved %s (%s %s)", target, algorithm, actual)
    return target


# --- extraction ----------------------------------------------------------------


def _unsafe_reason(member: tarfile.TarInfo, root: Path) -> str | None:
    name = member.name
    if os.path.isabs(name) or name.startswith(("/", "\\")):
        return "an absolute path"
    dest = (root / name).resolve()
    if dest != root and root not in dest.parents:
        return "a path outside the target folder"
    # Links are refused outright: a chain of them can point outside in ways a
    # path check cannot see, and no data set archive needs one.
    if member.issym() or member.islnk():
        return f"a link (to {member.linkname!r})"
    if not (member.isfile() or member.isdir()):
        return "neither a file nor a folder"
    return None


def safe_extract(archive: str | os.PathLike, target: str | os.PathLike) -> Path:
    """Extract a tar archive into `target`, refusing it whole if any member would escape.

    All members are checked before anything is written, so a refused archive
    leaves the target untouched.
    """
    archive, target = Path(archive), Path(target)
    target.mkdir(parents=True, exist_ok=True)
    root = target.resolve()
    try:
        with tarfile.open(archive, "r:*") as tar:
            members = tar.getmembers()
            for member in members:
                reason = _unsafe_reason(member, root)
                if reason:
                    raise DataError(
                        f"refusing to extract {archive}: member {member.name!r} is {reason}"
                    )
            # The "data" filter repeats these checks inside the standard library.
            tar.extractall(target, members=members, filter="data")
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise DataError(f"cannot read archive {archive}: {exc}") from exc
    return target


# --- CIFAR python batches --------------------------------------------------------

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


def prepare_cifar(archive: str | os.PathLike, out_dir: str | os.PathLike) -> None:
    """Extract an official CIFAR archive to a scratch folder, parse it, write the prepared files."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".extract-", dir=out_dir) as scratch:
        safe_extract(archive, scratch)
        train, test, classes = parse_cifar(scratch)
    write_prepared(out_dir, train, test, classes)


# --- which preparation a data set gets ---------------------------------------------------

# Data sets that come as an archive, fetched by download_dataset; the others
# are built locally (digits, from scikit-learn).
ARCHIVE_DATASETS = {"cifar10": prepare_cifar}


def prepare_dataset(name: str, out_dir, archive=None, settings: dict | None = None) -> None:
    """Write the prepared files of data set `name` into out_dir."""
    if name in ARCHIVE_DATASETS:
        ARCHIVE_DATASETS[name](archive, out_dir)
    elif name == "digits":
        prepare_digits(out_dir, test_fraction=settings["test_fraction"], seed=settings["seed"])
    else:
        raise DataError(f"no preparation known for data set {name!r}")


# --- scikit-learn digits ------------------------------------------------------------


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


# --- the prepared format --------------------------------------------------------------


def write_prepared(out_dir, train, test, classes) -> None:
    out_dir = Path(out_dir)
    for name, (images, labels) in (("train", train), ("test", test)):
        assert images.dtype == np.uint8 and images.ndim == 4 and images.shape[3] == 3
        write_npz(out_dir / f"{name}.npz", images=images, labels=labels.astype(np.int64))
    write_json(out_dir / "classes.json", list(classes))
    log.info(
        "prepared %s: %d train and %d test images of %s, %d classes",
        out_dir, len(train[1]), len(test[1]), "x".join(map(str, train[0].shape[1:])), len(classes),
    )


def load_prepared(data_dir: str | os.PathLike, part: str):
    """(images, labels) of train.npz or test.npz."""
    with np.load(Path(data_dir) / f"{part}.npz", allow_pickle=False) as npz:
        return npz["images"], npz["labels"]
