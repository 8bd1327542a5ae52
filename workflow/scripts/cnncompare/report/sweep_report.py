"""The report's sweep section: for each swept model block, data set and split,
which variant won, how each setting mattered, and every variant in a table.

The winner is chosen honestly: by mean validation accuracy over seeds of the
three-split runs, whose validation part is drawn from the training images, and
only then is its test accuracy reported. Two-split runs validate on the test
set itself, so a choice among them is a choice made on the test set, and the
report says so.

Which runs are variants of which block comes from the render rule's `models`
param ({variant: {"sweep": {"block", "keys", "settings"}}}), written by the
plan (cnncompare.plan.sweeps); summary.csv is not changed by sweeps.
"""

from __future__ import annotations

import math

from cnncompare.protocols import PROTOCOLS, THREE, TWO, protocol
from cnncompare.report import svgplot
from cnncompare.report.numbers import interval_pct, pct, percent_tick, points
from cnncompare.report.stats import is_number, mean_interval
from cnncompare.report.study import Study
from cnncompare.report.svgplot import LegendEntry, Panel, Scale
from cnncompare.plan.sweeps import value_text

VAL, TEST = "#1a5fb4", "#c01c28"  # validation and test lines in every sensitivity plot
LINE_COLORS = ["#1a5fb4", "#c01c28", "#26a269", "#e66100", "#813d9c", "#986a44", "#5e5c64", "#1c71d8"]
MAX_LINES = 6  # values of the second key drawn as lines; more are averaged into one line


def _variant_stats(study: Study, dataset: str, split: str, variant: str, settings: dict) -> dict:
    """A variant's validation and test accuracy over its seeds on one data set and split."""
    group = study.group_of(dataset, split, variant)
    # Its completed runs (a diverged run has no test accuracy, a failed one no status "completed").
    done = [r for r in group.runs if r.get("status") == "completed"]
    val = mean_interval([r.get("val_acc") for r in done])
    test = mean_interval([r.get("test_acc") for r in done])
    return {"variant": variant, "settings": settings, "val": val, "test": test, "n": len(done),
            "runs": len(group.runs)}


def _pick(entries: list[dict], key: str) -> dict | None:
    """The entry with the highest mean of `key` (first in config order on a tie)."""
    scored = [e for e in entries if is_number(e[key]["mean"])]
    return max(scored, key=lambda e: e[key]["mean"]) if scored else None


def _acc(stat: dict) -> str:
    if stat["half"] is not None and stat["clipped"]:
        return f"{pct(stat['mean'])} [{pct(stat['low'])}, {pct(stat['high'])}]"
    if stat["half"] is not None:
        return f"{pct(stat['mean'])} ± {points(stat['half'])}"
    if stat["n"] > 1:  # too few seeds for an interval: their range
        return f"{pct(stat['mean'])} (range {interval_pct(stat['min'], stat['max'])})"
    return pct(stat["mean"])


def _seeds(n: int) -> str:
    return f"mean of {n} seeds" if n > 1 else "one seed"


def choice_lines(block: str, dataset: str, by_split: dict[str, list[dict]]) -> tuple[dict | None, list[str]]:
    """The chosen variant of a block on a data set and the sentences saying how it was chosen."""
    if by_split.get(THREE.name):  # chosen on validation that is not the test set
        entries = by_split[THREE.name]
        chosen, best_test = _pick(entries, "val"), _pick(entries, "test")
        if chosen is None:
            return None, [f"{block} on {dataset}: no three-split variant completed, so none is chosen."]
        lines = [f"{block} on {dataset} (a sweep of {len(entries)} variants): validation accuracy of the three-split "
                 f"runs picks {chosen['variant']} (validation {_acc(chosen['val'])}, {_seeds(chosen['val']['n'])}); "
                 f"its test accuracy is {_acc(chosen['test'])}."]
        if best_test is not None and best_test is not chosen:
            lines.append(f"The highest test accuracy, {_acc(best_test['test'])}, belongs to {best_test['variant']}; "
                         f"it is not the choice: picking the variant on the test set would bias the figure reported "
                         f"upwards.")
        return {**chosen, "split": THREE.name}, lines
    entries = by_split.get(TWO.name) or []
    chosen = _pick(entries, "val")
    if chosen is None:
        return None, [f"{block} on {dataset}: no variant completed, so none is chosen."]
    return {**chosen, "split": TWO.name}, [
        f"{block} on {dataset} (a sweep of {len(entries)} variants): only two-split runs, whose validation part is "
        f"the test set, so the choice of {chosen['variant']} was made on the test set: its test accuracy, "
        f"{_acc(chosen['test'])}, is biased upwards. Run the three-split variant to choose on validation."]


