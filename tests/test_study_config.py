"""config.yaml writes only what the study sets differently from the schema,
the one home of default values; and slimming it to that changed nothing: the
study, the demo and the sweep resolve exactly as the full config of commit
2d229fe (124 settings, 80 of them repeating a default) resolved."""

from __future__ import annotations

import copy
import dataclasses
import json
import subprocess

import pytest
import yaml
from snakemake.utils import update_config

from cnncompare.plan.config import ConfigError, resolve_config
from cnncompare.plan.plan import make_plan
from conftest import REPO

# The last commit whose config.yaml wrote every setting out, defaults included.
FULL_CONFIG_COMMIT = "2d229fe"


def study() -> dict:
    return yaml.safe_load((REPO / "config.yaml").read_text())


def full_study() -> dict:
    try:
        text = subprocess.run(["git", "-C", str(REPO), "show", f"{FULL_CONFIG_COMMIT}:config.yaml"],
                              capture_output=True, text=True, check=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        pytest.skip(f"no git history with commit {FULL_CONFIG_COMMIT} here")
    return yaml.safe_load(text)


def merged(config: dict, overlay: str | None) -> dict:
    """config.yaml with an overlay given by --configfile, merged key by key as Snakemake merges it."""
    config = copy.deepcopy(config)
    if overlay is not None:
        update_config(config, yaml.safe_load((REPO / overlay).read_text()))
    return config


def leaf_paths(value: dict, path=()):
    """Key paths of every setting written (a list is one setting)."""
    for key, sub in value.items():
        if isinstance(sub, dict) and sub:
            yield from leaf_paths(sub, (*path, key))
        else:
            yield (*path, key)


def without(config: dict, path: tuple) -> dict:
    config = copy.deepcopy(config)
    parent = config
    for key in path[:-1]:
        parent = parent[key]
    del parent[path[-1]]
    return config


@pytest.mark.parametrize("overlay", [None, ".test/demo.yaml", ".test/sweep.yaml"])
def test_the_slim_config_resolves_exactly_as_the_full_one(overlay):
    before, after = merged(full_study(), overlay), merged(study(), overlay)
    old, new = resolve_config(before), resolve_config(after)
    assert new == old
    # Every type too (1 is not 1.0 in a param's repr), key order aside: params are key-sorted.
    assert json.dumps(new, sort_keys=True) == json.dumps(old, sort_keys=True)
    # The plan built on it: image sizes settled, weights, sweeps, and warnings (which
    # depend on the keys a user wrote, not only on the values). Each Model's
    # `written` keys differ by design (config.yaml writes fewer), nothing else may.
    slim, full = make_plan(after), make_plan(before)
    assert slim.warnings == full.warnings
    assert without_written(slim) == without_written(full)


def without_written(plan):
    models = {name: dataclasses.replace(model, written=frozenset()) for name, model in plan.models.items()}
    return dataclasses.replace(plan, models=models)


def test_config_yaml_repeats_no_default():
    """Each setting it writes changes the resolved config: leaving any one out
    would give another study (or an invalid one)."""
    config = study()
    resolved = resolve_config(config)
    repeated = []
    for path in leaf_paths(config):
        try:
            same = resolve_config(without(config, path)) == resolved
        except ConfigError:
            same = False
        if same:
            repeated.append(".".join(path))
    assert not repeated, f"config.yaml repeats the schema's defaults of: {', '.join(repeated)}"
