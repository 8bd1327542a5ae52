"""The rules' input functions carry their signature (common.smk, read_signatures_once):
Snakemake reads a function's signature at each call unless one is stored on it,
three times per job and function, a tenth of the 1,000-run sweep's no-op re-run.
The workflow is loaded in this process (Snakemake's API, no subprocess, no DAG)."""

from __future__ import annotations

import inspect

import pytest
from snakemake.api import SnakemakeApi
from snakemake.common import FUNC_OVERWRITE_PARAMS_ATTR, get_function_params
from snakemake.settings.types import ConfigSettings, OutputSettings, ResourceSettings

from conftest import REPO

# The rules with a job per run or per network: their functions are called once per job.
PER_RUN_RULES = ("train_model", "evaluate_model", "measure_inference")


@pytest.fixture(scope="module")
def rules(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("input-functions")
    with SnakemakeApi(OutputSettings()) as api:
        workflow = api.workflow(
            resource_settings=ResourceSettings(cores=1),
            config_settings=ConfigSettings(configfiles=[REPO / "config.yaml"]),
            snakefile=REPO / "Snakefile", workdir=workdir,
        )._workflow
        yield {name: workflow.get_rule(name) for name in PER_RUN_RULES}


def functions(rule) -> list:
    """The callables among a rule's input and params (an unpack()ed one included)."""
    found = []
    for item in [*rule.input, *rule.params]:
        # An unpack()ed one is an _IOFile whose AnnotatedString holds it (as Rule.apply_input_function unwraps it).
        function = getattr(getattr(item, "_file", item), "callable", item)
        if inspect.isfunction(function) and function not in found:
            found.append(function)
    return found


def test_every_input_function_of_a_per_run_rule_carries_its_own_signature(rules):
    for name, rule in rules.items():
        assert functions(rule), f"{name}: no input function found; the test reads nothing"
        for function in functions(rule):
            stored = getattr(function, FUNC_OVERWRITE_PARAMS_ATTR, None)
            assert stored is not None, f"{name}: {function.__name__} has no stored signature"
            # What Snakemake reads is the function's real signature, so no job changes.
            assert get_function_params(function) is stored
            assert list(stored) == list(inspect.signature(function).parameters), function.__name__