def _is_log_spaced(values: list[float]) -> bool:
    """Positive values spread over a factor of 3 or more whose median sits nearer their geometric
    middle than their arithmetic one: a grid such as 0.005, 0.02, 0.08, or log-uniform draws
    (uniform draws from 0.0 to 0.5 stay on a linear axis)."""
    if len(values) < 3 or not all(is_number(v) and v > 0 for v in values):
        return False
    lo, hi = min(values), max(values)
    if hi / lo < 3:
        return False
    ordered = sorted(values)
    mid = len(ordered) // 2
    median = ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2
    geometric, arithmetic = math.sqrt(lo * hi), (lo + hi) / 2
    return abs(math.log(median / geometric)) < abs(math.log(median / arithmetic))


def _axis_value(value):
    """A setting as a number on an x axis (booleans as 0 and 1), or None for text and lists."""
    if isinstance(value, bool):
        return float(value)
    return float(value) if is_number(value) else None


def sensitivity_figure(block: str, dataset: str, split: str, keys: list[str], entries: list[dict],
                       chosen: dict | None) -> list[dict]:
    """One figure per swept key: validation (solid) and test (dashed) accuracy against the key's value,
    mean over seeds with bars of its 95% interval; with two keys one line per value of the other."""
    found = []
    for key in keys:
        others = [k for k in keys if k != key]
        xs_all = [e["settings"][key] for e in entries]
        numeric = all(_axis_value(v) is not None for v in xs_all)
        categories = list(dict.fromkeys(value_text(v) for v in xs_all))
        log = numeric and _is_log_spaced([_axis_value(v) for v in xs_all])

        def x_of(value):
            return _axis_value(value) if numeric else float(categories.index(value_text(value)))

        # Lines: one per value of the other key (two keys), else one per variant group of the same x.
        line_of = {}
        if len(others) == 1:
            values = list(dict.fromkeys(value_text(e["settings"][others[0]]) for e in entries))
            if len(values) <= MAX_LINES:
                line_of = {v: f"{others[0]} = {v}" for v in values}
        groups: dict[str, dict[float, list[dict]]] = {}
        for e in entries:
            other = value_text(e["settings"][others[0]]) if line_of else ""
            label = line_of.get(other, "all variants" if not others else f"mean over {', '.join(others)}")
            groups.setdefault(label, {}).setdefault(x_of(e["settings"][key]), []).append(e)
        # A random search draws a new value for each variant: its points are not joined into lines.
        connect = not others or bool(line_of) or len({x_of(e["settings"][key]) for e in entries}) * 2 <= len(entries)
        w, h, left, top = 330, 210, 56, 30
        xs = sorted({x for g in groups.values() for x in g})
        xscale = Scale.fit(xs, 0, w, log=log, pad=0.08)
        ys = [e[s]["mean"] for e in entries for s in ("val", "test") if is_number(e[s]["mean"])]
        yscale = Scale.fit(ys, h, 0, pad=0.12)
        # Ticks at the swept values themselves while they are few (a grid); a random search gets the axis's own.
        xticks = (xs if len(xs) <= 10 else None) if numeric else list(range(len(categories)))
        panel = Panel(left, top, w, h, xscale, yscale, title=f"{block} · {dataset} · {protocol(split).short}",
                      xlabel=f"{key}{' (log axis)' if log else ''}", ylabel="accuracy", yfmt=percent_tick,
                      xfmt=(svgplot.plain_number if numeric else (lambda t: categories[int(t)] if 0 <= t < len(
                          categories) else "")), xticks=xticks,
                      group={"data-dataset": dataset, "data-split": split})
        legend_entries = ([LegendEntry("validation", "#444"), LegendEntry("test", "#444", dash="5,3")] if connect
                          else [LegendEntry("validation", VAL, kind="point"), LegendEntry("test", TEST, kind="point")])
        for i, (label, by_x) in enumerate(groups.items()):
            color = LINE_COLORS[i % len(LINE_COLORS)] if len(groups) > 1 else VAL
            line_xs = sorted(by_x)
            for stat, dash in (("val", None), ("test", "5,3")):
                means, halves, tips = [], [], []
                for x in line_xs:
                    members = by_x[x]
                    vals = [m[stat]["mean"] for m in members if is_number(m[stat]["mean"])]
                    mean = sum(vals) / len(vals) if vals else None
                    # No bar that would reach past 0% or 100% (the sweep's table gives its cut ends).
                    half = (members[0][stat]["half"] if len(members) == 1 and not members[0][stat]["clipped"]
                            else None)
                    means.append(mean)
                    halves.append(half)
                    names = ", ".join(m["variant"] for m in members[:3]) + (
                        f" and {len(members) - 3} more" if len(members) > 3 else "")
                    tips.append(f"{'validation' if stat == 'val' else 'test'} {pct(mean)}"
                                f"{f' ± {points(half)}' if half else ''} ({names})")
                if connect:
                    panel.line(line_xs, means, color, dash=dash, tips=tips, label=f"{label} · {stat}")
                for x, m, hf, t in zip(line_xs, means, halves, tips):
                    if m is not None:
                        panel.point(x, m, color if connect else (VAL if stat == "val" else TEST), t, yerr=hf,
                                    r=2.5 if connect else 3.5)
            if len(groups) > 1 and connect:
                legend_entries.append(LegendEntry(label, color))
        if chosen is not None:
            cx = x_of(chosen["settings"][key])
            if is_number(chosen["test"]["mean"]):
                panel.raw(f'<circle class="chosen" cx="{svgplot.num(panel.px(cx))}" '
                          f'cy="{svgplot.num(panel.py(chosen["test"]["mean"]))}" r="7" fill="none" stroke="#222" '
                          f'stroke-width="1.4"><title>chosen: {svgplot.esc(chosen["variant"])}</title></circle>')
            legend_entries.append(LegendEntry("chosen variant (test)", "#222", kind="ring"))
        legend_svg, lw, lh = svgplot.legend(legend_entries, left + w + 18, top)
        height = max(top + h + 44, top + lh + 10)
        svg = svgplot.figure(left + w + 18 + lw + 10, height, panel.render() + legend_svg,
                             data={"data-dataset": dataset, "data-split": split, "data-sweep": block,
                                   "data-key": key},
                             title=f"{block} on {dataset}, {protocol(split).short}: accuracy against {key}")
        found.append({"key": key, "log": log, "svg": svg})
    return found


