"""Nested settings and their dotted keys: the one grammar of `augment.flip`.

A model block nests (`head: {hidden: [1024], dropout: 0.5}`); a sweep, a
tracker's params and a warning name one setting by its dotted key
(`head.dropout`). This module is the one place that turns one into the other:

- parts(key): the keys on a dotted key's path, ("head", "dropout");
- flatten(block): {dotted key: leaf} of every leaf, in the block's order;
- set_key(block, key, value): the leaf at `key` set, making the blocks on the way;
- get_key(block, key): the leaf (or block) at `key`;
- deref(node, root): a JSON schema node whose `$ref` ("#/$defs/...") points
  elsewhere in the same document, read at that path.

Empty blocks and None, one answer everywhere: a leaf is anything that is not a
non-empty mapping. So an empty block is a leaf whose value is {} and None is a
leaf whose value is None; both keep their key. Nothing is dropped and nothing
is turned into text here: a tracker that stores text decides how a leaf reads
(track/record.py), and flatten followed by set_key gives the block back.

Standard library only: the plan (in Snakemake's process) and the torch jobs
both use it.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping
from typing import Any

SEP = "."


def parts(key: str) -> tuple[str, ...]:
    """The keys on the path of dotted `key`, outermost first."""
    return tuple(key.split(SEP))


def leaves(block: Mapping, prefix: str = "") -> Iterator[tuple[str, Any]]:
    """(dotted key, leaf) of every leaf of `block`, depth first, in its order."""
    for key, value in block.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            yield from leaves(value, f"{name}{SEP}")
        else:
            yield name, value


def flatten(block: Mapping) -> dict[str, Any]:
    """{dotted key: leaf} of `block` ({} and None are leaves, see the module's docstring)."""
    return dict(leaves(block))


def set_key(block: dict, key: str, value) -> None:
    """Set the leaf at dotted `key` to a copy of `value`. A block on the way that
    is missing, or is not a mapping, becomes an empty one first."""
    *parents, last = parts(key)
    node = block
    for part in parents:
        if not isinstance(node.get(part), dict):
            node[part] = {}
        node = node[part]
    node[last] = copy.deepcopy(value)


def unflatten(flat: Mapping[str, Any]) -> dict:
    """The nested block of {dotted key: leaf}: flatten's inverse."""
    block: dict = {}
    for key, value in flat.items():
        set_key(block, key, value)
    return block


def get_key(block: Mapping, key: str, sep: str = SEP):
    """What `block` holds at `key` (its parts joined by `sep`); KeyError naming
    the whole key when a part is missing."""
    node: Any = block
    for part in key.split(sep):
        if not isinstance(node, Mapping) or part not in node:
            raise KeyError(key)
        node = node[part]
    return node


def deref(node: Mapping, root: Mapping) -> Mapping:
    """`node`, or where its local `$ref` points in `root` ("#/$defs/formats/npz"),
    with the node's own other keys over the target's."""
    ref = node.get("$ref")
    if not ref:
        return node
    target = get_key(root, ref.removeprefix("#/"), sep="/")
    return {**target, **{k: v for k, v in node.items() if k != "$ref"}}
