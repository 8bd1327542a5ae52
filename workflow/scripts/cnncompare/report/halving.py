"""The sweep section's part for a halved sweep (successive halving), read from
`{results_dir}/sweeps/halving.json`, which the workflow writes whenever the
plan halves a sweep. Its format is fixed (keys may be added, never renamed or
removed): per group of one data set, split, block and bracket, the rungs
(epochs trained up to, variants entered, runs, scores, promoted, tied,
finished), each variant's last rung, stopped epoch, pruned flag and the paths
of its seeds' history.csv, and the epochs spent against the full grid.

Shown per group: each variant's validation curve (mean over its seeds) up to
the epoch where it stopped, pruned ones greyed and the survivors in colour;
the rung table; the epochs spent against the full grid; and the winner, chosen
on validation by the sweep's rule (sweep_report), with its test accuracy.
Variants that reached the last rung are ordinary finished runs: the winner's
figures come from the study's rows like any run's.
"""

from __future__ import annotations

from pathlib import Path

from cnncompare.fileio import read_json
from cnncompare.protocols import protocol
from cnncompare.report import svgplot
from cnncompare.report.figures import PALETTE
from cnncompare.report.numbers import count, pct, percent_tick, share
from cnncompare.report.report_data import ReportDataError, read_rows
from cnncompare.report.stats import describe, is_number
from cnncompare.report.svgplot import LegendEntry, Panel, Scale

PRUNED, RUNG_LINE, CHOSEN = "#b8b8b8", "#999", "#222"

GROUP_KEYS = ("dataset", "split", "block", "bracket", "eta", "min_epochs", "epochs", "seeds", "full_grid_epochs",
              "planned_epochs", "spent_epochs", "rungs", "variants")
RUNG_KEYS = ("rung", "epochs", "variants", "runs", "scores", "promoted", "tied", "finished")
VARIANT_KEYS = ("last_rung", "stopped_epoch", "pruned", "history")


def _need(where: str, value, keys, path) -> None:
    if not isinstance(value, dict):
        raise ReportDataError(f"{path}: {where} is not a mapping")
    missing = [k for k in keys if k not in value]
    if missing:
        raise ReportDataError(f"{path}: {where} has no {', '.join(repr(k) for k in missing)}")


def read_halving(path, base=None) -> dict:
    """halving.json, checked, with each variant's `curves` ({seed: its history rows}) read from its
    history.csv paths (relative to `base`, by default the folder Snakemake runs in). A missing key or
    file is an error naming halving.json and the key or the file."""
    data = read_json(path)
    _need("the file", data, ("groups",), path)
    base = Path(base) if base is not None else Path.cwd()
    for i, group in enumerate(data["groups"]):
        _need(f"groups[{i}]", group, GROUP_KEYS, path)
        for j, rung in enumerate(group["rungs"]):
            _need(f"groups[{i}].rungs[{j}]", rung, RUNG_KEYS, path)
        for name, variant in group["variants"].items():
            where = f"groups[{i}].variants.{name}"
            _need(where, variant, VARIANT_KEYS, path)
            variant["curves"] = {}
            for seed, history in variant["history"].items():
                file = base / history
                if not file.is_file():
                    raise ReportDataError(f"{path}: {where}.history.{seed}: {history} does not exist")
                variant["curves"][str(seed)] = read_rows(file)
    return data


def groups_of(halving: dict | None, block: str, dataset: str, split: str) -> list[dict]:
    return [g for g in (halving or {}).get("groups", []) if (g["block"], g["dataset"], g["split"]) ==
            (block, dataset, split)]


def spent_text(group: dict) -> str:
    """'54 of 162 epochs, 33%, of what the full grid (9 variants × 2 seeds × 9 epochs) would train'."""
    full, spent, planned = group["full_grid_epochs"], group["spent_epochs"], group["planned_epochs"]
    first = group["rungs"][0]["variants"] if group["rungs"] else []
    text = (f"{count(spent)} of {count(full)} epochs, {share(spent / full) if full else '–'}, of what the full grid "
            f"({count(len(first))} variants × {count(len(group['seeds']))} seeds × {count(group['epochs'])} epochs) "
            f"would train")
    if planned != spent:
        text += f"; the plan's halving trains {count(planned)}"
    return text


def _names(names: list[str]) -> str:
    return ", ".join(names) if names else "–"


