"""An MLflow store on this machine's disk (SQLite or a file store), made safe to share.

- One export at a time: `store_lock` holds an exclusive file lock beside the
  store (mlflow.db.lock) for the whole export. MLflow creates and migrates a
  store's tables when a client first opens it; two processes doing that at
  once broke each other and left the store half-migrated.
- A store left half-migrated (by an older cnncompare, without the lock) is
  repaired when it holds nothing (no run, no experiment): it is made anew.
  One that holds runs is left as it is, and the export stops, saying what
  is wrong and what to do.
- Artifact links: a store's artifacts live beside it (mlruns/ next to
  mlflow.db), and MLflow records them by absolute path. When the folder is
  moved, `repoint_artifacts` rewrites the links that no longer lead anywhere
  to the same files beside the store.

Uses the standard library's sqlite3 only, before MLflow opens the store.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import sqlite3
from pathlib import Path
from urllib.parse import unquote, urlsplit

log = logging.getLogger("cnncompare.mlflow")

ARTIFACTS = "mlruns"  # a store's artifact folder, beside its database
LEFTOVER_PREFIX = "_alembic_tmp_"  # tables a SQLite migration makes and drops when it completes


class StoreError(RuntimeError):
    """The store cannot be used as it is; the message says why and what to do."""


def local_path(uri: str) -> Path | None:
    """The database file of a sqlite:/// URI, the folder of a file store, else None (a server)."""
    if uri.startswith("sqlite:///"):
        return Path(uri[len("sqlite:///"):]).expanduser().absolute()
    parts = urlsplit(uri)
    if parts.scheme == "file":
        return Path(unquote(parts.path)).expanduser().absolute()
    if not parts.scheme and uri:
        return Path(uri).expanduser().absolute()
    return None


def artifact_location(uri: str) -> str | None:
    """Where a new experiment of a SQLite store keeps its artifacts: beside the
    database, so the store is one folder that can be moved or shared whole
    (MLflow's own default is ./mlruns of whatever folder the export ran in)."""
    path = local_path(uri) if uri.startswith("sqlite:///") else None
    return (path.parent / ARTIFACTS).as_uri() if path else None


@contextlib.contextmanager
def store_lock(uri: str):
    """Hold the store's lock file (<store>.lock) while the body runs; a no-op for a server."""
    path = local_path(uri)
    if path is None:
        yield
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    lock = path.with_name(path.name + ".lock")
    with open(lock, "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log.info("waiting for another export to %s to finish (%s)", path, lock)
            fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _tables(db: sqlite3.Connection) -> set[str]:
    return {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


def _count(db: sqlite3.Connection, tables: set[str], table: str) -> int:
    return db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0] if table in tables else 0


def repair_half_migrated(uri: str) -> None:
    """Make anew a SQLite store that a broken migration left unusable and that
    holds nothing; stop, explaining, when it holds runs. Call under store_lock."""
    path = local_path(uri) if uri.startswith("sqlite:///") else None
    if path is None or not path.is_file() or path.stat().st_size == 0:
        return
    with contextlib.closing(sqlite3.connect(path)) as db:
        tables = _tables(db)
        leftovers = sorted(t for t in tables if t.startswith(LEFTOVER_PREFIX))
        versions = [row[0] for row in db.execute("SELECT version_num FROM alembic_version")] \
            if "alembic_version" in tables else []
        runs, experiments = _count(db, tables, "runs"), _count(db, tables, "experiments")
    if not leftovers and (versions or not tables):
        return
    what = (f"left half-migrated (revision {versions[0] if versions else 'none'}, leftover tables "
            f"{', '.join(leftovers) or 'none'}), as two exports creating it at once did before cnncompare "
            f"locked the store")
    if runs == 0 and experiments == 0:
        log.warning("%s was %s; it holds no run or experiment, so it is made anew", path, what)
        for suffix in ("", "-journal", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        return
    raise StoreError(
        f"the MLflow store {path} was {what}; it holds {runs} runs in {experiments} experiments, so it is "
        f"not touched. Copy it somewhere safe, then either delete it and export again (snakemake mlflow "
        f"puts every run of this study back), or repair it: drop the leftover tables "
        f"(sqlite3 {path} 'DROP TABLE {leftovers[0] if leftovers else '...'}') and run "
        f"`mlflow db upgrade sqlite:///{path}`"
    )


def repoint_artifacts(uri: str) -> int:
    """Rewrite the artifact links of a SQLite store whose folder was moved: a
    file:// link under a .../mlruns folder that no longer exists is pointed at
    mlruns/ beside the database, where the moved files are. Returns how many
    links were rewritten. Call under store_lock."""
    path = local_path(uri) if uri.startswith("sqlite:///") else None
    here = path.parent / ARTIFACTS if path else None
    if here is None or not path.is_file() or not here.is_dir():
        return 0
    with contextlib.closing(sqlite3.connect(path)) as db:
        tables = _tables(db)
        if not {"experiments", "runs"} <= tables:
            return 0
        links = [("experiments", "experiment_id", "artifact_location", *row)
                 for row in db.execute("SELECT experiment_id, artifact_location FROM experiments")]
        links += [("runs", "run_uuid", "artifact_uri", *row)
                  for row in db.execute("SELECT run_uuid, artifact_uri FROM runs")]
        changed = 0
        for table, key, column, ident, link in links:
            moved = _moved(link, here)
            if moved is not None:
                db.execute(f"UPDATE {table} SET {column} = ? WHERE {key} = ?", (moved, ident))
                changed += 1
        db.commit()
    if changed:
        log.info("%d artifact links of %s re-pointed to %s (the store was moved)", changed, path, here)
    return changed


def _moved(link: str | None, here: Path) -> str | None:
    """`link` re-pointed under `here`, when it is a file:// link into an
    mlruns folder that is gone; else None."""
    if not link or not link.startswith("file://"):
        return None
    old = Path(unquote(urlsplit(link).path))
    parts = old.parts
    if ARTIFACTS not in parts:
        return None
    cut = len(parts) - 1 - parts[::-1].index(ARTIFACTS)
    old_root = Path(*parts[:cut + 1])
    if old_root == here or old_root.exists():
        return None
    return here.joinpath(*parts[cut + 1:]).as_uri()
