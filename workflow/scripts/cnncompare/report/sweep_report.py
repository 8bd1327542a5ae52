"""The report's sweep section: for each swept model block, data set and split,
which variant won, how each setting mattered, and every variant in a table.

The winner is chosen honestly: by mean validation accuracy over seeds of the
three-split runs, whose validation part is drawn from the training images, and
only then is its test accuracy reported. Two-split runs validate on the test
set itself, so a choice among them is a choice made on the test set, and the
report says so.

A variant is eligible only when every planned seed of it completed: one that
won on the seed that survived while its others diverged or failed is not
chosen, and the choice's sentence names the seeds it lost. The planned seeds of
a data set and split are those of its runs: the plan crosses every model with
the same `compare.seeds`, and a run that failed is in the study's rows with
status "failed" (the partial report). Variants within noise of the chosen one
on validation are named beside it: those whose 95% Wilson interval of
validation accuracy, taken over all their seeds (lowest low to highest high),
overlaps the chosen variant's.

Which runs are variants of which block comes from the render rule's `models`
param ({variant: {"sweep": {"block", "keys", "settings"}}}), written by the
plan (cnncompare.plan.sweeps); summary.csv is not changed by sweeps.
"""

from __future__ import annotations

import math

from scipy.stats import binomtest

from cnncompare.protocols import PROTOCOLS, THREE, TWO, protocol
from cnncompare.report import halving, pareto, selection, svgplot
from cnncompare.report.figures import PALETTE, model_colors, model_markers
from cnncompare.report.numbers import interval_pct, pct, percent_tick, points
from cnncompare.report.stats import is_number, mean_interval
from cnncompare.report.study import Study
from cnncompare.report.svgplot import LegendEntry, Panel, Scale
from cnncompare.plan.sweeps import value_text

# Validation and test in every sensitivity plot (also told apart by solid and dashed lines, and by a
# circle and a square where points are not joined), and the lines of a second key's values (each with a
# marker of its own too): the report's colour-blind-safe palette.
VAL, TEST = PALETTE[0], PALETTE[1]
LINE_COLORS = PALETTE
MAX_LINES = 6  # values of the second key drawn as lines; more are averaged into one line


def planned_seeds(study: Study, dataset: str, split: str) -> list[int]:
    """The seeds planned for a data set and split: those of any of its runs, whatever their status."""
    return sorted({int(r["seed"]) for r in study.rows if (r["dataset"], r["split"]) == (dataset, split)})


def _variant_stats(study: Study, dataset: str, split: str, variant: str, settings: dict,
                   rule: dict | None = None) -> dict:
    """A variant's validation and test accuracy over its completed seeds on one data set and split,
    the seeds it lost ((seed, status) of those that diverged, failed or are missing), whether
    it is eligible to be chosen (every planned seed completed), and with a choice `rule` its cost
    in the rule's objective (selection.cost)."""
    group = study.group_of(dataset, split, variant)
    # Its completed runs (a diverged run has no test accuracy, a failed one no status "completed").
    done = [r for r in group.runs if r.get("status") == "completed"]
    val = mean_interval([r.get("val_acc") for r in done])
    test = mean_interval([r.get("test_acc") for r in done])
    status = {int(r["seed"]): str(r.get("status") or "unknown") for r in group.runs}
    planned = planned_seeds(study, dataset, split)
    lost = [(seed, status.get(seed, "missing")) for seed in planned if status.get(seed) != "completed"]
    return {"variant": variant, "settings": settings, "val": val, "test": test, "n": len(done),
            "runs": len(group.runs), "planned": len(planned), "lost": lost, "eligible": bool(done) and not lost,
            "val_wilson": wilson_span(done),
            "cost": selection.cost(done, selection.objective(rule)) if rule else None}


