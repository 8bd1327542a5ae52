"""Load, complete and check the workflow configuration.

The JSON schema under workflow/schemas/ is the single source of truth: it
validates, and its `default` values complete what the user left out. Every
problem is reported at once, each naming the key, before any job runs.

This module must stay importable without torch: the Snakefile imports it on
every invocation, a dry run included.
"""

from __future__ import annotations

import copy
import difflib
import math
import os
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from cnncompare import nested
from cnncompare.plan.arch_facts import unknown_arch_hint
from cnncompare.plan.archs import CUSTOM_ARCHS, is_known_arch
from cnncompare.plan import halving
from cnncompare.plan.sweeps import SweepError, select_problems, sweep_settings, variant_block, variant_name

SCHEMA_PATH = Path(__file__).resolve().parents[3] / "schemas" / "config.schema.yaml"


class ConfigError(ValueError):
    """The configuration is wrong; the message lists every problem found."""

    def __init__(self, problems: list[str]):
        self.problems = list(problems)
        super().__init__("invalid configuration:\n" + "\n".join(f"  - {p}" for p in self.problems))


def load_schema(path: Path = SCHEMA_PATH) -> dict:
    # libyaml's loader when PyYAML has it: the schema is read on every invocation, a no-op included.
    with open(path) as fh:
        return yaml.load(fh, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))


def resolve_config(config: dict, schema: dict | None = None, command_line: dict | None = None) -> dict:
    """Return a completed copy of `config`, or raise ConfigError.

    The input is not modified. Defaults are deep-copied at every place they
    are used, so no two models ever share one mutable default. `command_line`
    holds the values given with Snakemake's --config, so that a message can
    say where a value came from.
    """
    resolved, problems = config_problems(config, schema, command_line)
    if problems:
        raise ConfigError(problems)
    return resolved


def config_problems(config: dict, schema: dict | None = None, command_line: dict | None = None,
                    sweeps: dict | None = None) -> tuple[dict | None, list[str]]:
    """(completed copy of `config`, every problem found in it); the copy is None
    only when the config is not a mapping at all.

    Swept model blocks are expanded in the copy: each variant is a model block
    of its own, and compare.models names the variants in place of the block.
    Given a dict as `sweeps`, it receives {block: {"keys", "variants": {variant:
    its swept settings}}}."""
    schema = schema if schema is not None else load_schema()
    resolved = copy.deepcopy(config)
    if not isinstance(resolved, dict):
        return None, ["the configuration must be a mapping of keys to values"]
    schema, format_problems = _with_named_datasets(schema, resolved.get("datasets"))
    _fill_defaults(resolved, schema, schema)
    _expand_home(resolved)
    nonfinite = _nonfinite_numbers(resolved)
    schema_errors = [
        _describe(e, command_line or {}) for e in _schema_errors(resolved, schema)
        if tuple(e.absolute_path) not in nonfinite
    ]
    nonfinite_problems = [
        f"{_key_path(path)}: {value} is not a finite number" for path, value in nonfinite.items()
    ]
    problems = format_problems + nonfinite_problems + schema_errors + _semantic_problems(resolved)
    problems += _halving_problems(resolved)  # before the sweeps are expanded into variants
    expanded, sweep_problems = _expand_sweeps(resolved, schema, command_line or {})
    if sweeps is not None:
        sweeps.update(expanded)
    problems += sweep_problems + _run_count_problems(resolved, expanded)
    if not problems:
        problems += _epoch_count_problems(resolved, expanded)
    return resolved, problems


# --- values the schema cannot judge ----------------------------------------------


def _expand_home(config: dict) -> None:
    """`~` at the start of a folder means the home folder, as in a shell; left
    as it is, Snakemake would make a folder literally named `~`."""
    for key in ("results_dir", "data_dir", "weights_dir"):
        if isinstance(config.get(key), str):
            config[key] = os.path.expanduser(config[key])
    datasets = config.get("datasets")
    for block in datasets.values() if isinstance(datasets, dict) else ():
        for key in ("path", "train_path", "test_path"):
            if isinstance(block, dict) and isinstance(block.get(key), str):
                block[key] = os.path.expanduser(block[key])


