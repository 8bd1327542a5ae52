"""Shared state has one writer: one results folder, one Snakemake invocation
(cnncompare/plan/writer_lock.py), and a data_dir shared by checkouts is never
prepared again by one of them (workflow/rules/data.smk).

The unit tests take the lock in processes of their own; the workflow tests run
the real Snakefile on a copy of the shared finished run (conftest's
`finished`)."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import REPO, SNAKEMAKE, planned_jobs, snakemake, write_config

sys.path.insert(0, str(REPO / "workflow" / "scripts"))
from cnncompare.plan.writer_lock import LOCK_NAME, LockedError, WriterLock, read_holder  # noqa: E402

HOLD = """
import sys, time
sys.path.insert(0, {scripts!r})
from cnncompare.plan.writer_lock import WriterLock
WriterLock({results!r}).acquire()
print("held", flush=True)
time.sleep(60)
"""


def _hold_in_another_process(results: Path, cwd: Path) -> subprocess.Popen:
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD.format(scripts=str(REPO / "workflow" / "scripts"), results=str(results))],
        cwd=cwd, stdout=subprocess.PIPE, text=True,
    )
    assert proc.stdout.readline().strip() == "held"
    return proc


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_a_second_writer_is_refused_naming_the_holder(tmp_path):
    elsewhere = tmp_path / "another-folder"
    elsewhere.mkdir()
    holder = _hold_in_another_process(tmp_path / "results", elsewhere)
    try:
        with pytest.raises(LockedError) as refused:
            WriterLock(str(tmp_path / "results")).acquire()
        message = str(refused.value)
        for detail in (f"pid {holder.pid}", f"host {socket.gethostname()}", f"working folder {elsewhere}",
                       "command: ", "started 20"):
            assert detail in message, message
        assert message.startswith(f"results_dir: {tmp_path / 'results'} is being written by another")
    finally:
        holder.kill()
        holder.wait()


def test_a_stale_lock_of_a_dead_process_is_taken_over_with_a_notice(tmp_path):
    results = tmp_path / "results"
    results.mkdir()
    stale = {"host": socket.gethostname(), "pid": _dead_pid(), "started": "then", "working_folder": "/x",
             "command": "snakemake", "token": "old"}
    (results / LOCK_NAME).write_text(json.dumps(stale))
    lock = WriterLock(str(results))
    notices = lock.acquire()
    assert len(notices) == 1 and "took over a stale lock" in notices[0] and f"pid {stale['pid']}" in notices[0]
    assert read_holder(results / LOCK_NAME)["pid"] == os.getpid()
    lock.release()
    assert not (results / LOCK_NAME).exists()


def test_a_lock_copied_with_its_folder_or_of_a_reused_pid_is_taken_over(tmp_path):
    results = tmp_path / "results"
    results.mkdir()
    holder = _hold_in_another_process(tmp_path / "original", tmp_path)
    try:
        # A live process, but its lock names the folder it was copied from.
        (results / LOCK_NAME).write_text((tmp_path / "original" / LOCK_NAME).read_text())
        lock = WriterLock(str(results))
        notices = lock.acquire()
        assert "which names another folder" in notices[0] and str(tmp_path / "original") in notices[0]
        lock.release()
        # A live pid that another process got since: its start time differs.
        reused = json.loads((tmp_path / "original" / LOCK_NAME).read_text())
        reused.update(results_dir=str(results.resolve()), process_start="1")
        (results / LOCK_NAME).write_text(json.dumps(reused))
        assert "took over a stale lock" in lock.acquire()[0]
        lock.release()
    finally:
        holder.kill()
        holder.wait()


def test_a_lock_of_another_host_is_never_taken_over(tmp_path):
    results = tmp_path / "results"
    results.mkdir()
    other = {"host": "another-node", "pid": _dead_pid(), "started": "then", "working_folder": "/x",
             "command": "snakemake", "token": "theirs"}
    (results / LOCK_NAME).write_text(json.dumps(other))
    with pytest.raises(LockedError, match="runs on another host, which cannot be checked from here"):
        WriterLock(str(results)).acquire()
    assert read_holder(results / LOCK_NAME) == other


def test_release_removes_only_its_own_lock(tmp_path):
    results = tmp_path / "results"
    mine = WriterLock(str(results))
    mine.acquire()
    # Someone deleted our lock by hand and another invocation took it: ours goes, theirs stays.
    (results / LOCK_NAME).unlink()
    theirs = WriterLock(str(results))
    theirs.acquire()
    mine.release()
    assert read_holder(results / LOCK_NAME)["token"] == theirs.record["token"]
    theirs.release()
    assert not (results / LOCK_NAME).exists()


# --- through Snakemake -------------------------------------------------------------------


def _copy_of_finished(finished, dest: Path) -> tuple[Path, Path]:
    """A working folder whose results_dir is a copy of the finished run's (times kept) and whose
    data_dir is the finished run's own. Returns (working folder, config file)."""
    dest.mkdir()
    shutil.copytree(finished["workdir"] / "results", dest / "results", symlinks=True)
    config = {**finished["config"], "results_dir": str(dest / "results")}
    return dest, write_config(dest / "config.yaml", config)


