"""A 1,000-run sweep (bench/workflow_timing.many_runs_config, the one `make bench`
times) plans every job, and render_report's outputs do not grow with the runs:
a file per run among one job's outputs made every invocation, a no-op
included, slow in the number of runs (91 s for this grid's no-op). The times
themselves are `make bench`'s figures, not a test's."""

from __future__ import annotations

import re
import sys

import pytest

from conftest import REPO, planned_jobs, snakemake, write_config

sys.path.insert(0, str(REPO / "bench"))
import workflow_timing  # noqa: E402

pytestmark = pytest.mark.workflow


def test_a_1000_run_grid_plans_every_run_and_a_report_of_seven_outputs(tmp_path):
    overrides = workflow_timing.many_runs_config()
    runs = workflow_timing.grid_runs(overrides)
    assert runs == 1000
    configfile = write_config(tmp_path / "grid.yaml", overrides)
    # The second --configfile names both files: the overrides over the default config.
    proc = snakemake(tmp_path, configfile, "--configfile", str(REPO / "config.yaml"), str(configfile), "--dry-run")
    log = proc.stdout + proc.stderr
    jobs = planned_jobs(log)
    assert jobs["train_model"] == jobs["evaluate_model"] == runs
    assert jobs["render_report"] == 1
    block = re.search(r"^rule render_report:\n(.*?)\n\n", log, re.M | re.S).group(1)
    # Each output as the plan prints it, without its flag: "results/report.html (update)".
    outputs = [o.split(" (")[0] for o in re.search(r"^\s+output: (.*)$", block, re.M).group(1).split(", ")]
    # report.html, the 4 comparison figures, and one folder of each kind of run figure.
    assert len(outputs) == 7, outputs
    assert sorted(o for o in outputs if not o.endswith((".svg", ".html"))) == \
        ["results/figures/confusion", "results/figures/curves"], outputs