def wilson_span(runs: list[dict]) -> tuple[float, float] | None:
    """The lowest low and highest high of each run's 95% Wilson interval of validation accuracy
    (scipy.stats.binomtest on val_acc x val_size images); None without the sizes."""
    lows, highs = [], []
    for r in runs:
        acc, n = r.get("val_acc"), r.get("val_size")
        if not (is_number(acc) and is_number(n) and n > 0):
            return None
        ci = binomtest(round(acc * n), int(n)).proportion_ci(confidence_level=0.95, method="wilson")
        lows.append(ci.low)
        highs.append(ci.high)
    return (min(lows), max(highs)) if lows else None


def _pick(entries: list[dict], key: str) -> dict | None:
    """The entry with the highest mean of `key` (first in config order on a tie)."""
    scored = [e for e in entries if is_number(e[key]["mean"])]
    return max(scored, key=lambda e: e[key]["mean"]) if scored else None


def _choose(entries: list[dict]) -> dict | None:
    """The eligible entry (every planned seed completed) with the highest mean validation accuracy."""
    return _pick([e for e in entries if e["eligible"]], "val")


def _choose_by(entries: list[dict], rule: dict | None) -> tuple[dict | None, list[str]]:
    """The choice of the block's rule (selection.choose; without one, _choose) and its sentences."""
    return selection.choose(entries, rule, _choose(entries))


def _lost_text(entry: dict) -> str:
    """'seed 1 diverged, seed 2 failed (1 of 3 planned seeds completed)'"""
    lost = ", ".join(f"seed {seed} {status}" for seed, status in entry["lost"])
    return f"{lost} ({entry['n']} of {entry['planned']} planned seeds completed)"


def _within_noise(chosen: dict, entries: list[dict]) -> list[dict]:
    """Eligible variants whose validation Wilson span overlaps the chosen one's."""
    span = chosen["val_wilson"]
    if span is None:
        return []
    return [e for e in entries if e is not chosen and e["eligible"] and e["val_wilson"] is not None
            and e["val_wilson"][0] <= span[1] and span[0] <= e["val_wilson"][1]]


def _eligibility_lines(chosen: dict | None, entries: list[dict]) -> list[str]:
    """Sentences naming the variants passed over for lost seeds (those that would otherwise have won
    first), and the variants within noise of the chosen one."""
    lines = []
    best_any = _pick(entries, "val")
    passed = [e for e in entries if not e["eligible"] and e["lost"]]
    if best_any is not None and best_any is not chosen and not best_any["eligible"]:
        lines.append(f"{best_any['variant']} had the highest validation accuracy ({_acc(best_any['val'])}, "
                     f"{_seeds(best_any['val']['n'])}) but is not eligible: {_lost_text(best_any)}.")
    others = [e for e in passed if e is not best_any]
    if others:
        lines.append("Not eligible, for seeds that did not complete: "
                     + "; ".join(f"{e['variant']}: {_lost_text(e)}" for e in others) + ".")
    if chosen is not None:
        close = _within_noise(chosen, entries)
        if close:
            lines.append(f"Within noise of {chosen['variant']} on validation (their 95% Wilson intervals of "
                         f"validation accuracy, over every seed, overlap): "
                         f"{', '.join(e['variant'] for e in close)}.")
    return lines


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


def _picks(rule: dict | None) -> str:
    return "picks" if rule is None else "and the select rule below pick"


def _size(entries: list[dict], halved_from: int | None) -> str:
    """'a sweep of 9 variants'; of a halved sweep, how many of them reached the last rung."""
    if halved_from is None:
        return f"a sweep of {len(entries)} variants"
    return f"a halved sweep of {halved_from} variants, {len(entries)} of them at the last rung"


