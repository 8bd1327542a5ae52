"""cnncompare.plan.notices: what the workflow tells at plan time and after an
invocation, from the Plan, without Snakemake (the workflow tests run it for real:
test_lost_files.py, test_gpu_sharing.py, test_report.py's partial report)."""

from __future__ import annotations

import copy
from types import SimpleNamespace

import yaml

from cnncompare.plan import notices
from cnncompare.plan.plan import make_plan
from conftest import REPO

STUDY = yaml.safe_load((REPO / "config.yaml").read_text())


def plan_in(tmp_path, **performance):
    config = copy.deepcopy(STUDY)
    config.update(results_dir=str(tmp_path / "results"), data_dir=str(tmp_path / "data"))
    config["compare"].update(models=["custom_cnn"], seeds=[0], splits=["three", "two"])
    config["performance"] = {**config.get("performance", {}), **performance}
    return make_plan(config)


class Resources(dict):
    """Snakemake's global resources, as share_gpus reads them: .get(name).value."""

    def get(self, name):
        return SimpleNamespace(value=self[name])


def test_the_plan_lines_are_its_warnings_then_its_size(tmp_path):
    plan = plan_in(tmp_path)
    assert notices.plan_lines(plan) == [*(f"warning: {w}" for w in plan.warnings), plan.run_count]
    assert plan.run_count.startswith("2 runs: custom_cnn 2 ")


def test_shared_gpus_become_gpu_slots_and_are_told(tmp_path, capsys):
    resources = Resources(gpu=2)
    notices.share_gpus(plan_in(tmp_path, runs_per_gpu=3), resources, is_main_process=True)
    assert resources == {"gpu": None, "gpu_slot": 6}
    assert "cnncompare: performance.runs_per_gpu: 3: up to 6 training or evaluation jobs at once on 2 GPUs " \
           "(--resources gpu=2)" in capsys.readouterr().err
    untouched = Resources(gpu=2)
    notices.share_gpus(plan_in(tmp_path, runs_per_gpu=1), untouched, is_main_process=True)
    assert untouched == {"gpu": 2} and capsys.readouterr().err == ""


def test_the_gpu_sharing_line_is_true_for_every_count(tmp_path, capsys):
    for gpus in (0, 1, 2):
        resources = Resources(gpu=gpus)
        notices.share_gpus(plan_in(tmp_path, runs_per_gpu=2), resources, is_main_process=True)
        said = capsys.readouterr().err
        assert resources["gpu_slot"] == 2 * gpus
        if gpus == 0:
            assert "--resources gpu=0 gives no GPU, so no training or evaluation job" in said, said
            assert "up to 0" not in said and "0 GPUs" not in said
        else:
            assert f"up to {2 * gpus} training or evaluation jobs at once on {gpus} GPU" in said, said


def test_files_gone_from_finished_runs_and_prepared_data_are_told(tmp_path):
    plan = plan_in(tmp_path)
    finished = plan.runs[0]
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "summary.csv").write_text(
        "dataset,split,model,seed\n" + ",".join(str(v) for v in finished.wildcards.values()) + "\n")
    pattern = plan.run_pattern
    job_files = {"evaluate_model": [pattern.file("metrics.json"), pattern.file("evaluate.log")]}
    lines = notices.lost_files(plan, job_files)
    assert len(lines) == 1 and "2 files of runs in" in lines[0]
    assert f"snakemake -R {finished.file('metrics.json')}" in lines[0]
    # With its metrics back, the run counts as finished on data that is gone.
    for name in ("metrics.json", "evaluate.log"):
        path = tmp_path / finished.file(name)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("{}")
    lines = notices.lost_files(plan, job_files)
    assert len(lines) == 1 and lines[0].startswith(f"the prepared data of {finished.dataset} is missing")


def test_a_partial_report_goes_once_every_run_has_results(tmp_path):
    plan = plan_in(tmp_path)
    partial = tmp_path / notices.partial_report_path(plan)
    partial.parent.mkdir(parents=True)
    partial.write_text("partial")
    notices.drop_stale_partial_report(plan)
    assert partial.exists()
    for run in plan.runs:
        path = tmp_path / run.file("metrics.json")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("{}")
    notices.drop_stale_partial_report(plan)
    assert not partial.exists()
