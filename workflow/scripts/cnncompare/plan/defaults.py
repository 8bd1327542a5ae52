"""The schema's default values, for code that is called without a resolved config.

workflow/schemas/config.schema.yaml is the one home of every default: the plan
fills them into the config, and a job receives the result through its params
and resources. A function that is also called directly (by a test, a benchmark,
a user's script) and needs a default for a setting it was not given takes it
from here, read from the schema, so no default value is written twice.

Reading the schema takes PyYAML and jsonschema, the plan's software: the train
wing imports this module only when a caller left a value out, which a workflow
job never does (its environment, torch.yaml, holds neither).
"""

from __future__ import annotations

import copy
import functools
from types import MappingProxyType

from cnncompare.plan.config import config_problems


@functools.cache
def _defaults() -> dict:
    # An empty config, completed: every default. Its problems (compare.models
    # names custom_cnn, and no models block exists) do not concern the defaults.
    resolved, _problems = config_problems({})
    return resolved


def schema_default(*path: str):
    """The default of the setting at `path` ("performance", "runs_per_gpu"), a copy."""
    value = _defaults()
    for key in path:
        value = value[key]
    return copy.deepcopy(value)


# The performance block (precision, channels_last, compile, deterministic, runs_per_gpu).
PERFORMANCE = MappingProxyType(schema_default("performance"))
# How many jobs share one GPU: performance.runs_per_gpu.
RUNS_PER_GPU = PERFORMANCE["runs_per_gpu"]