def rung_table(group: dict) -> dict:
    """Rows of the rung table: rung, epochs, variants entered, runs, promoted, tied, finished."""
    rows = []
    for rung in group["rungs"]:
        scores = rung["scores"]
        ranked = sorted(scores, key=lambda v: -(scores[v].get("mean_val_acc")
                                               if is_number(scores[v].get("mean_val_acc")) else -1))
        detail = "; ".join(f"{v}: {'diverged' if scores[v].get('diverged') else pct(scores[v].get('mean_val_acc'))}"
                           for v in ranked)
        rows.append({"data": {"data-rung": rung["rung"]}, "cells": [
            {"value": rung["rung"], "text": str(rung["rung"])},
            {"value": rung["epochs"], "text": count(rung["epochs"])},
            {"value": len(rung["variants"]), "text": count(len(rung["variants"])), "title": _names(rung["variants"])},
            {"value": rung["runs"], "text": count(rung["runs"])},
            {"value": len(rung["promoted"]), "text": f"{count(len(rung['promoted']))}"
             + (f": {_names(rung['promoted'])}" if 0 < len(rung["promoted"]) <= 3 else ""),
             "title": detail or "no scores yet"},
            {"value": len(rung["tied"]), "text": _names(rung["tied"]),
             "title": "promoted because within noise of the cut, not on luck"},
            {"value": int(bool(rung["finished"])), "text": "yes" if rung["finished"] else "not yet"},
        ]})
    return {"header": ["rung", "trained to epoch", "variants entered", "runs", "promoted",
                       "tied at the cut (promoted)", "finished"], "rows": rows}


def _mean_curve(variant: dict) -> tuple[list[int], list[float]]:
    """Validation accuracy per epoch, mean over the variant's seeds, up to its stopped epoch."""
    stop = variant["stopped_epoch"]
    epochs = sorted({int(r["epoch"]) for rows in variant["curves"].values() for r in rows if int(r["epoch"]) <= stop})
    means = [describe([r.get("val_acc") for rows in variant["curves"].values() for r in rows
                       if int(r["epoch"]) == e])["mean"] for e in epochs]
    return epochs, means


