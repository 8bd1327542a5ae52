"""One results folder, one writer: a lock file in results_dir.

Snakemake's own lock (.snakemake/locks) lives in its working directory, so two
invocations from two folders (or a module's folder and the clone) on one
results_dir both write: they train the same runs and overwrite each other's
logs and tables. The Snakefile's onstart hook (notices.smk) takes this lock in
Snakemake's main process once a run that writes starts: onstart is not called
for --dry-run, --lint, --summary, --dag, --list-*, --report or a plan with
nothing to do, and SLURM jobs run with --no-hooks, so the lock is the
submitting process's, never a job's. onsuccess, onerror and atexit release it.

The lock is taken with os.link of a complete temporary file, which fails when
the lock exists: no two processes both take it, and no reader sees half a file.
A lock whose process is dead on this host (a SIGKILL, a crashed node's reboot)
is stale: it is taken over with a notice. A lock of another host cannot be
checked from here and is never taken over.

Importable without torch or numpy: it runs in Snakemake's own process.
"""

from __future__ import annotations

import atexit
import json
import os
import socket
import sys
import tempfile
import time
import uuid
from pathlib import Path

LOCK_NAME = ".cnncompare-writer.lock"


class LockedError(RuntimeError):
    """Another invocation writes to the results folder."""


def lock_path(results_dir: str) -> Path:
    return Path(results_dir) / LOCK_NAME