def choice_lines(block: str, dataset: str, by_split: dict[str, list[dict]],
                 rule: dict | None = None, halved_from: int | None = None) -> tuple[dict | None, list[str]]:
    """The chosen variant of a block on a data set and the sentences saying how it was chosen
    (with a `select` rule, the rule's sentences follow the first; `halved_from`: the variants a halved
    sweep started with, of which `by_split` holds those of the last rung)."""
    if by_split.get(THREE.name):  # chosen on validation that is not the test set
        entries = by_split[THREE.name]
        (chosen, rule_lines), best_test = _choose_by(entries, rule), _pick(entries, "test")
        if chosen is None:
            return None, [f"{block} on {dataset}: no three-split variant completed all its planned seeds, so "
                          "none is chosen.", *_eligibility_lines(None, entries)]
        lines = [f"{block} on {dataset} ({_size(entries, halved_from)}): validation accuracy of the three-split "
                 f"runs {_picks(rule)} {chosen['variant']} (validation {_acc(chosen['val'])}, "
                 f"{_seeds(chosen['val']['n'])}); its test accuracy is {_acc(chosen['test'])}."]
        lines += rule_lines + _eligibility_lines(chosen, entries)
        if best_test is not None and best_test is not chosen:
            lines.append(f"The highest test accuracy, {_acc(best_test['test'])}, belongs to {best_test['variant']}; "
                         f"it is not the choice: picking the variant on the test set would bias the figure reported "
                         f"upwards.")
        return {**chosen, "split": THREE.name}, lines
    entries = by_split.get(TWO.name) or []
    chosen, rule_lines = _choose_by(entries, rule)
    if chosen is None:
        return None, [f"{block} on {dataset}: no variant completed all its planned seeds, so none is chosen.",
                      *_eligibility_lines(None, entries)]
    return {**chosen, "split": TWO.name}, [
        f"{block} on {dataset} ({_size(entries, halved_from)}): only two-split runs, whose validation part is "
        f"the test set, so the choice of {chosen['variant']} was made on the test set: its test accuracy, "
        f"{_acc(chosen['test'])}, is biased upwards. Run the three-split variant to choose on validation.",
        *rule_lines, *_eligibility_lines(chosen, entries)]


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
                          else [LegendEntry("validation", VAL, kind="point"),
                                LegendEntry("test", TEST, kind="point", marker="square")])
        for i, (label, by_x) in enumerate(groups.items()):
            color = LINE_COLORS[i % len(LINE_COLORS)] if len(groups) > 1 else VAL
            shape = svgplot.MARKERS[i % len(svgplot.MARKERS)]
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
                                    r=2.5 if connect else 3.5,
                                    shape=shape if connect else ("circle" if stat == "val" else "square"))
            if len(groups) > 1 and connect:
                legend_entries.append(LegendEntry(label, color, marker=shape))
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


def variant_table(entries: list[dict], keys: list[str], chosen: dict | None, dataset: str, split: str,
                  rule: dict | None = None) -> dict:
    """Rows of the sortable table: the variant, each swept setting, validation and test accuracy (and with
    a select `rule`, the rule's objective)."""
    obj = selection.objective(rule)
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
        if obj is not None:
            cells.append(selection.cost_cell(e["cost"], obj))
        cells.append({"value": e["n"], "text": f"{e['n']} / {e['planned']}" + ("" if e["eligible"] else " (not eligible)"),
                      "title": _lost_text(e) if e["lost"] else "every planned seed completed"})
        rows.append({"cells": cells, "chosen": is_chosen,
                     "data": {"data-dataset": dataset, "data-split": split, "data-model": e["variant"]}})
    return {"header": ["variant", *keys, "validation accuracy (%)", "test accuracy (%)",
                       *([obj.label] if obj else []), "completed seeds"], "rows": rows}


def chosen_rows(study: Study, section: dict) -> Study:
    """The study without the variants that were not chosen (per data set): what the
    overview ranks, so that no variant is put forward by its test accuracy."""
    dropped = {(c["dataset"], v) for c in section["choices"] for b in [c["block"]]
               for v in section["variants_of"][b] if v != c["chosen"]}
    return study.where(lambda r: (r["dataset"], r["model"]) not in dropped)


def _winner_line(choice: dict | None, split: str, rule: dict | None) -> str | None:
    """The halved sweep's winner in one sentence: chosen on validation, then its test accuracy."""
    if choice is None:
        return None
    how = "by the select rule, " if rule else ""
    on = ("on validation, which in the two-split runs is the test set (biased upwards)" if protocol(split).biased
          else "on validation")
    return (f"Winner, chosen {how}{on}: {choice['variant']} (validation {_acc(choice['val'])}, "
            f"{_seeds(choice['val']['n'])}); its test accuracy is {_acc(choice['test'])}.")


