"""Every mistake of tests/bad_configs.py is refused by the plan, before any job, with a
message naming the key. The plan is built as the Snakefile builds it (make_plan on the config
as Snakemake reads it from YAML), without starting Snakemake; tests/test_workflow.py checks
once that such a message reaches the user through the real Snakefile."""

from __future__ import annotations

import pytest
import yaml

from bad_configs import BAD_CONFIGS
from cnncompare.plan.plan import PlanError, make_plan
from conftest import REPO, tiny_config, write_config


def plan_from_file(configfile, workdir):
    """make_plan as common.smk calls it, on the config Snakemake reads from `configfile`."""
    config = yaml.safe_load(configfile.read_text())
    return make_plan(config, command_line={}, config_files=[str(configfile)], workflow_dir=str(REPO), workdir=workdir)


@pytest.mark.parametrize("case", sorted(BAD_CONFIGS))
def test_bad_config_fails_before_any_job(tmp_path, cifar_archive, case):
    mutate, expected = BAD_CONFIGS[case]
    config = tiny_config(tmp_path, cifar_archive)
    mutate(config)
    with pytest.raises(PlanError) as error:
        plan_from_file(write_config(tmp_path / "bad.yaml", config), tmp_path)
    message = str(error.value)
    for text in expected:
        assert text in message, (text, message)
    # Planning made nothing: no folder to download, prepare or train into.
    assert not (tmp_path / "data").exists() and not (tmp_path / "results").exists()
    assert not list(tmp_path.glob("results*"))


def test_the_tiny_config_itself_plans(tmp_path, cifar_archive):
    """The cases above fail for their own mistake, not for one of the config they change."""
    plan = plan_from_file(write_config(tmp_path / "good.yaml", tiny_config(tmp_path, cifar_archive)), tmp_path)
    assert plan.warnings == () and plan.config["compare"]["models"] == ["custom_cnn"]
