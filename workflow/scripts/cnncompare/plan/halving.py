"""Successive halving of a swept block, and Hyperband's brackets: the rungs, who
enters each, and what the plan costs in runs and epochs.

A block with `sweep:` and `halving:` trains every variant (each seed a run, as
any run) to the first rung, `min_epochs`. The best 1/eta of the variants by
mean validation accuracy over their seeds go on to min_epochs x eta epochs,
resuming from their checkpoints, and so on; the last rung is the block's full
`epochs`, and the variants that reach it are ordinary finished runs. Rung k
trains to epoch min_epochs x eta^k, except the last, which trains to `epochs`.

With `brackets: B` (Hyperband), variant i of the sweep goes to bracket i mod B,
and bracket b starts at rung b: its variants train b rungs further before their
first cut. Brackets are ranked apart.

Epochs here are epochs trained: a variant that goes on resumes where its
previous rung stopped, so rung k costs its runs x (its epoch - the previous
rung's epoch); the first rung of a bracket trains from epoch 1.

The decisions themselves (ranking, ties within noise, divergence) are made when
a rung has run, by cnncompare.report.rungs. Importable without torch or numpy:
the plan builds these in Snakemake's own process.
"""

from __future__ import annotations

from dataclasses import dataclass

KEY = "halving"


def rung_epochs(min_epochs: int, eta: int, epochs: int) -> tuple[int, ...]:
    """The epoch each rung trains up to: min_epochs x eta^k while that is at most
    `epochs`, the last one replaced by `epochs` itself (9 epochs, eta 3, min 1: 1, 3, 9;
    10 epochs: 1, 3, 10)."""
    count = 1
    while min_epochs * eta ** count <= epochs:
        count += 1
    return (*(min_epochs * eta ** k for k in range(count - 1)), epochs)


def kept(entered: int, eta: int) -> int:
    """How many of `entered` variants a rung promotes before ties: the best 1/eta, at least one."""
    return max(1, entered // eta)


@dataclass(frozen=True)
class Halving:
    """The halving of one swept block (the same for every data set and split)."""

    block: str
    eta: int
    min_epochs: int
    brackets: int
    epochs: int  # the block's full budget: the last rung
    variants: tuple[str, ...]  # the sweep's variants, in the sweep's order
    seeds: tuple[int, ...]

    @property
    def rungs(self) -> tuple[int, ...]:
        return rung_epochs(self.min_epochs, self.eta, self.epochs)

    @property
    def last_rung(self) -> int:
        return len(self.rungs) - 1

    def bracket_of(self, variant: str) -> int:
        return self.variants.index(variant) % self.brackets

    def bracket_variants(self, bracket: int) -> list[str]:
        return [v for i, v in enumerate(self.variants) if i % self.brackets == bracket]

    def rung_table(self, bracket: int) -> list[dict]:
        """Per rung of a bracket, as planned (no ties): the variants that enter it,
        their runs, the epoch they train to and the epochs that costs."""
        table, entered = [], len(self.bracket_variants(bracket))
        for rung in range(bracket, len(self.rungs)):
            runs = entered * len(self.seeds)
            start = self.rungs[rung - 1] if rung > bracket else 0
            table.append({"rung": rung, "epochs": self.rungs[rung], "variants": entered, "runs": runs,
                          "trained_epochs": runs * (self.rungs[rung] - start)})
            entered = kept(entered, self.eta)
        return table

    def planned_epochs(self, bracket: int) -> int:
        return sum(row["trained_epochs"] for row in self.rung_table(bracket))

    def full_grid_epochs(self, bracket: int) -> int:
        """The bracket's variants x seeds x epochs: what the sweep costs without halving."""
        return len(self.bracket_variants(bracket)) * len(self.seeds) * self.epochs


def problems(name: str, block: dict) -> list[str]:
    """What is wrong with a model block's `halving:` (its defaults filled), before
    its sweep is expanded; [] without one. Types and bounds are the schema's."""
    settings = block.get(KEY)
    if not isinstance(settings, dict):
        return []
    where = f"models.{name}.{KEY}"
    if "sweep" not in block:
        return [f"{where}: halving stops the losing variants of a sweep, and models.{name} has no sweep; "
                f"add models.{name}.sweep, or remove {where}"]
    eta, low, brackets, epochs = (settings.get("eta"), settings.get("min_epochs"), settings.get("brackets"),
                                  block.get("epochs"))
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in (eta, low, brackets, epochs)):
        return []  # told by the schema
    if eta < 2 or low < 1 or brackets < 1:
        return []  # told by the schema
    swept = block["sweep"] if isinstance(block["sweep"], dict) else {}
    if "epochs" in swept:
        return [f"models.{name}.sweep.epochs: a halved sweep gives every variant the same budget, "
                f"models.{name}.epochs; sweep other keys, or remove {where}"]
    if low >= epochs:
        return [f"{where}.min_epochs: {low} is not below models.{name}.epochs ({epochs}): the first rung "
                f"would be the whole run; lower min_epochs"]
    if low * eta > epochs:
        return [f"{where}.min_epochs: {low} x eta {eta} = {low * eta} is above models.{name}.epochs "
                f"({epochs}), which leaves one rung and nothing to halve; lower min_epochs or eta"]
    rungs = len(rung_epochs(low, eta, epochs))
    if brackets > rungs:
        return [f"{where}.brackets: {brackets} brackets need as many rungs to start at, and min_epochs {low}, "
                f"eta {eta} and epochs {epochs} give {rungs} ({', '.join(map(str, rung_epochs(low, eta, epochs)))}"
                f"); lower brackets"]
    return []


def variant_problems(name: str, settings: dict, variants: int) -> list[str]:
    """What the sweep's expansion tells about the halving: each bracket needs a variant."""
    brackets = settings.get("brackets") if isinstance(settings, dict) else None
    if isinstance(brackets, int) and brackets > variants:
        return [f"models.{name}.{KEY}.brackets: {brackets} brackets for {variants} variant"
                f"{'s' * (variants != 1)} leave a bracket empty; lower brackets"]
    return []


def cost_lines(halving: Halving, groups: int) -> list[str]:
    """What a halved block costs, per rung, as the plan says it on every invocation.
    groups: the data sets x splits it runs on (each has the same rungs)."""
    seeds = len(halving.seeds)
    lines = [f"models.{halving.block}.halving: eta {halving.eta}, rungs at epochs "
             f"{', '.join(map(str, halving.rungs))}; {len(halving.variants)} variants x {seeds} seed"
             f"{'s' * (seeds != 1)}, per data set and split:"]
    planned = full = 0
    for bracket in range(halving.brackets):
        name = f"  bracket {bracket}: " if halving.brackets > 1 else "  "
        for row in halving.rung_table(bracket):
            lines.append(f"{name}rung {row['rung']}: {row['variants']} variant{'s' * (row['variants'] != 1)}, "
                         f"{row['runs']} run{'s' * (row['runs'] != 1)} to epoch {row['epochs']}, "
                         f"{row['trained_epochs']} epochs trained")
        planned += halving.planned_epochs(bracket)
        full += halving.full_grid_epochs(bracket)
    lines.append(f"  {planned} epochs planned (before ties) against {full} for the full grid "
                 f"({100 * planned / full:.0f}%); over {groups} data set and split pair"
                 f"{'s' * (groups != 1)}: {planned * groups} against {full * groups}")
    return lines