def _halving_blocks(found: dict, halved: dict | None) -> None:
    """Halved groups of a block, data set and split that has no finished run (no variant reached the last
    rung): a block of their own, without the variant figures and table."""
    shown = {(b["block"], b["dataset"], b["split"]) for b in found["blocks"]}
    for group in (halved or {}).get("groups", []):
        key = (group["block"], group["dataset"], group["split"])
        if key in shown:
            continue
        shown.add(key)
        found["blocks"].append({
            "block": key[0], "dataset": key[1], "split": key[2], "keys": [], "variants": len(group["variants"]),
            "note": "no variant of this halved sweep has reached its last rung yet", "chosen": None, "figures": [],
            "table": None, "data": {"data-dataset": key[1], "data-split": key[2]},
            "halving": [halving.halving_part(g, None, None) for g in halving.groups_of(halved, *key)]})


def sweep_section(study: Study, halved: dict | None = None) -> dict:
    """{"choices": overview sentences, "blocks": [per block, data set and split: figures and table, and for a
    halved sweep its rungs (halving.py; `halved`: halving.read_halving's)]}."""
    rows, sweeps = study.rows, study.sweeps
    # The page's colour and marker of each model (render.build_page makes them from the same names).
    colors = model_colors(study.model_names)
    markers = model_markers(list(colors), colors)
    found = {"choices": [], "blocks": [], "variants_of": {b: list(e["variants"]) for b, e in sweeps.items()}}
    for block, entry in sweeps.items():
        rule = entry.get("select")
        present = [v for v in entry["variants"] if any(r["model"] == v for r in rows)]
        if not present:
            continue
        datasets = list(dict.fromkeys(r["dataset"] for r in rows if r["model"] in present))
        for dataset in datasets:
            by_split = {}
            for split in (p.name for p in PROTOCOLS):
                stats = [_variant_stats(study, dataset, split, v, entry["variants"][v], rule) for v in present
                         if study.group_of(dataset, split, v)]
                if stats:
                    by_split[split] = stats
            halved_groups = [g for g in (halved or {}).get("groups", []) if (g["block"], g["dataset"]) == (block, dataset)]
            halved_from = max((len(g["variants"]) for g in halved_groups), default=None)
            chosen, lines = choice_lines(block, dataset, by_split, rule, halved_from)
            found["choices"].append({"block": block, "dataset": dataset, "lines": lines,
                                     "chosen": chosen["variant"] if chosen else None,
                                     "chosen_split": chosen["split"] if chosen else None})
            for split, stats in by_split.items():
                split_choice = _choose_by(stats, rule)[0]
                split_choice = {**split_choice, "split": split} if split_choice else None
                figures = sensitivity_figure(block, dataset, split, entry["keys"], stats, split_choice)
                if rule:
                    figures.append(pareto.pareto_figure(block, dataset, split, stats, split_choice, rule))
                found["blocks"].append({
                    "block": block, "dataset": dataset, "split": split, "keys": entry["keys"],
                    "variants": len(stats),
                    "note": ("two splits: validation is the test set, so this pick is made on the test set"
                             if protocol(split).biased else "chosen by validation accuracy (mean over seeds)")
                            + (f", with the select rule: {selection.rule_text(rule)}" if rule else "")
                            + "; only a variant whose every planned seed completed is eligible",
                    "chosen": split_choice["variant"] if split_choice else None,
                    "figures": figures,
                    "table": variant_table(stats, entry["keys"], split_choice, dataset, split, rule),
                    "halving": [halving.halving_part(g, _winner_line(split_choice, split, rule),
                                                     split_choice["variant"] if split_choice else None,
                                                     colors, markers)
                                for g in halving.groups_of(halved, block, dataset, split)],
                    "data": {"data-dataset": dataset, "data-split": split},
                })
    _halving_blocks(found, halved)
    return found
