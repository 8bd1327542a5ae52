"""Default values have one home, the schema: code called without a resolved
config (tests, benchmarks, a user's script) reads them from
cnncompare.plan.defaults, and no default is written again in the code."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch
import yaml

from cnncompare.data.splits import make_split
from cnncompare.plan.config import SCHEMA_PATH
from cnncompare.plan.defaults import PERFORMANCE, RUNS_PER_GPU, schema_default
from cnncompare.train.devices import Performance
from conftest import REPO


def schema_performance() -> dict:
    """The performance block's defaults as the schema file writes them."""
    schema = yaml.safe_load(SCHEMA_PATH.read_text())
    properties = schema["properties"]["performance"]["properties"]
    return {key: node["default"] for key, node in properties.items()}


def test_the_constants_are_the_schemas_defaults():
    assert dict(PERFORMANCE) == schema_performance()
    assert RUNS_PER_GPU == schema_performance()["runs_per_gpu"]
    assert schema_default("splits") == {"val_fraction": 0.1, "seed": 0}
    # A copy each time: a caller that changes it changes no one else's default.
    schema_default("splits")["seed"] = 5
    assert schema_default("splits")["seed"] == 0
    with pytest.raises(TypeError):
        PERFORMANCE["precision"] = "bf16"


def test_performance_not_given_takes_the_schemas_defaults():
    cpu = torch.device("cpu")
    defaults = {key: value for key, value in schema_performance().items() if key != "runs_per_gpu"}
    assert Performance.resolve({}, cpu) == Performance.resolve(defaults, cpu)
    assert Performance.resolve({"compile": True}, cpu).compile is True


# Where runs_per_gpu's default used to be written again: `.get("runs_per_gpu", 1)`
# in the scripts, `runs_per_gpu: int = 1` in the train wing's functions.
REPEATED_DEFAULT = re.compile(r"""runs_per_gpu["']?\s*(:\s*int\s*)?[=,]\s*\d""")


def test_runs_per_gpu_default_is_written_only_in_the_schema():
    sources = [*(REPO / "workflow" / "scripts").rglob("*.py"), *(REPO / "workflow" / "rules").glob("*.smk"),
               REPO / "config.yaml"]
    written = [f"{path.relative_to(REPO)}:{n}: {line.strip()}" for path in sources
               for n, line in enumerate(path.read_text().splitlines(), 1)
               if REPEATED_DEFAULT.search(line) or re.match(r"\s*runs_per_gpu:\s*\d", line)]
    assert not written, "\n".join(written)


def test_the_two_split_needs_no_settings_and_the_three_split_says_what_it_needs():
    labels = np.arange(40) % 4
    assert make_split("two", labels, labels[:8])["val"][0] == "test"
    with pytest.raises(ValueError, match="val_fraction and seed"):
        make_split("three", labels, labels[:8])
