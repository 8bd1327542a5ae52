"""Writing files so that a crash never leaves a half-written one behind.

Every writer goes to a temporary name in the target's own folder (so the final
rename stays on one file system and is atomic) and renames on success only.
"""

from __future__ import annotations

import contextlib
import csv
import glob
import json
import os
import tempfile
from pathlib import Path
from typing import Iterator

# numpy is imported where arrays are used: the plan (Snakemake's own process) imports
# this module and needs no numpy.


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside `target`; rename it onto `target` on success."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
    os.close(fd)
    tmp = Path(tmp)
    try:
        yield tmp
        # mkstemp makes the file private (0600); give it the mode any new file
        # gets here, so data shared between users stays readable.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def remove_leftovers(target: str | os.PathLike) -> list[Path]:
    """Delete the temporary files that writers of `target` killed mid-write left
    beside it. Nothing reads them (the rename never happened); they only take
    space, a checkpoint's as much as the model and its optimizer state. Only for
    a target no other process is writing at the time."""
    target = Path(target)
    leftovers = sorted(target.parent.glob(f".{glob.escape(target.name)}.*.part"))
    for path in leftovers:
        path.unlink(missing_ok=True)
    return leftovers


def write_json(path, data) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2, sort_keys=False) + "\n")


def read_json(path):
    with open(path) as fh:
        return json.load(fh)


def write_npz(path, **arrays) -> None:
    import numpy as np

    with atomic_path(path) as tmp:
        # np.savez appends ".npz" to names without it; a file object avoids that.
        with open(tmp, "wb") as fh:
            np.savez(fh, **arrays)


def write_csv(path, rows: list[dict], columns: list[str]) -> None:
    with atomic_path(path) as tmp:
        with open(tmp, "w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=columns, extrasaction="raise")
            writer.writeheader()
            for row in rows:
                writer.writerow({k: _csv_cell(row.get(k)) for k in columns})


def _csv_cell(value):
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value)  # shortest text that reads back to the same float
    return value


def read_csv(path) -> list[dict]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))
