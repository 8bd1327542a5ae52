"""Writing files so that a crash never leaves a half-written one behind.

Every writer goes to a temporary name in the target's own folder (so the final
rename stays on one file system and is atomic) and renames on success only. A
full disk (or quota) fails the write naming the file system, and the previous
file of that name stays as it was.

JSON is written strictly (RFC 8259): a float that is not finite (a diverged
run's loss) becomes null, as jq and browsers refuse NaN and Infinity.
"""

from __future__ import annotations

import contextlib
import csv
import errno
import glob
import json
import math
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
    tmp = _temporary_beside(target)
    try:
        try:
            yield tmp
        except OSError as exc:
            if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                # The new message says it all: the chained errors (torch's) would only blur it.
                raise _no_space(exc, target) from None
            raise
        # mkstemp makes the file private (0600); give it the mode any new file
        # gets here, so data shared between users stays readable.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def _temporary_beside(target: Path) -> Path:
    # Another run may remove the (empty) folder between the mkdir and mkstemp
    # (finished runs clear their empty checkpoint folders): make it again then.
    for attempt in range(5):
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
        except FileNotFoundError:
            if attempt == 4:
                raise
            continue
        os.close(fd)
        return Path(tmp)


def mount_point(path: str | os.PathLike) -> Path:
    """The mount point of the file system holding `path` (or its nearest existing parent)."""
    path = Path(os.path.abspath(path))
    while not path.exists():
        path = path.parent
    while not os.path.ismount(path):
        path = path.parent
    return path


def _no_space(exc: OSError, target: Path) -> OSError:
    """The error of a write that ran out of space, naming where it ran out."""
    what = "no space left" if exc.errno == errno.ENOSPC else "disk quota exceeded"
    kept = f"the previous {target.name} is kept" if target.exists() else f"no {target.name} was written"
    return OSError(
        exc.errno,
        f"{what} on {mount_point(target.parent)} while writing {target}; {kept}. "
        "Free some space there (or move the folder to a larger disk) and run again",
    )


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


def finite_or_none(data):
    """`data` with every float that is not finite replaced by None, at any depth."""
    if isinstance(data, float):
        return data if math.isfinite(data) else None
    if isinstance(data, dict):
        return {k: finite_or_none(v) for k, v in data.items()}
    if isinstance(data, (list, tuple)):
        return [finite_or_none(v) for v in data]
    return data


def not_finite(data: dict) -> dict[str, str]:
    """{key: 'nan' | 'inf' | '-inf'} of the top-level floats of `data` that are not finite."""
    return {k: str(v) for k, v in data.items() if isinstance(v, float) and not math.isfinite(v)}


def write_json(path, data) -> None:
    """Strict JSON: NaN and infinities become null (callers record why, see not_finite)."""
    text = json.dumps(finite_or_none(data), indent=2, sort_keys=False, allow_nan=False)
    with atomic_path(path) as tmp:
        tmp.write_text(text + "\n")


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
