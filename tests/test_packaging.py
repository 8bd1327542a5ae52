"""The rules' conda environments, requirements.txt, requirements-cluster.txt and
requirements-track.txt describe the same software: each env pinned within their
ranges, torch only where training runs, mlflow only where the runs are exported, and every rule's code importing nothing its
environment lacks."""

from __future__ import annotations

import ast
import importlib.metadata
import itertools
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO = Path(__file__).resolve().parents[1]
ENVS = REPO / "workflow" / "envs"
RULES = REPO / "workflow" / "rules"
# In requirements.txt but in no job's environment: the config check (jsonschema)
# and `snakemake --report` (pygments) run in Snakemake's own process; the rest
# are development tools.
SCHEDULER_ONLY = {"jsonschema", "pygments", "pytest", "pytest-xdist", "snakefmt"}
TORCH = {"torch", "torchvision"}
MLFLOW = {"mlflow"}
WANDB = {"wandb"}
# Which environment each kind of rule runs in.
RULE_ENVS = {
    "prepare_dataset": "light.yaml", "make_split": "light.yaml",
    "aggregate_results": "light.yaml", "render_report": "light.yaml",
    "train_model": "torch.yaml", "evaluate_model": "torch.yaml", "measure_inference": "torch.yaml",
    "mlflow": "track.yaml", "wandb": "wandb.yaml",
    # A halved sweep's (workflow/rules/halving.smk).
    "train_rung": "torch.yaml", "promote_rung": "light.yaml", "summarize_halving": "light.yaml", "tag_pruned_runs": "torch.yaml",
}


def requirements(name: str) -> dict[str, Requirement]:
    reqs = {}
    for line in (REPO / name).read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            req = Requirement(line)
            reqs[canonicalize_name(req.name)] = req
    return reqs


def all_requirements() -> dict[str, Requirement]:
    """requirements.txt and the optional requirements-track.txt (the rules' software)."""
    return {**requirements("requirements.txt"), **requirements("requirements-track.txt")}


def env_file(name: str) -> dict:
    return yaml.safe_load((ENVS / name).read_text())


def env_pins(name: str) -> dict[str, str]:
    """{package: version} of an env's pip section; options (an index URL) are skipped."""
    env = env_file(name)
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d)
    pins = {}
    for line in pip:
        if line.startswith("-"):
            continue
        package, _, version = line.partition("==")
        assert version, f"{name}: {line}: every package is pinned with =="
        pins[canonicalize_name(package)] = version
    return pins


def conda_python(name: str) -> str:
    return next(d for d in env_file(name)["dependencies"] if isinstance(d, str) and d.startswith("python="))


def rule_blocks() -> dict[str, dict]:
    """{rule: {'conda': ..., 'script': ...}} from workflow/rules/*.smk (snakefmt's layout)."""
    found = {}
    for smk in sorted(RULES.glob("*.smk")):
        text = smk.read_text()
        for match in re.finditer(r"^(?:rule|checkpoint) (\w+):\n((?:[ \t]+.*\n|\n)*)", text, re.MULTILINE):
            body = match.group(2)
            block = {}
            for key in ("conda", "script"):
                value = re.search(rf"^    {key}:\n\s+\"([^\"]+)\"", body, re.MULTILINE)
                if value:
                    block[key] = (smk.parent / value.group(1)).resolve()
            found[match.group(1)] = block
    return found


def test_the_envs_are_the_ones_the_rules_name_and_nothing_else():
    assert sorted(p.name for p in ENVS.glob("*.yaml")) == sorted(set(RULE_ENVS.values()))


@pytest.mark.parametrize("env", sorted(set(RULE_ENVS.values())))
def test_each_env_pins_only_requirements_within_their_ranges(env):
    reqs = all_requirements()
    for package, version in env_pins(env).items():
        assert package in reqs, f"{env} pins {package}, which requirements.txt and requirements-track.txt lack"
        assert reqs[package].specifier.contains(version), f"{env}: {package}=={version} is outside {reqs[package]}"


