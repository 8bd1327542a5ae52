"""A sweep's choice rule for more than one objective: the model block's
`select: {prefer, within}` (workflow/schemas/config.schema.yaml holds its
names and defaults). Without it a sweep keeps today's rule, the highest mean
validation accuracy over seeds (sweep_report._choose).

With it, the variants eligible to be chosen (every planned seed completed)
whose mean validation accuracy is within `within` percentage points of the
best one's form a band, and the band's best at `prefer` is chosen: the
shortest training time, the fewest parameters, ... A tie on `prefer` goes to
the higher validation accuracy. Only validation figures and costs are read;
the test accuracy of the chosen variant is reported after the choice.

A time measured on a busy machine (report/timing.py's flags, set on each row by
study.with_run_facts) says more about the machine than about the variant, so
it is never used to choose: a flagged run's time is left out of its variant's
mean, and when a variant of the band has no time left, nothing is known to be
faster than it, so the rule keeps the most accurate variant and says why.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from cnncompare.report import timing
from cnncompare.report.numbers import count, gmacs, milliseconds, pct, points, rate, seconds_text
from cnncompare.report.stats import describe, is_number


@dataclass(frozen=True)
class Objective:
    """A `prefer` objective: what is read of a run, which way is better, and how it is told."""

    name: str  # the schema's name of it (select.prefer)
    label: str  # an axis label and a table header
    best: str  # "the shortest training time": the rule in words
    value: Callable[[dict], object]
    text: Callable[[float], str]  # a value in running text, with its unit
    lower_is_better: bool = True
    busy_flag: str | None = None  # the row's flag saying its figure was measured on a busy machine


OBJECTIVES = {o.name: o for o in (
    Objective("train_time", "training time (s, median epoch × epochs)", "the shortest training time",
              timing.robust_train_seconds, seconds_text, busy_flag="busy_machine"),
    Objective("params", "parameters", "the fewest parameters", lambda r: r.get("params_total"),
              lambda v: f"{count(v)} parameters"),
    Objective("gmacs", "GMACs per image", "the fewest multiply-adds per image", lambda r: r.get("gmacs"),
              lambda v: f"{gmacs(v)} GMACs"),
    Objective("images_per_s", "inference images/s", "the highest inference throughput",
              lambda r: r.get("inference_images_per_second"), lambda v: f"{rate(v)} images/s",
              lower_is_better=False, busy_flag="busy_evaluation"),
    Objective("latency", "latency (ms)", "the lowest latency", lambda r: r.get("latency_ms"),
              lambda v: f"{milliseconds(v)} ms", busy_flag="busy_evaluation"),
)}


def objective(rule: dict | None) -> Objective | None:
    return OBJECTIVES[rule["prefer"]] if rule else None


def rule_text(rule: dict) -> str:
    """The rule in words: 'the shortest training time among the variants within 1.0 point of the best
    mean validation accuracy'."""
    within = rule["within"]
    return (f"{objective(rule).best} among the variants within {points(within / 100)} "
            f"point{'' if within == 1 else 's'} of the best mean validation accuracy")


def cost(runs: list[dict], obj: Objective) -> dict:
    """A variant's `obj` over its completed runs: the mean of the runs whose figure was not flagged
    (n of them), how many were flagged, and the mean of the flagged ones (drawn, never used)."""
    flagged = [r for r in runs if obj.busy_flag and r.get(obj.busy_flag)]
    usable = [obj.value(r) for r in runs if r not in flagged]
    return {**describe(usable), "flagged": len(flagged), "flagged_mean": describe([obj.value(r) for r in flagged])["mean"]}


def cost_cell(cost: dict, obj: Objective) -> dict:
    """A variant's objective in the sweep's table: the mean used to choose; a busy figure marked as unused."""
    if cost["n"]:
        text = obj.text(cost["mean"]) + (f" ({cost['flagged']} busy run{'s' if cost['flagged'] > 1 else ''} left out)"
                                         if cost["flagged"] else "")
        return {"value": cost["mean"], "text": text, "title": f"mean of {cost['n']} run{'s' if cost['n'] > 1 else ''}"}
    if cost["flagged"]:
        return {"value": "", "text": f"{obj.text(cost['flagged_mean'])} (busy machine: not used)",
                "title": "measured on a busy machine only: never used to choose"}
    return {"value": "", "text": "–", "title": "not measured"}


def _better(obj: Objective, a: float, b: float) -> bool:
    return a < b if obj.lower_is_better else a > b


def choose(entries: list[dict], rule: dict | None, best: dict | None) -> tuple[dict | None, list[str]]:
    """The variant `rule` chooses among `entries` (sweep_report's variant stats, each with its `cost`
    of the rule's objective) and the sentences saying how; `best` is today's choice, the eligible
    variant of the highest mean validation accuracy. No rule, or no best: `best` and no sentence."""
    if rule is None or best is None:
        return best, []
    obj = objective(rule)
    floor = best["val"]["mean"] - rule["within"] / 100
    band = [e for e in entries if e["eligible"] and is_number(e["val"]["mean"]) and e["val"]["mean"] >= floor - 1e-12]
    head = f"The select rule: {rule_text(rule)} ({pct(best['val']['mean'])}, {best['variant']})"
    unknown = [e for e in band if not e["cost"]["n"]]
    if unknown:
        one = len(unknown) == 1
        if any(e["cost"]["flagged"] for e in unknown):
            why = (f"{_names_of(unknown)} {'was' if one else 'were'} measured on a busy machine only, and such "
                   f"figures are never used to choose")
        else:
            why = f"{_names_of(unknown)} {'has' if one else 'have'} no {obj.label}"
        return best, [f"{head}. In that band, {why}; with nothing known to be better, the most accurate variant, "
                      f"{best['variant']}, is kept."]
    chosen = best
    for e in band:  # config order; a tie on the objective goes to the higher validation accuracy
        if _better(obj, e["cost"]["mean"], chosen["cost"]["mean"]) or (
                e["cost"]["mean"] == chosen["cost"]["mean"] and e["val"]["mean"] > chosen["val"]["mean"]):
            chosen = e
    line = (f"{head}: of the {len(band)} variants in that band, {chosen['variant']} has {obj.best} "
            f"({obj.text(chosen['cost']['mean'])})" if len(band) > 1 else
            f"{head}: it is the only variant in that band ({obj.text(chosen['cost']['mean'])})")
    line += (f"; the most accurate, {best['variant']}, has {obj.text(best['cost']['mean'])}." if chosen is not best
             else ".")
    lines = [line]
    left_out = sum(e["cost"]["flagged"] for e in band)
    if left_out:
        lines.append(f"{left_out} run{'s' if left_out > 1 else ''} of the band had {obj.label} measured on a busy "
                     f"machine; {'they are' if left_out > 1 else 'it is'} left out of the means, never used to choose.")
    return chosen, lines


def _names_of(entries: list[dict]) -> str:
    names = [e["variant"] for e in entries]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
