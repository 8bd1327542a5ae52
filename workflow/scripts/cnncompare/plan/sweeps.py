"""Sweeps: one model block, many variants.

A model block's `sweep:` maps setting paths (`lr`, `head.dropout`,
`augment.flip`) to a list of values (a grid: every combination is a variant)
or, with a block-level `sweep_samples`, to a distribution (random search:
`{log_uniform: [lo, hi]}`, `{uniform: [lo, hi]}`, `{choice: [...]}`; a plain
list is then a choice too). Each variant is a complete model block of its own,
named after the block and its swept values, keys in sorted order:
`custom_cnn.batch_size-64.lr-0.01`. Names depend on the values only, so adding,
removing or reordering values leaves every other variant's name, and its
finished runs, as they are.

Random draw i comes from a generator seeded by (sweep_seed, i) alone: the same
seed gives the same variants, and raising sweep_samples only adds draws.

Importable without torch or numpy: the plan expands sweeps in Snakemake's own
process.
"""

from __future__ import annotations

import copy
import itertools
import math
import random
import re

from cnncompare import nested

# A variant's block has none of these: they say how the block is swept, not how a variant trains
# (halving: cnncompare.plan.halving), so a variant trained alone has the very same settings.
SWEEP_KEYS = ("sweep", "sweep_samples", "sweep_seed", "halving")
DISTRIBUTIONS = ("log_uniform", "uniform", "choice")
# Keys that say nothing about training: sweeping them would make identical runs.
NOT_SWEPT = ("description", "reference", "select", *SWEEP_KEYS)
UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")  # what a Snakemake wildcard and a file name cannot hold
RANDOM_DIGITS = 3  # significant digits kept of a random draw: readable names, and the name is the value


class SweepError(ValueError):
    """A sweep that cannot be expanded; the message names the block and the key."""


def value_text(value) -> str:
    """A swept value as it appears in a variant's name: short, and safe in a
    wildcard and a file name (no / { } or spaces)."""
    if isinstance(value, bool) or value is None:
        return str(value).lower() if value is not None else "null"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        # repr is the shortest text that reads back as the same float: 0.01, 0.0001, 1e-05.
        return repr(value).replace("+", "")
    if isinstance(value, (list, tuple)):
        return "_".join(value_text(v) for v in value) if value else "none"
    return UNSAFE.sub("_", str(value)) or "empty"


def variant_name(block: str, settings: dict) -> str:
    return ".".join([block, *(f"{key}-{value_text(settings[key])}" for key in sorted(settings))])


def _is_distribution(spec) -> bool:
    return isinstance(spec, dict) and len(spec) == 1 and next(iter(spec)) in DISTRIBUTIONS


def _draw(rng: random.Random, spec):
    """One value of a key in a random search."""
    if isinstance(spec, list):
        return rng.choice(spec)
    kind, args = next(iter(spec.items()))
    if kind == "choice":
        return rng.choice(args)
    lo, hi = args
    integers = all(isinstance(v, int) and not isinstance(v, bool) for v in (lo, hi))
    if kind == "uniform":
        return rng.randint(lo, hi) if integers else _rounded(rng.uniform(lo, hi))
    value = math.exp(rng.uniform(math.log(lo), math.log(hi)))
    return min(max(round(value), lo), hi) if integers else _rounded(value)


def _rounded(value: float) -> float:
    return float(f"{value:.{RANDOM_DIGITS}g}")


def _same_value(a, b) -> bool:
    """Equal as settings: numbers by value (1 == 1.0), never a bool and a number (True == 1 in Python)."""
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_same_value(x, y) for x, y in zip(a, b))
    return type(a) in (int, float) and type(b) in (int, float) and a == b


def _spec_problems(where: str, key: str, spec, random_search: bool) -> list[str]:
    if isinstance(spec, list):
        if not spec:
            return [f"{where}.{key}: an empty list gives no variant; give at least one value"]
        if any(isinstance(v, dict) for v in spec):
            return [f"{where}.{key}: a value of a sweep cannot be a mapping; sweep its keys by dotted paths "
                    f"({key}.<key>)"]
        texts = [value_text(v) for v in spec]
        twins = sorted({t for t in texts if texts.count(t) > 1})
        if twins:
            return [f"{where}.{key}: values {', '.join(twins)} appear more than once (or name the same variant)"]
        # 1 and 1.0 are one setting, though their names differ: compared by value.
        same = [(a, b) for i, a in enumerate(spec) for b in spec[i + 1:] if _same_value(a, b)]
        if same:
            pairs = "; ".join(f"{a!r} and {b!r}" for a, b in same)
            return [f"{where}.{key}: {pairs} are the same value, which would train identical variants under "
                    f"two names; give each value once"]
        return []
    if not _is_distribution(spec):
        return [f"{where}.{key}: expected a list of values or one of {{{', '.join(f'{d}: ...' for d in DISTRIBUTIONS)}}}, "
                f"got {spec!r}"]
    kind, args = next(iter(spec.items()))
    if not random_search:
        return [f"{where}.{key}: {kind} draws values at random, which needs sweep_samples (how many variants to "
                f"draw) in the block; for a grid give a list of values"]
    if kind == "choice":
        return [] if isinstance(args, list) and args else [f"{where}.{key}.choice: expected a non-empty list"]
    numbers = isinstance(args, list) and len(args) == 2 and all(
        isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in args)
    if not numbers or args[0] >= args[1]:
        return [f"{where}.{key}.{kind}: expected [low, high] with low < high, got {args!r}"]
    if kind == "log_uniform" and args[0] <= 0:
        return [f"{where}.{key}.log_uniform: the low end must be > 0, got {args[0]!r}"]
    return []


