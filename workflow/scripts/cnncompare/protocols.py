"""The two evaluation protocols (split variants): their one home.

Every name, order, title and flag of a split variant is read from here: the
plan (wildcards, schema check), the data wing (which part validates) and every
part of the report. Torch-free and numpy-free.

  three  train / val drawn stratified from the official train set; test = the
         official test set. Validation picks the epoch, test only reports: the
         headline.
  two    the study's protocol: train = official train; val = test = official
         test, so the epoch is picked on the test set (biased upwards).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Protocol:
    name: str  # the split wildcard and config value
    title: str  # a figure or table heading
    short: str  # in running text: "three splits"
    label: str  # a table's group label
    biased: bool  # the epoch is chosen on the test set
    validation: str  # where its validation part comes from, in a few words
    alone: str  # the report's overview, opening the answer of a data set this protocol leads
    beside: str  # the same, for this protocol's answer beside the headline's


_BIASED = "(the epoch is picked on the test set itself, so its figure is biased upwards)"


THREE = Protocol(
    name="three",
    title="three splits (validation picks, test reports)",
    short="three splits",
    label="three splits",
    biased=False,
    validation="validation drawn from the training images",
    alone="Three splits (validation picks the epoch, the test set only reports)",
    beside="Three splits (validation picks the epoch, the test set only reports)",
)
TWO = Protocol(
    name="two",
    title="two splits (the study's: epoch picked on test)",
    short="two splits",
    label="two splits (study's protocol)",
    biased=True,
    validation="validation is the test set",
    alone=f"Two splits only, the study's protocol {_BIASED}",
    beside=f"The study's protocol, two splits {_BIASED}",
)

# The headline first: every table, figure and sentence orders protocols this way.
PROTOCOLS = (THREE, TWO)
BY_NAME = {p.name: p for p in PROTOCOLS}
# In the data wing's order of writing (and the config's enum).
SPLITS = ("two", "three")
# The split wildcard's regular expression.
SPLIT_PATTERN = "|".join(SPLITS)


def protocol(name: str) -> Protocol:
    return BY_NAME[name]


def headline_first(names) -> list[str]:
    """Split names in the report's order: three splits before two."""
    order = {p.name: i for i, p in enumerate(PROTOCOLS)}
    return sorted(names, key=lambda n: order.get(n, len(order)))
