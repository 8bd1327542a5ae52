"""The MLflow store a study exports to, seen from Snakemake's own process:
the study's default identity there, and the store's URI checked before any job.

Imports no mlflow (the plan wing stays light): the URI is checked by its
form, and a server or database by one connection within REACH_SECONDS, so
that a wrong or unreachable `mlflow.tracking_uri` is told at once, naming the
key, not minutes later inside the export job.
"""

from __future__ import annotations

import functools
import hashlib
import socket
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

# Schemes MLflow's own tracking stores answer (a database URI may name a driver: postgresql+psycopg2).
SCHEMES = ("http", "https", "sqlite", "file", "postgresql", "mysql", "mssql", "databricks")
DATABASE_PORTS = {"postgresql": 5432, "mysql": 3306, "mssql": 1433}
REACH_SECONDS = 5.0
CONFIG_KEY = "mlflow.tracking_uri"
ENV_KEY = "MLFLOW_TRACKING_URI"


def study_name(results_dir: str) -> str:
    """The default MLflow experiment (and W&B project) of the study in results_dir:
    readable, and unique to the folder, so that two studies whose folders share a
    name (`results`, the default) never share one: cnncompare-<folder name>-<8 hex
    digits of the SHA-256 of the folder's absolute path>."""
    path = Path(results_dir).expanduser().resolve()
    return f"cnncompare-{path.name}-{hashlib.sha256(str(path).encode()).hexdigest()[:8]}"


def tracking_uri(configured: str, environ) -> tuple[str, str]:
    """(URI, where it came from): mlflow.tracking_uri, else the MLFLOW_TRACKING_URI
    variable, else '' (the local store under results_dir)."""
    if configured:
        return configured, CONFIG_KEY
    if environ.get(ENV_KEY):
        return environ[ENV_KEY], f"the {ENV_KEY} environment variable ({CONFIG_KEY} is empty)"
    return "", CONFIG_KEY


def shown(uri: str) -> str:
    """The URI without a password (postgresql://user:secret@host -> user:***@host)."""
    try:
        parts = urlsplit(uri)
    except ValueError:  # malformed: said so by store_problems
        return uri
    if parts.password:
        return uri.replace(f":{parts.password}@", ":***@", 1)
    return uri


def store_problems(uri: str, source: str = CONFIG_KEY, timeout: float = REACH_SECONDS) -> list[str]:
    """What stops an export to `uri`, each naming `source` (the key or variable
    that gave it); [] when the store can be used. '' is the local store."""
    if not uri:
        return []
    problem = _problem(uri, timeout)
    return [f"{source}: {shown(uri)}: {problem}"] if problem else []


# Once per URI in a process: Snakemake may ask for the export's params more than once.
@functools.lru_cache(maxsize=None)
def _problem(uri: str, timeout: float) -> str | None:
    try:
        parts = urlsplit(uri)
        port = parts.port
    except ValueError as error:
        return f"not a valid URI ({error})"
    scheme = parts.scheme.lower().split("+")[0]
    if not parts.scheme:
        if Path(uri).expanduser().is_absolute():
            return None  # a folder: MLflow's file store
        return (f"neither a URI of a known scheme ({', '.join(SCHEMES)}) nor an absolute folder; "
                f"a server is http://host:port, a local store sqlite:////absolute/path/mlflow.db")
    if scheme not in SCHEMES:
        hint = f" (a server is written http://{uri})" if parts.scheme and parts.path.isdigit() else ""
        return f"unknown scheme {parts.scheme!r}{hint}; MLflow stores take {', '.join(SCHEMES)}"
    if scheme in ("http", "https"):
        if not parts.hostname:
            return f"names no host; write {scheme}://host:port"
        return _http_problem(uri, timeout)
    if scheme == "sqlite":
        return _sqlite_problem(uri)
    if scheme in DATABASE_PORTS:
        if not parts.hostname:
            return f"names no database host; write {scheme}://user@host:port/database"
        return _tcp_problem(parts.hostname, port or DATABASE_PORTS[scheme], timeout)
    return None


def _http_problem(uri: str, timeout: float) -> str | None:
    """A server that answers at all is reachable (an MLflow server answers /health;
    one behind a login may answer 401)."""
    try:
        with urllib.request.urlopen(uri.rstrip("/") + "/health", timeout=timeout):
            return None
    except urllib.error.HTTPError:
        return None
    except (urllib.error.URLError, OSError, ValueError) as error:
        reason = getattr(error, "reason", error)
        return (f"no MLflow server answered within {timeout:g} s ({reason}); start it, or check the "
                f"host and port (`mlflow server --host 0.0.0.0 --port 5000` serves one)")


def _tcp_problem(host: str, port: int, timeout: float) -> str | None:
    try:
        socket.create_connection((host, port), timeout=timeout).close()
        return None
    except OSError as error:
        return f"no database answered at {host}:{port} within {timeout:g} s ({error})"


def _sqlite_problem(uri: str) -> str | None:
    if not uri.startswith("sqlite:///") or uri == "sqlite:///":
        return ("an SQLite store is a file: sqlite:////absolute/path/mlflow.db "
                "(an in-memory sqlite:// store would keep nothing)")
    path = Path(uri[len("sqlite:///"):]).expanduser()
    if path.is_dir():
        return f"{path} is a folder; name the database file in it (e.g. {path / 'mlflow.db'})"
    if not path.parent.is_dir():
        return f"the folder {path.parent} of the database does not exist; create it, or name another"
    return None
