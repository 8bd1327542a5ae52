"""cnncompare.nested: the one grammar of dotted setting keys."""

import copy

import pytest

from cnncompare.nested import deref, flatten, get_key, parts, set_key, unflatten

BLOCK = {
    "arch": "resnet18",
    "lr": 0.01,
    "pretrained": True,
    "weights": None,
    "head": {"hidden": [1024, 512], "dropout": 0.5, "extra": {}},
    "augment": {"flip": True, "crop_padding": 4},
}


def test_flatten_dots_nested_keys_and_keeps_leaves_as_they_are():
    assert flatten(BLOCK) == {
        "arch": "resnet18", "lr": 0.01, "pretrained": True, "weights": None,
        "head.hidden": [1024, 512], "head.dropout": 0.5, "head.extra": {},
        "augment.flip": True, "augment.crop_padding": 4,
    }


def test_empty_blocks_and_none_are_leaves_that_keep_their_key():
    assert flatten({"a": {}, "b": None, "c": {"d": {}}}) == {"a": {}, "b": None, "c.d": {}}
    assert flatten({}) == {}


def test_flatten_then_unflatten_gives_the_block_back():
    assert unflatten(flatten(BLOCK)) == BLOCK


def test_set_key_makes_the_blocks_on_the_way_and_copies_the_value():
    block = {"head": 3}
    hidden = [256]
    set_key(block, "head.hidden", hidden)
    set_key(block, "augment.crop.padding", 2)
    hidden.append(1)
    assert block == {"head": {"hidden": [256]}, "augment": {"crop": {"padding": 2}}}


def test_get_key_reads_what_set_key_wrote():
    block = copy.deepcopy(BLOCK)
    for key, value in flatten(BLOCK).items():
        set_key(block, key, value)
        assert get_key(block, key) == value
    assert block == BLOCK
    assert get_key(BLOCK, "head") == BLOCK["head"]
    with pytest.raises(KeyError, match="head.nothing"):
        get_key(BLOCK, "head.nothing")
    with pytest.raises(KeyError):
        get_key(BLOCK, "lr.deeper")


def test_deref_follows_a_local_ref_and_keeps_the_nodes_own_keys():
    root = {"$defs": {"formats": {"npz": {"type": "object", "description": "arrays"}}}}
    node = {"$ref": "#/$defs/formats/npz", "description": "mine"}
    assert deref(node, root) == {"type": "object", "description": "mine"}
    plain = {"type": "string"}
    assert deref(plain, root) is plain


def test_parts_are_the_keys_on_a_dotted_keys_path():
    assert parts("head.dropout") == ("head", "dropout") and parts("lr") == ("lr",)
