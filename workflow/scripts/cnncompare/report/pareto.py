"""The Pareto front of a sweep: mean validation accuracy against the select
rule's objective (training time, parameters, ...), one point per variant that
is eligible to be chosen; of a halved sweep, those are the variants that
reached the last rung (the pruned ones have no finished run).

Validation, not test: the front is what the choice is made from. The front is
joined as a staircase and ringed as in the trade-off figures
(figures.tradeoff_figure); the band the rule chooses from lies above a dashed
line `within` points below the best; the chosen variant has the dark ring of
the sweep's other figures. A variant whose figure was measured on a busy
machine only is drawn hollow at that figure, left off the front: it is never
used to choose (selection.py).
"""

from __future__ import annotations

from cnncompare.protocols import protocol
from cnncompare.report import selection, svgplot
from cnncompare.report.figures import PALETTE
from cnncompare.report.numbers import pct, percent_tick, points
from cnncompare.report.stats import is_number, pareto_front
from cnncompare.report.svgplot import LegendEntry, Panel, Scale, num
from cnncompare.plan.sweeps import value_text

POINT, BUSY, FRONT, CHOSEN = PALETTE[0], "#999", "#555", "#222"


def _short(entry: dict) -> str:
    """A variant's label on the figure: its swept settings (lr 0.01, batch_size 64)."""
    return ", ".join(f"{k} {value_text(v)}" for k, v in sorted(entry["settings"].items()))


def front_of(entries: list[dict], rule: dict) -> list[dict]:
    """The eligible entries with an objective figure that no other beats on both validation accuracy and
    the objective, in order of the objective (best first)."""
    obj = selection.objective(rule)
    sign = 1 if obj.lower_is_better else -1
    placed = [e for e in entries if e["eligible"] and e["cost"]["n"] and is_number(e["val"]["mean"])]
    return [placed[i] for i in pareto_front([(sign * e["cost"]["mean"], e["val"]["mean"]) for e in placed])]


def pareto_figure(block: str, dataset: str, split: str, entries: list[dict], chosen: dict | None,
                  rule: dict) -> dict:
    """{"key": "pareto", "log", "svg", "front": [variant, ...]} for one block, data set and split."""
    obj = selection.objective(rule)
    eligible = [e for e in entries if e["eligible"] and is_number(e["val"]["mean"])]
    measured = [e for e in eligible if e["cost"]["n"]]
    busy = [e for e in eligible if not e["cost"]["n"] and is_number(e["cost"]["flagged_mean"])]
    x_of = {e["variant"]: e["cost"]["mean"] if e["cost"]["n"] else e["cost"]["flagged_mean"] for e in measured + busy}
    xs = list(x_of.values())
    log = bool(xs) and min(xs) > 0 and max(xs) / min(xs) >= 10
    w, h, left, top = 330, 210, 56, 30
    xscale = Scale.fit(xs, 0, w, log=log, pad=0.12)
    best = max((e["val"]["mean"] for e in eligible), default=None)
    floor = best - rule["within"] / 100 if best is not None else None
    yscale = Scale.fit([e["val"]["mean"] for e in measured + busy], h, 0, pad=0.15,
                       include=[floor] if floor is not None else ())
    panel = Panel(left, top, w, h, xscale, yscale, title=f"{block} · {dataset} · {protocol(split).short}",
                  xlabel=f"{obj.label}{' (log axis)' if log else ''}", ylabel="validation accuracy",
                  yfmt=percent_tick, group={"data-dataset": dataset, "data-split": split})
    if floor is not None:
        panel.hline(floor, label=f"{points(rule['within'] / 100)} below the best")
    front = front_of(entries, rule)
    if front:
        fx, fy = [panel.px(x_of[e["variant"]]) for e in front], [panel.py(e["val"]["mean"]) for e in front]
        # A staircase from each front point along the objective to the next one's, then to its accuracy.
        path = f"M{num(fx[0])},{num(fy[0])}" + "".join(f"H{num(fx[i])}V{num(fy[i])}" for i in range(1, len(front)))
        panel.raw(f'<g class="front" data-front="{svgplot.esc("|".join(e["variant"] for e in front))}">'
                  f'<path d="{path}" fill="none" stroke="{FRONT}" stroke-width="1" stroke-opacity="0.7"/>'
                  + "".join(f'<circle cx="{num(a)}" cy="{num(b)}" r="8" fill="none" stroke="{FRONT}" '
                            f'stroke-width="1.1"/>' for a, b in zip(fx, fy)) + "</g>")
    labels = []
    for e in measured + busy:
        x, y = x_of[e["variant"]], e["val"]["mean"]
        data = {"data-dataset": dataset, "data-split": split, "data-model": e["variant"],
                "data-busy": "true" if e in busy else None}
        tip = f"{e['variant']}: validation {pct(y)}, {obj.text(x)}"
        if e in busy:
            tip += " (measured on a busy machine only: never used to choose)"
            panel.raw(f'<g class="mark"{svgplot.attrs(data)}><circle class="point busy" cx="{num(panel.px(x))}" '
                      f'cy="{num(panel.py(y))}" r="3.5" fill="#fff" stroke="{BUSY}" stroke-width="1.3" '
                      f'data-tip="{svgplot.esc(tip)}"><title>{svgplot.esc(tip)}</title></circle></g>')
        else:
            panel.point(x, y, POINT, tip, data, r=3.5)
        labels.append({"x": panel.px(x), "y": panel.py(y), "text": _short(e), "data": data})
    if chosen is not None and chosen["variant"] in x_of:
        panel.raw(f'<circle class="chosen" cx="{num(panel.px(x_of[chosen["variant"]]))}" '
                  f'cy="{num(panel.py(chosen["val"]["mean"]))}" r="11" fill="none" stroke="{CHOSEN}" '
                  f'stroke-width="1.6"><title>chosen: {svgplot.esc(chosen["variant"])}</title></circle>')
    svgplot.place_labels(panel, labels)
    entries_legend = [LegendEntry("variant (mean over seeds)", POINT, kind="point"),
                      LegendEntry("Pareto front", FRONT, kind="ring"),
                      LegendEntry("chosen by the select rule", CHOSEN, kind="ring"),
                      LegendEntry(f"within {points(rule['within'] / 100)} point{'' if rule['within'] == 1 else 's'} "
                                  f"of the best", "#666", dash="5,4")]
    if busy:
        entries_legend.append(LegendEntry("busy machine: not used", BUSY, kind="ring"))
    legend_svg, lw, lh = svgplot.legend(entries_legend, left + w + 18, top)
    svg = svgplot.figure(left + w + 18 + lw + 10, max(top + h + 44, top + lh + 10), panel.render() + legend_svg,
                         data={"data-dataset": dataset, "data-split": split, "data-sweep": block,
                               "data-key": "pareto"},
                         title=f"{block} on {dataset}, {protocol(split).short}: validation accuracy against "
                               f"{obj.label}, the Pareto front")
    return {"key": "pareto", "log": log, "svg": svg, "front": [e["variant"] for e in front]}
