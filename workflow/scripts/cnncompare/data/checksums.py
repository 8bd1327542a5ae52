"""Checksums of data, checked whenever data is used, not only when fetched.

- A downloaded file is checked against its MD5 in the config by
  download_dataset, and again by prepare_dataset before it parses the file: a
  file replaced by hand under {data_dir}/downloads/ is never trusted.
- prepare_dataset records, in {data_dir}/{dataset}/prepared.json, a SHA-256 of
  the content of each prepared file (the arrays' dtype, shape and bytes, and
  the class names; not the .npz container, whose layout is numpy's) and one
  SHA-256 over the three that identifies the prepared data. train_model and
  evaluate_model check each file they read against it, and every run records
  it (the `data` key of train.json and metrics.json).
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np

from cnncompare.fileio import read_json, write_json

RECORD = "prepared.json"
PREPARED_FILES = ("train.npz", "test.npz", "classes.json")


class ChecksumError(RuntimeError):
    """A file is not the one that was checked or recorded."""


def md5_of_file(path: str | os.PathLike, chunk_bytes: int = 1 << 20) -> str:
    digest = hashlib.md5()
    with open(path, "rb") as fh:
        while chunk := fh.read(chunk_bytes):
            digest.update(chunk)
    return digest.hexdigest()


def verify_downloads(downloads: dict, expected: dict, dataset: str) -> list[dict]:
    """Check each downloaded file against its MD5 in the config; return the
    sources to record, [{"file": name, "md5": md5}], in `downloads`' order."""
    sources = []
    for name, path in downloads.items():
        actual, wanted = md5_of_file(path), expected[name].lower()
        if actual != wanted:
            raise ChecksumError(
                f"{path} is not the file the config names: its MD5 is {actual}, but the config "
                f"(datasets.{dataset}.md5) expects {wanted} (the file was replaced, or put there by hand). "
                f"Delete it and run again to download it anew; or, to use this file, give it as the "
                f"data set's url (a file:// path works) and its MD5, {actual}, as md5"
            )
        sources.append({"file": name, "md5": actual})
    return sources


def arrays_sha256(*arrays: np.ndarray) -> str:
    """SHA-256 of arrays' content: each one's dtype, shape and bytes (C order)."""
    digest = hashlib.sha256()
    for array in arrays:
        array = np.ascontiguousarray(array)
        digest.update(f"{array.dtype.str}{array.shape}".encode())
        digest.update(array.reshape(-1).view(np.uint8))
    return digest.hexdigest()


def classes_sha256(classes: list[str]) -> str:
    return hashlib.sha256(json.dumps(list(classes), ensure_ascii=False).encode()).hexdigest()


def combined_sha256(files: dict[str, str]) -> str:
    """The one checksum that identifies the prepared data: over each file's, in a fixed order."""
    text = "".join(f"{name} {files[name]}\n" for name in PREPARED_FILES)
    return hashlib.sha256(text.encode()).hexdigest()


def write_record(out_dir, files: dict[str, str], warnings: list[str], counts: dict, sources=()) -> dict:
    record = {
        "sha256": combined_sha256(files),
        "files": files,
        "sources": list(sources),
        "warnings": list(warnings),
        "class_counts": counts,
    }
    write_json(Path(out_dir) / RECORD, record)
    return record


def add_sources(out_dir, sources: list[dict]) -> None:
    """Record the source files (and their checked MD5s) a data set was prepared from."""
    record = read_record(out_dir)
    record["sources"] = list(sources)
    write_json(Path(out_dir) / RECORD, record)


def read_record(data_dir) -> dict:
    path = Path(data_dir) / RECORD
    if not path.is_file():
        raise ChecksumError(
            f"{path} is missing: it records the checksums of the prepared data, so the data cannot be "
            f"checked. Prepare it again: delete {Path(data_dir)} and run the workflow again"
        )
    return read_json(path)


def verify(data_dir, name: str, actual: str) -> None:
    """Fail unless `actual` is the checksum preparation recorded for file `name` of data_dir."""
    record = read_record(data_dir)
    expected = record["files"].get(name)
    if actual != expected:
        path = Path(data_dir) / name
        raise ChecksumError(
            f"{path} is not the prepared data recorded in {Path(data_dir) / RECORD}: its content has "
            f"SHA-256 {actual}, the record says {expected}. It was changed after preparation; delete "
            f"{Path(data_dir)} and run the workflow again to prepare it anew"
        )


def run_record(data_dir) -> dict:
    """The `data` key of a run's train.json and metrics.json: which prepared
    data it used, the files it came from, and what preparation warned about."""
    record = read_record(data_dir)
    return {"sha256": record["sha256"], "sources": record["sources"], "warnings": record["warnings"]}