def curves_figure(group: dict, chosen: str | None, colors: dict | None = None, markers: dict | None = None) -> str:
    """Each variant's validation curve up to the epoch where it stopped: pruned ones thin and grey, the
    variants of the last rung in their model colour and marker (`colors`, `markers`: the page's, from
    figures.model_colors; by order in the palette for a variant the page has no run of); dashed
    verticals at the rungs' epochs."""
    variants = group["variants"]
    curves = {name: _mean_curve(v) for name, v in variants.items()}
    last_epoch = max([group["epochs"], *(e for xs, _ in curves.values() for e in xs)])
    w, h, left, top = 430, 240, 56, 30
    xscale = Scale(0.6, last_epoch + 0.4, 0, w)
    yscale = Scale.fit([y for _, ys in curves.values() for y in ys], h, 0, pad=0.08)
    dataset, split = group["dataset"], group["split"]
    panel = Panel(left, top, w, h, xscale, yscale,
                  title=f"{group['block']} · {dataset} · {protocol(split).short} · bracket {group['bracket']}",
                  xlabel="epoch", ylabel="validation accuracy", yfmt=percent_tick,
                  xticks=[int(t) for t in svgplot.linear_ticks(1, last_epoch, min(last_epoch, 9))
                          if float(t).is_integer()], group={"data-dataset": dataset, "data-split": split})
    for rung in group["rungs"]:
        x = svgplot.num(panel.px(rung["epochs"]))
        panel.raw(f'<path class="rung" d="M{x},0V{svgplot.num(h)}" stroke="{RUNG_LINE}" stroke-width="1" '
                  f'stroke-dasharray="3,3"><title>rung {rung["rung"]}: trained to epoch {rung["epochs"]}</title></path>')
        # The label right of its line, but left of the last one (at the panel's right edge).
        right = panel.px(rung["epochs"]) > w - 40
        panel.labels.append(f'<text x="{svgplot.num(panel.x + panel.px(rung["epochs"]) + (-3 if right else 3))}" '
                            f'y="{svgplot.num(panel.y + h - 6)}" text-anchor="{"end" if right else "start"}" '
                            f'font-size="9" fill="{RUNG_LINE}">rung {rung["rung"]}</text>')
    survivors = [n for n, v in variants.items() if not v["pruned"]]
    color_of = {n: (colors or {}).get(n) or PALETTE[i % len(PALETTE)] for i, n in enumerate(survivors)}
    shape_of = {n: (markers or {}).get(n) or svgplot.MARKERS[i % len(svgplot.MARKERS)] for i, n in enumerate(survivors)}
    # Greyed first, so the survivors are drawn over them.
    for name in [n for n in variants if variants[n]["pruned"]] + survivors:
        epochs, means = curves[name]
        v = variants[name]
        data = {"data-dataset": dataset, "data-split": split, "data-model": name,
                "data-pruned": "true" if v["pruned"] else "false"}
        tips = [f"{name}: epoch {e}, validation {pct(m)}" + (f" (pruned after rung {v['last_rung']})"
                                                            if v["pruned"] else "") for e, m in zip(epochs, means)]
        if v["pruned"]:
            panel.line(epochs, means, PRUNED, width=1.1, data=data, tips=tips, label=f"{name} (pruned)")
            if epochs and is_number(means[-1]):  # where it stopped (a variant pruned at epoch 1 is this point)
                panel.point(epochs[-1], means[-1], PRUNED, tips[-1], {**data, "data-stop": epochs[-1]}, r=2.4)
            continue
        color, shape = color_of[name], shape_of[name]
        panel.line(epochs, means, color, width=2.0, data=data, tips=tips, label=name)
        if epochs and is_number(means[-1]):
            panel.raw(f'<g class="markers"{svgplot.attrs(data)}>'
                      + svgplot.marker(shape, panel.px(epochs[-1]), panel.py(means[-1]), 3.4, color) + "</g>")
            if name == chosen:
                panel.raw(f'<circle class="chosen" cx="{svgplot.num(panel.px(epochs[-1]))}" '
                          f'cy="{svgplot.num(panel.py(means[-1]))}" r="8" fill="none" stroke="{CHOSEN}" '
                          f'stroke-width="1.5"><title>chosen: {svgplot.esc(name)}</title></circle>')
    entries = [LegendEntry(n, color_of[n], marker=shape_of[n]) for n in survivors[:8]]
    if len(survivors) > 8:
        entries.append(LegendEntry(f"and {len(survivors) - 8} more at the last rung", "#666"))
    pruned = len(variants) - len(survivors)
    if pruned:
        entries.append(LegendEntry(f"pruned ({pruned} variant{'s' if pruned > 1 else ''}), to where it stopped",
                                   PRUNED, marker="circle"))
    if chosen in survivors:
        entries.append(LegendEntry("chosen variant", CHOSEN, kind="ring"))
    entries.append(LegendEntry("rung: trained to this epoch", RUNG_LINE, dash="3,3"))
    legend_svg, lw, lh = svgplot.legend(entries, left + w + 18, top)
    return svgplot.figure(left + w + 18 + lw + 10, max(top + h + 44, top + lh + 10), panel.render() + legend_svg,
                          data={"data-dataset": dataset, "data-split": split, "data-sweep": group["block"],
                                "data-key": "halving"},
                          title=f"{group['block']} on {dataset}, {protocol(split).short}: validation accuracy of "
                                f"each variant up to the rung where it stopped")


def halving_part(group: dict, winner_line: str | None, chosen: str | None, colors: dict | None = None,
                 markers: dict | None = None) -> dict:
    """What the page shows of one halved group (colors, markers: curves_figure's)."""
    unfinished = [r["rung"] for r in group["rungs"] if not r["finished"]]
    diverged = sorted({v for r in group["rungs"] for v, s in r["scores"].items() if s.get("diverged")})
    lines = [f"Successive halving (eta {group['eta']}, first rung at epoch {group['min_epochs']}, bracket "
             f"{group['bracket']}): {spent_text(group)}."]
    done = [r for r in group["rungs"] if r["finished"]]
    if done and len(done) == len(group["rungs"]):
        last = done[-1]
        lines.append(f"{count(len(last['variants']))} of {count(len(group['variants']))} variants reached the last "
                     f"rung (rung {last['rung']}, epoch {last['epochs']}): the figures and the table below show them.")
    if unfinished:
        lines.append(f"Not finished: rung{'s' if len(unfinished) > 1 else ''} "
                     f"{', '.join(map(str, unfinished))} {'have' if len(unfinished) > 1 else 'has'} not run yet.")
    if diverged:
        lines.append(f"Not promoted for a diverged seed: {', '.join(diverged)}.")
    if winner_line:
        lines.append(winner_line)
    return {"bracket": group["bracket"], "lines": lines, "figure": curves_figure(group, chosen, colors, markers),
            "table": rung_table(group), "spent_epochs": group["spent_epochs"],
            "full_grid_epochs": group["full_grid_epochs"]}