def _process_start(pid) -> str | None:
    """The start time of a process in clock ticks since boot (Linux), telling a
    reused pid from the lock's own process; None where /proc has no answer."""
    try:
        stat = Path(f"/proc/{int(pid)}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[19]
    except (OSError, ValueError, IndexError):
        return None


def _holder_record(results_dir: Path) -> dict:
    return {
        "results_dir": str(results_dir),
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "process_start": _process_start(os.getpid()),
        "started": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "working_folder": os.getcwd(),
        "command": " ".join(sys.argv),
        "token": uuid.uuid4().hex,
    }


def read_holder(path: Path) -> dict | None:
    """The lock's record; None when there is no lock. An unreadable lock (written
    by hand) is told as such rather than taken over."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        return None
    try:
        record = json.loads(text)
        if isinstance(record, dict):
            return record
    except ValueError:
        pass
    return {"unreadable": text[:200]}


def _alive(pid, process_start=None) -> bool:
    if process_start is not None and _process_start(pid) not in (None, process_start):
        return False  # the pid was given to another process since
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    except (TypeError, ValueError):
        return True  # not a pid we can check: assume it lives
    return True


def describe(holder: dict) -> str:
    if "unreadable" in holder:
        return f"an unreadable lock ({holder['unreadable']!r})"
    return (
        f"pid {holder.get('pid')} on host {holder.get('host')}, started {holder.get('started')}, "
        f"working folder {holder.get('working_folder')}, command: {holder.get('command')}"
    )


class WriterLock:
    """The lock of one results folder, as this process holds it (or not yet)."""

    def __init__(self, results_dir: str):
        self.path = lock_path(results_dir)
        self.record: dict | None = None  # ours, once taken

    def acquire(self) -> list[str]:
        """Take the lock, or raise LockedError naming its holder. Returns the
        notices to tell (a stale lock taken over). Taking it again is a no-op."""
        if self.record is not None:
            return []
        notices = []
        self.path.parent.mkdir(parents=True, exist_ok=True)
        record = _holder_record(self.path.parent.resolve())
        for _ in range(3):
            if self._link(record):
                self.record = record
                atexit.register(self.release)
                return notices
            holder = read_holder(self.path)
            if holder is None:  # released between our link and our read: try again
                continue
            if self._copied(holder):
                notices.append(
                    f"results_dir: took over the lock {self.path}, which names another folder "
                    f"({holder['results_dir']}): the results folder was copied or moved while in use"
                )
                self._remove_if_unchanged(holder)
                continue
            if self._stale(holder):
                notices.append(
                    f"results_dir: took over a stale lock {self.path} of {describe(holder)}: "
                    "that process is no longer running (killed?); its unfinished jobs run again"
                )
                self._remove_if_unchanged(holder)
                continue
            raise LockedError(self._refusal(holder))
        raise LockedError(self._refusal(read_holder(self.path) or {"unreadable": ""}))

    def _link(self, record: dict) -> bool:
        fd, tmp = tempfile.mkstemp(prefix=f"{LOCK_NAME}.", suffix=".part", dir=self.path.parent)
        try:
            with os.fdopen(fd, "w") as fh:
                json.dump(record, fh, indent=1)
            os.chmod(tmp, 0o644)  # another user sharing the folder reads who holds it
            os.link(tmp, self.path)
            return True
        except FileExistsError:
            return False
        finally:
            os.unlink(tmp)

    def _copied(self, holder: dict) -> bool:
        return holder.get("results_dir") not in (None, str(self.path.parent.resolve()))

    @staticmethod
    def _stale(holder: dict) -> bool:
        return (
            "unreadable" not in holder
            and holder.get("host") == socket.gethostname()
            and not _alive(holder.get("pid"), holder.get("process_start"))
        )

    def _remove_if_unchanged(self, holder: dict) -> None:
        # Another process may have taken the stale lock over first: remove only what we read.
        if read_holder(self.path) == holder:
            self.path.unlink(missing_ok=True)

    def _refusal(self, holder: dict) -> str:
        here = "" if holder.get("host") == socket.gethostname() else (
            " It runs on another host, which cannot be checked from here."
        )
        return (
            f"results_dir: {self.path.parent} is being written by another Snakemake invocation: "
            f"{describe(holder)}.{here} Two invocations on one results folder would train the same "
            f"runs and overwrite each other's files, so this one stops before any job. Wait for it to "
            f"finish (or stop it), or give this one another results_dir. If that process is surely "
            f"gone, delete {self.path}"
        )

    def clear_locks_of_dead_holder(self, snakemake_locks: Path) -> list[str]:
        """Snakemake's own locks (.snakemake/locks of this working folder) left by a killed
        holder of this lock: Snakemake refuses every later run until `--unlock`. Only lock
        files naming an output in this results folder are removed, and only when this lock's
        holder is dead on this host and worked in this folder: no live invocation can hold
        them (it would hold this lock). Called before Snakemake checks its locks (at parse
        time, in the main process). Returns the lines to tell."""
        holder = read_holder(self.path)
        if (holder is None or not self._stale(holder) or self._copied(holder)
                or holder.get("working_folder") != os.getcwd()):
            return []
        results = str(self.path.parent.resolve())
        try:
            taken = self.path.stat().st_mtime
        except OSError:
            return []
        removed = []
        for outputs in sorted(Path(snakemake_locks).glob("*.output.lock")):
            try:
                # The dead holder took Snakemake's locks before this one (onstart comes after):
                # a newer lock file is a live invocation's that has not reached onstart yet.
                if outputs.stat().st_mtime > taken:
                    continue
                names = outputs.read_text().splitlines()
            except OSError:
                continue
            if any(os.path.abspath(n).startswith(results + os.sep) for n in names):
                inputs = outputs.with_name(outputs.name.replace(".output.", ".input."))
                outputs.unlink(missing_ok=True)
                inputs.unlink(missing_ok=True)
                removed.append(outputs.name)
        if not removed:
            return []
        return [f"removed Snakemake's locks ({', '.join(removed)}) left in {snakemake_locks} by the killed "
                f"invocation {describe(holder)}"]

    def release(self) -> None:
        """Remove the lock if it is still ours (never another invocation's)."""
        if self.record is None:
            return
        holder = read_holder(self.path)
        if holder is not None and holder.get("token") == self.record["token"]:
            self.path.unlink(missing_ok=True)
        self.record = None