def _nonfinite_numbers(value, path=()) -> dict[tuple, float]:
    """{key path: value} of every NaN or infinity (YAML's .nan, .inf) in the config:
    the schema's bounds let NaN through, as every comparison with it is false."""
    found = {}
    if isinstance(value, float) and not math.isfinite(value):
        found[path] = value
    elif isinstance(value, dict):
        for key, sub in value.items():
            found.update(_nonfinite_numbers(sub, (*path, key)))
    elif isinstance(value, list):
        for i, sub in enumerate(value):
            found.update(_nonfinite_numbers(sub, (*path, i)))
    return found


# --- data set blocks of any name -----------------------------------------------


def _with_named_datasets(schema: dict, datasets) -> tuple[dict, list[str]]:
    """The schema with a property for each data set block the schema does not
    name, pointing at the schema of the block's `format`, so that format's keys,
    defaults and checks apply to it under the user's name; and the problems of
    blocks whose format is missing or unknown."""
    if not isinstance(datasets, dict):
        return schema, []
    formats = schema["$defs"]["formats"]
    named = schema["properties"]["datasets"]["properties"]
    extra = {name: block for name, block in datasets.items() if name not in named and isinstance(block, dict)}
    if not extra:
        return schema, []
    schema = copy.deepcopy(schema)
    named = schema["properties"]["datasets"]["properties"]
    problems = []
    for name, block in extra.items():
        fmt = block.get("format")
        if fmt in formats:
            named[name] = {"$ref": f"#/$defs/formats/{fmt}"}
            continue
        if fmt is None:
            hint = difflib.get_close_matches(name, list(formats), n=1)
            suggestion = f" (did you mean '{hint[0]}'?)" if hint else ""
            problems.append(
                f"datasets.{name}: not a data set known by its name{suggestion}; a block of another "
                f"name needs format, one of: {', '.join(formats)}"
            )
        else:
            problems.append(f"datasets.{name}.format: {fmt!r} is not one of: {', '.join(formats)}")
        named[name] = {"type": "object"}  # told above; nothing more to check in it
    return schema, problems


# --- defaults ----------------------------------------------------------------


def _fill_defaults(value: dict, node: dict, root: dict) -> None:
    node = nested.deref(node, root)
    for key, sub in node.get("properties", {}).items():
        sub = nested.deref(sub, root)
        if "default" in sub:
            default = copy.deepcopy(sub["default"])
            if key not in value:
                value[key] = default
            elif isinstance(value[key], dict) and isinstance(default, dict):
                # A partly given block keeps the default's other keys.
                for dkey, dval in default.items():
                    value[key].setdefault(dkey, dval)
        if isinstance(value.get(key), dict):
            _fill_defaults(value[key], sub, root)
    extra = node.get("additionalProperties")
    if isinstance(extra, dict):
        for key, sub_value in value.items():
            if key not in node.get("properties", {}) and isinstance(sub_value, dict):
                _fill_defaults(sub_value, extra, root)


# --- schema errors, told in the user's terms ---------------------------------


def _key_path(path) -> str:
    parts = [str(p) if not isinstance(p, int) else f"[{p}]" for p in path]
    text = ".".join(parts).replace(".[", "[")
    return text or "(top level)"


