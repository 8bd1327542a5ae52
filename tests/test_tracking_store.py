"""The MLflow store checked in Snakemake's process, before any job, without
mlflow (cnncompare/plan/tracking_store.py): the study's default identity and
the tracking URI's scheme, server and database."""

from __future__ import annotations

import http.server
import socket
import threading

import pytest

from cnncompare.plan.tracking_store import CONFIG_KEY, shown, store_problems, study_name, tracking_uri


def closed_port() -> int:
    """A local port nothing listens on (bound, then closed)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_two_results_folders_of_one_name_get_two_study_names(tmp_path):
    first, second = tmp_path / "alice" / "results", tmp_path / "bob" / "results"
    names = study_name(str(first)), study_name(str(second))
    assert names[0] != names[1]
    assert all(name.startswith("cnncompare-results-") and len(name) == len("cnncompare-results-") + 8 for name in names)
    # The same folder, however it is written, is the same study.
    assert study_name(str(first)) == study_name(f"{tmp_path}/alice/../alice/results/")


def test_the_config_key_wins_over_the_environment_variable():
    assert tracking_uri("http://a:5000", {"MLFLOW_TRACKING_URI": "http://b:5000"}) == ("http://a:5000", CONFIG_KEY)
    uri, source = tracking_uri("", {"MLFLOW_TRACKING_URI": "http://b:5000"})
    assert uri == "http://b:5000" and "MLFLOW_TRACKING_URI" in source
    assert tracking_uri("", {}) == ("", CONFIG_KEY)


@pytest.mark.parametrize("uri, phrase", [
    ("htp://mlflow.example.org:5000", "unknown scheme 'htp'"),
    ("localhost:5000", "a server is written http://localhost:5000"),
    ("mlflow.example.org", "neither a URI of a known scheme"),
    ("http://", "names no host"),
    ("http://[::1", "not a valid URI"),
    ("sqlite://", "an SQLite store is a file"),
    ("sqlite:////no/such/folder/mlflow.db", "the folder /no/such/folder of the database does not exist"),
])
def test_a_malformed_uri_is_refused_naming_the_key(uri, phrase):
    problems = store_problems(uri)
    assert len(problems) == 1 and problems[0].startswith(f"mlflow.tracking_uri: {uri}: ")
    assert phrase in problems[0]


def test_an_unreachable_server_or_database_is_refused_within_seconds():
    port = closed_port()
    (problem,) = store_problems(f"http://127.0.0.1:{port}", "mlflow.tracking_uri", timeout=3)
    assert f"mlflow.tracking_uri: http://127.0.0.1:{port}: no MLflow server answered within 3 s" in problem
    print(problem)
    # A database's password is never shown.
    (problem,) = store_problems(f"postgresql://me:secret@127.0.0.1:{port}/mlflow", timeout=3)
    assert "secret" not in problem and "me:***@127.0.0.1" in problem and "no database answered" in problem
    assert shown("http://host:5000") == "http://host:5000"


def test_a_server_that_answers_and_local_stores_pass(tmp_path):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), http.server.SimpleHTTPRequestHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        # Any answer counts, a 404 included: a server behind a login may refuse /health.
        assert store_problems(f"http://127.0.0.1:{server.server_address[1]}") == []
    finally:
        server.shutdown()
    assert store_problems("") == []
    assert store_problems(f"sqlite:///{tmp_path / 'team.db'}") == []
    assert store_problems(str(tmp_path / "mlruns")) == []
    assert store_problems(f"file://{tmp_path / 'mlruns'}") == []