def _path_problem(where: str, key: str, model_schema: dict, root: dict) -> str | None:
    """Why `key` is not a setting path of a model block, or None."""
    parts = nested.parts(key)
    if parts[0] in NOT_SWEPT:
        return f"{where}.{key}: {parts[0]} cannot be swept (it does not change training)"
    node = model_schema
    for depth, part in enumerate(parts):
        node = nested.deref(node, root)
        known = node.get("properties", {})
        if part not in known:
            at = ".".join(parts[:depth])
            in_what = f"{at} of a model block" if at else "a model block"
            return (f"{where}.{key}: {part!r} is not a key of {in_what}; known: "
                    f"{', '.join(k for k in sorted(known) if k not in NOT_SWEPT) or 'none'}")
        node = known[part]
    return None


def _size_problems(where: str, sweep: dict, samples, max_variants: int) -> list[str]:
    """A sweep of more variants than compare.max_runs allows runs, told before a
    single one is drawn or listed: sweep_samples: 1000000000 would draw for hours."""
    if samples is not None:
        if samples > max_variants:
            return [f"{where.removesuffix('.sweep')}.sweep_samples: {samples:,} draws make up to {samples:,} "
                    f"variants, each at least one run, over compare.max_runs ({max_variants:,}); draw fewer, "
                    f"or raise compare.max_runs if you mean it"]
        return []
    size = math.prod(len(values) for values in sweep.values())
    if size > max_variants:
        return [f"{where}: the grid's {' x '.join(str(len(sweep[k])) for k in sorted(sweep))} = {size:,} "
                f"variants, each at least one run, are over compare.max_runs ({max_variants:,}); sweep fewer "
                f"values, or raise compare.max_runs if you mean it"]
    return []


def select_problems(name: str, block: dict) -> list[str]:
    """`select` chooses among a sweep's variants: a block without a sweep has none to choose from."""
    if block.get("select") is None or "sweep" in block:
        return []
    return [f"models.{name}.select: chooses among the variants of a sweep, and this block has no sweep; add a "
            f"sweep: to the block or remove select"]


def sweep_settings(name: str, block: dict, model_schema: dict, root: dict,
                   max_variants: int | None = None) -> list[dict]:
    """The swept settings of each variant of block `name` ({path: value}), in
    order; raises SweepError listing every problem of the sweep. max_variants:
    compare.max_runs, checked before any variant is made."""
    where = f"models.{name}.sweep"
    sweep = block.get("sweep")
    samples = block.get("sweep_samples")
    if not isinstance(sweep, dict) or not sweep:
        raise SweepError(f"{where}: expected a mapping of setting paths to values, got {sweep!r}")
    random_search = samples is not None
    problems = []
    for key in sorted(sweep):
        why = _path_problem(where, key, model_schema, root)
        problems += [why] if why else _spec_problems(where, key, sweep[key], random_search)
    if not problems and max_variants is not None:
        problems += _size_problems(where, sweep, samples, max_variants)
    if problems:
        raise SweepError("\n  - ".join(problems))
    keys = sorted(sweep)
    if not random_search:
        return [dict(zip(keys, values)) for values in itertools.product(*(sweep[k] for k in keys))]
    found, names = [], set()
    for i in range(samples):
        rng = random.Random(f"{block.get('sweep_seed', 0)}:{i}")  # str seeds are stable across runs and Pythons
        settings = {key: _draw(rng, sweep[key]) for key in keys}
        if variant_name(name, settings) not in names:  # a repeated draw is the same variant
            names.add(variant_name(name, settings))
            found.append(settings)
    return found


def variant_block(block: dict, settings: dict) -> dict:
    """A complete model block: the swept block without its sweep keys, with `settings` set at their paths."""
    variant = copy.deepcopy({k: v for k, v in block.items() if k not in SWEEP_KEYS})
    for key, value in settings.items():
        nested.set_key(variant, key, value)
    return variant