def variant_table(entries: list[dict], keys: list[str], chosen: dict | None, dataset: str, split: str) -> dict:
    """Rows of the sortable table: the variant, each swept setting, validation and test accuracy."""
    rows = []
    for e in entries:
        is_chosen = chosen is not None and e["variant"] == chosen["variant"] and chosen["split"] == split
        cells = [{"value": e["variant"], "text": e["variant"] + (" ★ chosen" if is_chosen else "")}]
        for key in keys:
            value = e["settings"][key]
            cells.append({"value": value if is_number(value) else value_text(value), "text": value_text(value)})
        for stat in ("val", "test"):
            s = e[stat]
            cells.append({"value": s["mean"] if s["mean"] is not None else "", "text": _acc(s) if s["n"] else "–",
                          "title": f"{s['mean']} (n = {s['n']})"})
        cells.append({"value": e["n"], "text": f"{e['n']} / {e['runs']}"})
        rows.append({"cells": cells, "chosen": is_chosen,
                     "data": {"data-dataset": dataset, "data-split": split, "data-model": e["variant"]}})
    return {"header": ["variant", *keys, "validation accuracy (%)", "test accuracy (%)", "completed runs"],
            "rows": rows}


def chosen_rows(study: Study, section: dict) -> Study:
    """The study without the variants that were not chosen (per data set): what the
    overview ranks, so that no variant is put forward by its test accuracy."""
    dropped = {(c["dataset"], v) for c in section["choices"] for b in [c["block"]]
               for v in section["variants_of"][b] if v != c["chosen"]}
    return study.where(lambda r: (r["dataset"], r["model"]) not in dropped)


def sweep_section(study: Study) -> dict:
    """{"choices": overview sentences, "blocks": [per block, data set and split: figures and table]}."""
    rows, sweeps = study.rows, study.sweeps
    found = {"choices": [], "blocks": [], "variants_of": {b: list(e["variants"]) for b, e in sweeps.items()}}
    for block, entry in sweeps.items():
        present = [v for v in entry["variants"] if any(r["model"] == v for r in rows)]
        if not present:
            continue
        datasets = list(dict.fromkeys(r["dataset"] for r in rows if r["model"] in present))
        for dataset in datasets:
            by_split = {}
            for split in (p.name for p in PROTOCOLS):
                stats = [_variant_stats(study, dataset, split, v, entry["variants"][v]) for v in present
                         if study.group_of(dataset, split, v)]
                if stats:
                    by_split[split] = stats
            chosen, lines = choice_lines(block, dataset, by_split)
            found["choices"].append({"block": block, "dataset": dataset, "lines": lines,
                                     "chosen": chosen["variant"] if chosen else None,
                                     "chosen_split": chosen["split"] if chosen else None})
            for split, stats in by_split.items():
                split_choice = _pick(stats, "val")
                split_choice = {**split_choice, "split": split} if split_choice else None
                found["blocks"].append({
                    "block": block, "dataset": dataset, "split": split, "keys": entry["keys"],
                    "variants": len(stats),
                    "note": ("two splits: validation is the test set, so this pick is made on the test set"
                             if protocol(split).biased else "chosen by validation accuracy (mean over seeds)"),
                    "chosen": split_choice["variant"] if split_choice else None,
                    "figures": sensitivity_figure(block, dataset, split, entry["keys"], stats, split_choice),
                    "table": variant_table(stats, entry["keys"], split_choice, dataset, split),
                    "data": {"data-dataset": dataset, "data-split": split},
                })
    return found