@pytest.mark.workflow
def test_a_second_invocation_on_one_results_dir_is_refused_and_a_dry_run_is_not(finished, tmp_path):
    first, configfile = _copy_of_finished(finished, tmp_path / "first")
    second = tmp_path / "second"  # another working folder, so Snakemake's own lock does not see the first
    second.mkdir()
    lock = first / "results" / LOCK_NAME
    cmd = [SNAKEMAKE, "--directory", str(first), "--configfile", str(configfile), "--cores", "1",
           "--resources", "gpu=1", "-R", "aggregate_results"]
    running = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.time() + 120
        while not lock.exists() and running.poll() is None and time.time() < deadline:
            time.sleep(0.2)
        assert lock.exists(), "the first invocation took no lock"
        summary_before = (first / "results" / "summary.csv").stat().st_mtime_ns
        started = time.time()
        refused = snakemake(second, configfile, "-R", "aggregate_results", check=False)
        took = time.time() - started
        print(f"refused after {took:.1f} s:", refused.stderr[refused.stderr.find("results_dir:"):][:600])
        assert refused.returncode != 0
        assert f"is being written by another Snakemake invocation: pid {running.pid}" in refused.stderr
        assert f"working folder {first}" in refused.stderr
        assert "Finished jobid" not in refused.stderr
        # A dry run writes nothing: it is not refused.
        dry = snakemake(second, configfile, "-n", "-R", "aggregate_results", check=False)
        assert dry.returncode == 0, dry.stderr[-3000:]
    finally:
        out, _ = running.communicate(timeout=300)
    assert running.returncode == 0, out[-3000:]
    assert (first / "results" / "summary.csv").stat().st_mtime_ns > summary_before
    assert not lock.exists(), "the lock outlived its invocation"

    # A lock left by a killed invocation (its pid dead on this host) is taken over.
    lock.write_text(json.dumps({"host": socket.gethostname(), "pid": _dead_pid(), "started": "then",
                                "working_folder": str(first), "command": "snakemake", "token": "old"}))
    taken = snakemake(second, configfile, "-R", "render_report")
    line = next(line for line in taken.stderr.splitlines() if "took over a stale lock" in line)
    print(line)
    assert not lock.exists()


@pytest.mark.workflow
def test_a_second_checkout_sharing_data_dir_plans_no_prepare_job(finished, tmp_path):
    """A fresh checkout's files are all newer than data another checkout prepared, and
    Snakemake re-runs a script: rule whose script is newer than its outputs: it planned
    prepare_dataset again ("Code has changed since last execution"), and every run on that data
    in every checkout would have trained again. skip_script_times_under (common.smk) stops
    that for the jobs whose outputs lie in data_dir."""
    checkout = tmp_path / "checkout"
    listed = subprocess.run(["git", "-C", str(REPO), "ls-files", "-co", "--exclude-standard"],
                            capture_output=True, text=True, check=True).stdout.split()
    for name in listed:
        if (REPO / name).is_file() and not name.startswith(("tests/", "docs/", "bench/")):
            (checkout / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(REPO / name, checkout / name)  # new files, as a clone makes them
    prepared = Path(finished["config"]["data_dir"]) / "cifar10" / "train.npz"
    assert (checkout / "workflow/scripts/prepare_dataset.py").stat().st_mtime > prepared.stat().st_mtime
    work = tmp_path / "study"
    work.mkdir()
    config = {**finished["config"], "results_dir": str(work / "results")}  # its own results, shared data
    configfile = write_config(work / "config.yaml", config)
    plan = snakemake(work, configfile, "-n", snakefile=checkout / "Snakefile")
    jobs = planned_jobs(plan.stdout)
    print(jobs)
    assert jobs.get("train_model") == 2  # its own runs: the plan is not empty
    assert not {"download_dataset", "prepare_dataset", "make_split"} & set(jobs), plan.stdout[-3000:]


def test_snakemake_locks_of_a_killed_holder_are_removed_and_no_others(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    results = tmp_path / "results"
    results.mkdir()
    locks = tmp_path / ".snakemake" / "locks"
    locks.mkdir(parents=True)
    (locks / "0.output.lock").write_text(f"{results}/summary.csv\n")
    (locks / "0.input.lock").write_text(f"{results}/runs/a/metrics.json\n")
    (locks / "1.output.lock").write_text(f"{tmp_path}/other-results/summary.csv\n")  # another invocation's
    (locks / "1.input.lock").write_text("")
    lock = WriterLock(str(results))
    dead = {"results_dir": str(results.resolve()), "host": socket.gethostname(), "pid": _dead_pid(),
            "started": "then", "working_folder": str(tmp_path), "command": "snakemake", "token": "old"}
    (results / LOCK_NAME).write_text(json.dumps({**dead, "working_folder": "/elsewhere"}))
    assert lock.clear_locks_of_dead_holder(locks) == []  # killed in another folder: not its locks
    (results / LOCK_NAME).write_text(json.dumps(dead))
    os.utime(results / LOCK_NAME, (time.time() - 60, time.time() - 60))
    assert lock.clear_locks_of_dead_holder(locks) == []  # newer than the dead holder's lock: a live one's
    os.utime(results / LOCK_NAME)
    told = lock.clear_locks_of_dead_holder(locks)
    assert "removed Snakemake's locks (0.output.lock)" in told[0]
    assert sorted(p.name for p in locks.iterdir()) == ["1.input.lock", "1.output.lock"]


def test_backups_a_killed_invocation_left_are_put_back_or_removed(tmp_path):
    from cnncompare.plan.notices import clear_killed_backups

    backups = tmp_path / ".snakemake" / "backups"
    report, figures = tmp_path / "results" / "report.html", tmp_path / "results" / "figures" / "curves"
    kept = backups / report.relative_to("/")
    kept.parent.mkdir(parents=True)
    kept.write_text("the last good report")
    folder = backups / figures.relative_to("/")
    (folder / "a").mkdir(parents=True)  # a folder's copy made the next job's copytree fail
    figures.mkdir(parents=True)
    (figures / "new.svg").write_text("<svg/>")
    told = clear_killed_backups(backups, [str(report), str(figures)])
    assert report.read_text() == "the last good report" and len(told) == 1 and "put back" in told[0]
    assert (figures / "new.svg").exists() and not (figures / "a").exists()
    assert not kept.exists() and not folder.exists()
