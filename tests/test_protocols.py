"""The split variants have one home, cnncompare/protocols.py: the schema's
choices, the data wing's and the report's order all agree with it."""

import yaml

from cnncompare import protocols
from cnncompare.data import splits
from conftest import REPO


def test_the_schemas_split_choices_and_default_are_the_protocols():
    schema = yaml.safe_load((REPO / "workflow" / "schemas" / "config.schema.yaml").read_text())
    entry = schema["properties"]["compare"]["properties"]["splits"]
    assert tuple(entry["items"]["enum"]) == protocols.SPLITS
    assert tuple(entry["default"]) == protocols.SPLITS
    assert splits.SPLITS is protocols.SPLITS


def test_the_headline_protocol_comes_first_and_only_two_splits_is_biased():
    assert protocols.headline_first(["two", "three"]) == ["three", "two"]
    assert [p.name for p in protocols.PROTOCOLS if p.biased] == ["two"]
    assert protocols.SPLIT_PATTERN == "two|three"