def test_every_runtime_requirement_is_in_an_env_and_the_envs_agree():
    light, torch_env = env_pins("light.yaml"), env_pins("torch.yaml")
    runtime = set(requirements("requirements.txt")) - SCHEDULER_ONLY
    missing = runtime - set(light) - set(torch_env)
    assert not missing, f"in requirements.txt but in no env of workflow/envs/: {sorted(missing)}"
    assert TORCH <= set(torch_env) and not TORCH & set(light), "torch belongs to torch.yaml only"
    track, wandb = env_pins("track.yaml"), env_pins("wandb.yaml")
    lacking = set(requirements("requirements-track.txt")) - set(track) - set(wandb)
    assert not lacking, f"requirements-track.txt's {sorted(lacking)} are in no tracker's env"
    assert MLFLOW <= set(track) and not MLFLOW & (set(light) | set(torch_env) | set(wandb)), \
        "mlflow belongs to track.yaml only"
    assert WANDB <= set(wandb) and not WANDB & (set(light) | set(torch_env) | set(track)), \
        "wandb belongs to wandb.yaml only"
    pins = {"light.yaml": light, "torch.yaml": torch_env, "track.yaml": track, "wandb.yaml": wandb}
    for (name_a, a), (name_b, b) in itertools.combinations(pins.items(), 2):
        for package in set(a) & set(b):
            assert a[package] == b[package], f"{package} is pinned differently in {name_a} and {name_b}"
    assert conda_python("light.yaml") == conda_python("torch.yaml") == conda_python("track.yaml") \
        == conda_python("wandb.yaml")


def test_the_slurm_plugin_is_a_cluster_extra():
    cluster = requirements("requirements-cluster.txt")
    assert set(cluster) == {"snakemake-executor-plugin-slurm"}
    assert not set(cluster) & set(requirements("requirements.txt"))
    for env in set(RULE_ENVS.values()):
        assert not set(cluster) & set(env_pins(env)), f"{env}: the plugin runs beside Snakemake, not in jobs"


def test_every_rule_with_a_script_runs_in_the_env_of_its_kind():
    blocks = {rule: block for rule, block in rule_blocks().items() if "script" in block}
    assert set(blocks) == set(RULE_ENVS), "a rule with a script: was added or renamed: give it an env here"
    for rule, block in blocks.items():
        assert block.get("conda") == ENVS / RULE_ENVS[rule], f"rule {rule}: conda: should be {RULE_ENVS[rule]}"


# What a rule's script loads of our package, and every non-standard module that
# code imports (at the top or inside a function), as distribution names.
LOADED = """
import ast, importlib, json, sys
from pathlib import Path
script = Path(sys.argv[1])
sys.path.insert(0, str(script.parent))
blocked = set(json.loads(sys.argv[2]))

class Blocked:  # the requirements the env lacks cannot be imported, as in the env
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in blocked:
            raise ImportError(f"{name} is not in this rule's environment")

sys.meta_path.insert(0, Blocked())
tree = ast.parse(script.read_text())
for node in ast.walk(tree):
    if isinstance(node, ast.Import):
        for alias in node.names:
            importlib.import_module(alias.name)
    elif isinstance(node, ast.ImportFrom) and node.level == 0:
        importlib.import_module(node.module)
files = [str(script)] + [m.__file__ for k, m in sys.modules.items()
                         if k.split(".")[0] == "cnncompare" and getattr(m, "__file__", None)]
print(json.dumps(sorted(set(files))))
"""


def imported_top_names(files: list[str]) -> set[str]:
    names = set()
    for file in files:
        for node in ast.walk(ast.parse(Path(file).read_text())):
            if isinstance(node, ast.Import):
                names.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names.add(node.module.split(".")[0])
    return names - set(sys.stdlib_module_names) - {"cnncompare", "snakemake"}


@pytest.mark.slow
@pytest.mark.parametrize("rule", sorted(RULE_ENVS))
def test_a_rules_code_imports_nothing_its_env_lacks(rule):
    env = RULE_ENVS[rule]
    pins = set(env_pins(env))
    # The top-level modules of the requirements this env does not hold (torch,
    # torchvision for the light env), blocked while the script's imports load.
    top_modules = importlib.metadata.packages_distributions()
    absent = set(all_requirements()) - pins
    blocked = {module for module, dists in top_modules.items()
               if {canonicalize_name(d) for d in dists} & absent}
    script = rule_blocks()[rule]["script"]
    proc = subprocess.run([sys.executable, "-c", LOADED, str(script), json.dumps(sorted(blocked))],
                          capture_output=True, text=True)
    assert proc.returncode == 0, f"rule {rule} in {env}:\n{proc.stderr[-3000:]}"
    files = json.loads(proc.stdout)
    # Lazy imports too: a function of a loaded module may import at call time.
    # A module several distributions install (mlflow: mlflow, mlflow-skinny,
    # mlflow-tracing) is there when the env pins one of them.
    lacking = []
    for name in imported_top_names(files):
        dists = top_modules.get(name)
        assert dists, f"rule {rule}: {name} is imported but belongs to no installed distribution"
        if not {canonicalize_name(d) for d in dists} & pins:
            lacking.append(name)
    assert not lacking, f"rule {rule}'s code imports {sorted(lacking)}, which {env} lacks"
