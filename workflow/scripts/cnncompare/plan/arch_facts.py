"""What the plan knows of torchvision's models, read from a table shipped with
the package (torchvision_archs.json), so that Snakemake's own process never
imports torch: the weights files of pretrained models, the feature blocks of
each arch, and the input sizes each accepts.

The table is written from the installed torchvision by cnncompare.train.arch_table
(`make arch-table`); tests/test_arch_facts.py checks that it still matches.
This module imports nothing but the standard library.
"""

from __future__ import annotations

import difflib
import functools
import json
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

TABLE_PATH = Path(__file__).with_name("torchvision_archs.json")
REGENERATE = "make arch-table"


@functools.lru_cache(maxsize=1)
def table() -> dict:
    with open(TABLE_PATH) as fh:
        return json.load(fh)


def torchvision_archs() -> list[str]:
    return sorted(table()["archs"])


def is_torchvision_arch(arch: str) -> bool:
    return arch in table()["archs"]


def unknown_arch_hint(arch: str) -> str:
    """Why an arch is unknown, and what to do when a newer torchvision has it."""
    close = difflib.get_close_matches(arch, ["custom_cnn", *torchvision_archs()], n=3, cutoff=0.6)
    hint = f" (close names: {', '.join(close)})" if close else ""
    written = table()["torchvision"]
    try:
        installed = metadata.version("torchvision")
    except metadata.PackageNotFoundError:
        installed = None
    newer = ""
    if installed and installed != written:
        newer = (
            f"; the installed torchvision is {installed}: if it has {arch}, regenerate the table "
            f"with `{REGENERATE}`"
        )
    return (
        f"unknown arch '{arch}'{hint}; use custom_cnn or a torchvision classification model "
        f"(the {len(table()['archs'])} of torchvision {written}, listed in {TABLE_PATH.name}){newer}"
    )


@dataclass(frozen=True)
class Weights:
    arch: str
    name: str  # the enum member, e.g. IMAGENET1K_V1 (DEFAULT resolved)
    file: str  # its file name in {weights_dir}/hub/checkpoints/
    url: str
    sha256_prefix: str  # the hex digits the file name ends in
    min_size: int  # the smallest input side the weights declare
    label: str  # the explicit name recorded in metrics, e.g. VGG16_Weights.IMAGENET1K_V1


def weights(arch: str, name: str) -> Weights:
    """The weights `name` (a member of the arch's enum, or DEFAULT) of a torchvision arch.
    Raises ValueError naming the members when there is no such one."""
    entry = table()["archs"][arch]
    member = entry["default_weights"] if name == "DEFAULT" else name
    if member not in entry["weights"]:
        raise ValueError(f"{arch} has no weights {name!r}; available: DEFAULT, {', '.join(entry['weights'])}")
    facts = entry["weights"][member]
    return Weights(
        arch=arch,
        name=member,
        file=facts["file"],
        url=facts["url"],
        sha256_prefix=facts["sha256_prefix"],
        min_size=facts["min_size"],
        label=f"{entry['weights_enum']}.{member}",
    )


def weights_up_to(arch: str, size: int) -> list[str]:
    """The weights of an arch made for inputs of at most `size` px."""
    return [name for name, facts in table()["archs"][arch]["weights"].items() if facts["min_size"] <= size]


def block_count(arch: str) -> int | None:
    """Feature blocks of a torchvision arch (None: it has none and is used whole)."""
    return table()["archs"][arch]["blocks"]


def input_range(arch: str, keep_blocks: int | None) -> tuple[int, int | None]:
    """(smallest, largest or None) image_size the network of a model block accepts:
    its first keep_blocks feature blocks, or all of them, or the whole net."""
    entry = table()["archs"][arch]
    if keep_blocks is not None and entry["blocks"] is not None:
        return entry["block_min_sizes"][min(keep_blocks, entry["blocks"]) - 1], None
    return entry["input"]["min"], entry["input"]["max"]


def check_block_counts(block: dict, n_blocks: int | None) -> None:
    """keep_blocks and freeze (by block count) against the blocks an arch has
    (None: no blocks, the model is used whole). Raises ValueError naming the limit."""
    arch, keep, freeze = block["arch"], block["keep_blocks"], block["freeze"]
    if n_blocks is None:
        if keep is not None or isinstance(freeze, int):
            raise ValueError(
                f"{arch} has no feature blocks to keep or freeze one by one; use keep_blocks: null "
                f"and freeze: none or base"
            )
        return
    if keep is not None and keep > n_blocks:
        raise ValueError(f"keep_blocks: {keep} asked, but {arch} has {n_blocks} feature blocks")
    kept = keep if keep is not None else n_blocks
    if isinstance(freeze, int) and freeze > kept:
        raise ValueError(f"freeze: {freeze} blocks asked, but {arch} keeps only {kept}")