def _looks_like_number(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    try:
        float(value)
    except ValueError:
        return False
    return True


def _given_on_command_line(path, command_line: dict) -> bool:
    node = command_line
    for part in path:
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and part < len(node):
            node = node[part]
        else:
            return False
    return True


def _describe(error: jsonschema.ValidationError, command_line: dict) -> str:
    where = _key_path(error.absolute_path)
    if (
        error.validator == "type"
        and isinstance(error.instance, str)
        and "string" not in error.validator_value
        and _given_on_command_line(error.absolute_path, command_line)
    ):
        expected = error.validator_value
        expected = " or ".join(expected) if isinstance(expected, list) else expected
        return (
            f"{where}: {error.instance!r} is text, not {'an' if expected == 'integer' else 'a'} {expected}: "
            f"Snakemake passes values nested in --config as text; put this one in a YAML file "
            f"and give it with --configfile"
        )
    if error.validator == "additionalProperties":
        allowed = sorted(error.schema.get("properties", {}))
        given = error.instance if isinstance(error.instance, dict) else {}
        unknown = [k for k in given if k not in allowed]
        lines = []
        for key in unknown:
            full = f"{where}.{key}" if error.absolute_path else key
            hint = difflib.get_close_matches(key, allowed, n=1)
            suggestion = f" (did you mean '{hint[0]}'?)" if hint else ""
            lines.append(
                f"{full}: unknown key{suggestion}; allowed keys: {', '.join(allowed)}"
            )
        return "\n  - ".join(lines)
    if error.validator == "type":
        expected = error.validator_value
        value = error.instance
        if expected == "number" and _looks_like_number(value) and "e" in value.lower():
            return (
                f"{where}: {value!r} is text, not a number: YAML reads numbers like 1e-3 "
                f"as strings; write it with a dot and a signed exponent, e.g. 1.0e-3"
            )
        if expected in ("number", "integer") and _looks_like_number(value):
            article = "an" if expected == "integer" else "a"
            return f"{where}: {value!r} is text, not a number; {article} {expected} is expected, written without quotes"
        return f"{where}: expected {expected}, got {type(value).__name__} {value!r}"
    if error.validator == "enum":
        choices = ", ".join(map(str, error.validator_value))
        return f"{where}: {error.instance!r} is not one of: {choices}"
    if error.validator == "const":
        hint = ""
        if error.absolute_path and error.absolute_path[-1] == "format":
            hint = f"; a block of another name can take format {error.instance!r}"
        return f"{where}: must be {error.validator_value!r}, not {error.instance!r}{hint}"
    if error.validator == "required":
        return f"{where}: {error.message}"
    if error.validator in ("minimum", "exclusiveMinimum", "maximum", "exclusiveMaximum"):
        ops = {
            "minimum": ">=",
            "exclusiveMinimum": ">",
            "maximum": "<=",
            "exclusiveMaximum": "<",
        }
        return f"{where}: {error.instance!r} must be {ops[error.validator]} {error.validator_value}"
    if error.validator == "oneOf":
        choices = " or ".join(_alternative(option) for option in error.validator_value)
        return f"{where}: {error.instance!r} is not valid; expected {choices}"
    if error.validator == "pattern":
        pattern_meaning = {
            "^(https?|file)://": "a URL starting with https://, http:// or file://",
            "^[0-9a-fA-F]{32}$": "an MD5 of 32 hexadecimal digits",
            "^[a-z0-9][a-z0-9_]*$": "a name of lower-case letters, digits and _",
        }
        meaning = pattern_meaning.get(error.validator_value, f"text matching {error.validator_value}")
        return f"{where}: {error.instance!r} is not {meaning}"
    return f"{where}: {error.message}"


# JSON Schema counts 2.0 as an integer; epochs, batch sizes and seeds must be true ints.
_STRICT_TYPES = jsonschema.Draft202012Validator.TYPE_CHECKER.redefine(
    "integer", lambda _checker, value: isinstance(value, int) and not isinstance(value, bool)
)
_Validator = jsonschema.validators.extend(jsonschema.Draft202012Validator, type_checker=_STRICT_TYPES)


def _alternative(option: dict) -> str:
    """One branch of a oneOf, in words: 'none, base' or 'an integer >= 1'."""
    if "enum" in option:
        return ", ".join(map(str, option["enum"]))
    text = {"integer": "an integer", "number": "a number", "string": "text"}.get(option.get("type"), str(option.get("type")))
    if "minimum" in option:
        text += f" >= {option['minimum']}"
    return text


def _schema_errors(config: dict, schema: dict) -> list[jsonschema.ValidationError]:
    validator = _Validator(schema)
    return sorted(validator.iter_errors(config), key=lambda e: list(map(str, e.absolute_path)))


# --- cross-key checks the schema cannot express ------------------------------


def _unknown_name(kind: str, where: str, name: str, known) -> str:
    known = sorted(known)
    hint = difflib.get_close_matches(name, known, n=1)
    suggestion = f" (did you mean '{hint[0]}'?)" if hint else ""
    return f"{where}: unknown {kind} '{name}'{suggestion}; known: {', '.join(known) or 'none'}"


def _mapping(value) -> dict:
    return value if isinstance(value, dict) else {}


def _names(value) -> list:
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


def _semantic_problems(config: dict) -> list[str]:
    """Names that must refer to something. Written to survive a config that
    already failed the schema, so that every mistake is reported in one go."""
    problems = []
    compare, datasets, models = (_mapping(config.get(k)) for k in ("compare", "datasets", "models"))
    compared = _names(compare.get("datasets"))
    for i, name in enumerate(compared):
        if name == "imagefolder" and name not in datasets:
            problems.append(
                f"compare.datasets[{i}]: imagefolder needs a block datasets.imagefolder with its "
                f"path (or train_path and test_path)"
            )
        elif name not in datasets:
            problems.append(_unknown_name("dataset", f"compare.datasets[{i}]", name, datasets))
    for name, block in datasets.items():
        problems += _dataset_problems(f"datasets.{name}", _mapping(block), name in compared)
    for i, name in enumerate(_names(compare.get("models"))):
        if name not in models:
            problems.append(
                _unknown_name("model (no block under models)", f"compare.models[{i}]", name, models)
            )
    for name, block in models.items():
        problems += _model_problems(f"models.{name}", _mapping(block)) + select_problems(name, _mapping(block))
    return problems


def _dataset_problems(where: str, block: dict, compared: bool) -> list[str]:
    problems = []
    size = block.get("image_size")
    if block.get("fit") == "pad" and isinstance(size, int) and size < 28:
        problems.append(
            f"{where}.image_size: {size} is smaller than the 28 px images, which pad cannot shrink; "
            f"use fit: resize"
        )
    if block.get("format") == "imagefolder":
        path, train, test = (block.get(k) for k in ("path", "train_path", "test_path"))
        if path and (train or test):
            problems.append(f"{where}: give either path or train_path and test_path, not both")
        elif not path and not (train and test):
            missing = "path" if not (train or test) else ("test_path" if train else "train_path")
            problems.append(
                f"{where}.{missing}: missing; give path (a folder of class folders) or both "
                f"train_path and test_path"
            )
        elif compared:
            # Only for data sets in the grid: a config may name folders of other machines.
            for key in ("path", "train_path", "test_path"):
                folder = block.get(key)
                if isinstance(folder, str) and not Path(folder).is_dir():
                    start = "" if Path(folder).is_absolute() else f" (relative to {Path.cwd()})"
                    problems.append(f"{where}.{key}: folder {folder} does not exist{start}")
    return problems


def _model_problems(where: str, block: dict) -> list[str]:
    arch = block.get("arch")
    if not isinstance(arch, str):
        return []
    if not is_known_arch(arch):
        return [f"{where}.arch: {unknown_arch_hint(arch)}"]
    problems = []
    if arch in CUSTOM_ARCHS:
        if block.get("pretrained") is True:
            problems.append(f"{where}.pretrained: {arch} has no pretrained weights; set it to false")
        if block.get("keep_blocks") is not None:
            problems.append(f"{where}.keep_blocks: applies to torchvision archs only, not {arch}")
        if block.get("freeze", "none") != "none":
            problems.append(f"{where}.freeze: applies to torchvision archs only, not {arch}")
        if block.get("lr_base") is not None:
            problems.append(f"{where}.lr_base: applies to torchvision archs only, not {arch}; use lr")
    warmup, epochs = block.get("warmup_epochs"), block.get("epochs")
    if isinstance(warmup, (int, float)) and isinstance(epochs, int) and 0 < epochs <= warmup:
        problems.append(
            f"{where}.warmup_epochs: {warmup} is not less than epochs ({epochs}); the schedule "
            f"would never come down from its peak"
        )
    return problems


# --- sweeps: one block, many variants ---------------------------------------------------


def _expand_sweeps(config: dict, schema: dict, command_line: dict) -> tuple[dict, list[str]]:
    """Replace each swept block by its variants, in models and in compare.models;
    each variant is checked like any block, its problems naming the variant and
    the key. Returns (what was expanded, problems)."""
    models = config.get("models")
    if not isinstance(models, dict) or not any(isinstance(b, dict) and "sweep" in b for b in models.values()):
        return {}, []
    model_schema = schema["$defs"]["model"]
    compare = config.get("compare")
    bound = compare.get("max_runs") if isinstance(compare, dict) else None
    expanded, problems, blocks = {}, [], {}
    owner: dict[str, str] = {}  # each variant's block, across all blocks
    for name, block in models.items():
        if not (isinstance(block, dict) and "sweep" in block):
            blocks[name] = block
            continue
        try:
            settings = sweep_settings(name, block, model_schema, schema,
                                      max_variants=bound if isinstance(bound, int) else None)
        except SweepError as error:
            problems.append(str(error))
            blocks[name] = variant_block(block, {})  # keeps later checks quiet about the sweep keys
            continue
        base_problems = set(_model_problems(f"models.{name}", block))
        validator = _swept_validator(schema, block["sweep"])
        variants = {}
        for values in settings:
            vname = variant_name(name, values)
            variant = variants[vname] = variant_block(block, values)
            swept = [nested.parts(k) for k in values]
            for error in validator.iter_errors(variant):
                path = tuple(map(str, error.absolute_path))
                if any(path[:len(k)] == k or k[:len(path)] == path for k in swept):
                    problems.append(f"models.{name}.sweep: variant {vname}: {_describe(error, {})}")
            problems += [
                f"models.{name}.sweep: variant {vname}: {p.removeprefix(f'models.{vname}.')}"
                for p in _model_problems(f"models.{vname}", variant)
                if p.replace(f"models.{vname}", f"models.{name}") not in base_problems
            ]
        taken = sorted(set(variants) & set(models))
        problems += [f"models.{name}.sweep: variant {v} has the name of another model block; rename one"
                     for v in taken]
        # Two blocks' variants of one name would be merged into one run, reported as two seeds.
        problems += [f"models.{name}.sweep: variant {v} is also a variant of models.{owner[v]}; the two "
                     f"would be one model in the results. Rename one of the blocks"
                     for v in sorted(set(variants) & set(owner))]
        owner.update({v: name for v in variants if v not in owner})
        blocks.update(variants)
        expanded[name] = {"keys": sorted(block["sweep"]), "variants": {variant_name(name, v): v for v in settings}}
        if isinstance(block.get(halving.KEY), dict):
            expanded[name][halving.KEY] = {**block[halving.KEY], "epochs": block.get("epochs")}
            problems += halving.variant_problems(name, block[halving.KEY], len(variants))
    config["models"] = blocks
    if isinstance(compare, dict) and isinstance(compare.get("models"), list):
        compare["models"] = [v for m in compare["models"]
                             for v in (expanded[m]["variants"] if m in expanded else [m])]
    return expanded, problems


def _swept_validator(schema: dict, swept_keys) -> jsonschema.protocols.Validator:
    """The model schema's validator for the variants of one sweep, with the settings no
    swept key lies in accepted as they are: only errors at or above a swept path are
    kept, and no error of another setting is one, so the variants' problems are the
    same. Validating each of a 1,000-run sweep's variants whole was most of the plan's time."""
    model = schema["$defs"]["model"]
    swept = {nested.parts(key)[0] for key in swept_keys}
    # Every name stays in properties: additionalProperties reads the allowed keys from it.
    properties = {key: (sub if key in swept else True) for key, sub in model["properties"].items()}
    return _Validator({"$defs": schema["$defs"], **model, "properties": properties})


def _run_count_problems(config: dict, expanded: dict) -> list[str]:
    """A grid over compare.max_runs (a sweep of 4 keys of 10 values is 10,000 runs) is refused."""
    compare = _mapping(config.get("compare"))
    lists = [compare.get(k) for k in ("datasets", "splits", "models", "seeds")]
    bound = compare.get("max_runs")
    if not all(isinstance(v, list) for v in lists) or not isinstance(bound, int):
        return []
    d, s, m, n = map(len, lists)
    runs = d * s * m * n
    if runs <= bound:
        return []
    swept = ", ".join(f"models.{b} sweeps {len(e['variants'])} variants" for b, e in expanded.items()
                      if set(e["variants"]) & set(compare["models"]))
    return [
        f"compare.max_runs: the grid holds {runs:,} runs ({d} data sets x {s} splits x {m} models and "
        f"variants x {n} seeds{'; ' + swept if swept else ''}), over compare.max_runs ({bound:,}); "
        f"make it smaller, or raise compare.max_runs if you mean it"
    ]


def _halving_problems(config: dict) -> list[str]:
    models = config.get("models")
    if not isinstance(models, dict):
        return []
    return [p for name, block in models.items() if isinstance(block, dict) for p in halving.problems(name, block)]


def grid_epochs(config: dict, expanded: dict) -> int:
    """The epochs the plan trains: each run's epochs, and a halved sweep's planned
    rungs (cnncompare.plan.halving) in place of its variants' full runs."""
    compare = config["compare"]
    seeds = tuple(compare["seeds"])
    halved = {variant: block for block, entry in expanded.items() if halving.KEY in entry
              for variant in entry["variants"]}
    per_group = sum(config["models"][m]["epochs"] * len(seeds) for m in compare["models"] if m not in halved)
    for block in sorted({halved[m] for m in compare["models"] if m in halved}):
        plan = halving_of(block, expanded[block], seeds)
        per_group += sum(plan.planned_epochs(b) for b in range(plan.brackets))
    return per_group * len(compare["datasets"]) * len(compare["splits"])


def halving_of(block: str, entry: dict, seeds: tuple) -> halving.Halving:
    """The Halving of a swept block, from what _expand_sweeps recorded of it."""
    settings = entry[halving.KEY]
    return halving.Halving(block=block, eta=settings["eta"], min_epochs=settings["min_epochs"],
                           brackets=settings["brackets"], epochs=settings["epochs"],
                           variants=tuple(entry["variants"]), seeds=tuple(seeds))


def _epoch_count_problems(config: dict, expanded: dict) -> list[str]:
    """A plan over compare.max_epochs is refused, with the count (told once the grid is sound)."""
    bound = config["compare"]["max_epochs"]
    epochs = grid_epochs(config, expanded)
    if epochs <= bound:
        return []
    halved = [b for b, e in expanded.items() if halving.KEY in e]
    how = f" (halved sweeps counted by their planned rungs: {', '.join(f'models.{b}' for b in halved)})" \
        if halved else ""
    return [
        f"compare.max_epochs: the plan trains {epochs:,} epochs{how}, over compare.max_epochs ({bound:,}); "
        f"make it smaller (fewer epochs, runs or variants, or a halving: block), or raise "
        f"compare.max_epochs if you mean it"
    ]


# --- what jobs receive ---------------------------------------------------------


def key_sorted(value: Any) -> Any:
    """The same data with every mapping's keys in sorted order.

    Snakemake compares params by their repr, so passing key-sorted params means
    reordering keys in the YAML re-runs nothing.
    """
    if isinstance(value, dict):
        return {k: key_sorted(value[k]) for k in sorted(value)}
    if isinstance(value, (list, tuple)):
        return [key_sorted(v) for v in value]
    return value
