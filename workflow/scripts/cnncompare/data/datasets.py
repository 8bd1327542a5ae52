"""Data sets: download, safe extraction, and the prepared format they all end in.

Every data set ends as four files in `{data_dir}/{dataset}/`:
  train.npz, test.npz   images uint8 (N, H, W, 3) RGB HWC, labels int64 (N,)
  classes.json          the class names, index = label
  prepared.json         checksums of the three, the source files, warnings
                        about the classes (cnncompare.data.checksums)

A data set whose classes cannot support a comparison is refused when it is
written (cnncompare.data.class_balance), and the prepared files are checked against
their recorded checksums whenever they are read.

Parsing each source format lives in cnncompare.data.formats, one module per format;
cnncompare.data.formats also says which files each format downloads.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import tarfile
import time
import urllib.error
import urllib.request
from pathlib import Path

# numpy (and the modules that need it) is imported where arrays are used: the plan
# (Snakemake's own process) imports this module (downloads run in it too) and needs no numpy.
from cnncompare.fileio import atomic_path, read_json, remove_leftovers, write_json, write_npz

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


# --- the prepared format --------------------------------------------------------------


def write_prepared(out_dir, train, test, classes, notes=()) -> dict:
    """Write train.npz, test.npz, classes.json and prepared.json; return the record.

    Refuses (DataError) a data set that cannot support a comparison, before
    writing anything. The class warnings and the format's `notes` (e.g. how
    16-bit images were scaled) go to the log and into the record, from which
    every run copies them.
    """
    import numpy as np

    from cnncompare.data import checksums
    from cnncompare.data.class_balance import TooFewClasses, check_classes, class_counts

    out_dir = Path(out_dir)
    parts = {}
    for name, (images, labels) in (("train", train), ("test", test)):
        assert images.dtype == np.uint8 and images.ndim == 4 and images.shape[3] == 3
        parts[name] = (images, np.asarray(labels).astype(np.int64))
    classes = [str(c) for c in classes]
    try:
        warnings = check_classes(parts["train"][1], parts["test"][1], classes) + list(notes)
    except TooFewClasses as exc:
        raise DataError(f"data set {out_dir.name} cannot be compared on: {exc}") from None
    for warning in warnings:
        log.warning("%s: %s", out_dir.name, warning)
    files = {}
    for name, (images, labels) in parts.items():
        write_npz(out_dir / f"{name}.npz", images=images, labels=labels)
        files[f"{name}.npz"] = checksums.arrays_sha256(images, labels)
    write_json(out_dir / "classes.json", classes)
    files["classes.json"] = checksums.classes_sha256(classes)
    counts = {
        part: dict(zip(classes, class_counts(labels, len(classes)).tolist())) for part, (_, labels) in parts.items()
    }
    record = checksums.write_record(out_dir, files, warnings, counts)
    log.info(
        "prepared %s: %d train and %d test images of %s, %d classes; SHA-256 %s",
        out_dir, len(parts["train"][1]), len(parts["test"][1]), "x".join(map(str, train[0].shape[1:])),
        len(classes), record["sha256"],
    )
    return record


def remove_scratch(out_dir) -> None:
    """Delete what a preparation killed mid-way left in out_dir: its hidden
    scratch folders (.extract-*) and temporary files of the prepared files.
    Only one preparation of a data set runs at a time (Snakemake's job)."""
    from cnncompare.data import checksums

    out_dir = Path(out_dir)
    if not out_dir.is_dir():
        return
    for scratch in sorted(out_dir.glob(".extract-*")):
        shutil.rmtree(scratch, ignore_errors=True)
        log.info("removed %s, left by a preparation that was interrupted", scratch)
    for name in (*checksums.PREPARED_FILES, checksums.RECORD):
        for leftover in remove_leftovers(out_dir / name):
            log.info("removed %s, left by a preparation that was interrupted", leftover)


def load_prepared(data_dir: str | os.PathLike, part: str):
    """(images, labels) of train.npz or test.npz, checked against the SHA-256
    that preparation recorded (a ChecksumError names the file and both)."""
    import numpy as np

    from cnncompare.data import checksums

    name = f"{part}.npz"
    with np.load(Path(data_dir) / name, allow_pickle=False) as npz:
        images, labels = npz["images"], npz["labels"]
    checksums.verify(data_dir, name, checksums.arrays_sha256(images, labels))
    return images, labels


def load_classes(data_dir: str | os.PathLike) -> list[str]:
    """The class names of classes.json, checked against the recorded SHA-256."""
    from cnncompare.data import checksums

    classes = read_json(Path(data_dir) / "classes.json")
    checksums.verify(data_dir, "classes.json", checksums.classes_sha256(classes))
    return classes
