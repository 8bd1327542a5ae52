"""The report's figures, as SVG text (written into the page and into files for
Snakemake's report), and PNG data URIs for image thumbnails.

Colour means model, in every figure, and a model's colour does not depend on
which other models are in the report (model_colors). Facets separate data sets
(rows) and splits (columns), so no line or Pareto front ever joins two
protocols. Every mark carries data-dataset, data-split and data-model (and
hover text), which the page's script filters and a test reads.

Nothing here reads or writes files; report.py decides where figures go.
"""

from __future__ import annotations

import base64
import io
import math
import zlib

import numpy as np

from cnncompare.protocols import headline_first, protocol
from cnncompare.report import svgplot
from cnncompare.report.numbers import learning_rate, loss, pct, percent, percent_tick, share
from cnncompare.report.stats import describe, pareto_front
from cnncompare.report.svgplot import LegendEntry, Panel, Scale, esc, num

# Okabe and Ito's palette, which readers with any common colour-vision deficiency tell apart
# (https://jfly.uni-koeln.de/color/): blue, vermillion, bluish green, orange, reddish purple, sky
# blue, black. Its yellow is left out (too faint for a thin line on white), and grey is left for
# reference lines. Colour is never alone: each model also has a marker (model_markers).
PALETTE = ["#0072B2", "#D55E00", "#009E73", "#E69F00", "#CC79A7", "#56B4E9", "#000000"]
MARKER_EVERY = 5  # a curve shows its model's marker on about this many epochs
REFERENCE = "#777"
PART_STYLES = {"val": ("validation", None, 1.8), "train": ("training", "2,3", 1.3)}


def model_colors(models: list[str]) -> dict[str, str]:
    """A colour per model, chosen by its name (a hash into PALETTE), so it stays
    when other models are added or removed. Two models whose names hash to one
    colour: the one listed first keeps it, the other takes the next free one
    (with compare.models in order, a model added at its end never changes an
    existing model's colour)."""
    colors, taken = {}, set()
    for model in dict.fromkeys(models):
        slot = zlib.crc32(model.encode()) % len(PALETTE)
        if len(taken) < len(PALETTE):
            while slot in taken:
                slot = (slot + 1) % len(PALETTE)
        taken.add(slot)
        colors[model] = PALETTE[slot]
    return colors


def model_markers(models: list[str], colors: dict[str, str] | None = None) -> dict[str, str]:
    """A marker shape per model (svgplot.MARKERS), chosen by its name as its colour is, so it too stays
    when other models are added: distinct shapes while there are free ones, and after that a shape no
    model of the same colour has, so two models never share both."""
    colors = colors or model_colors(models)
    shapes = svgplot.MARKERS
    markers, used, pairs = {}, set(), set()
    for model in dict.fromkeys(models):
        start = (zlib.crc32(model.encode()) // len(PALETTE)) % len(shapes)
        order = [(start + i) % len(shapes) for i in range(len(shapes))]
        free = [i for i in order if i not in used and (colors[model], i) not in pairs]
        slot = free[0] if free else next((i for i in order if (colors[model], i) not in pairs), start)
        used.add(slot)
        pairs.add((colors[model], slot))
        markers[model] = shapes[slot]
    return markers


def png_data_uri(image: np.ndarray) -> str:
    """A uint8 H x W x 3 image as an RGB PNG data URI, at its own size (the page scales it)."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(image, dtype=np.uint8), mode="RGB").save(buffer, format="PNG", optimize=True)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


# --- value texts (hover) ----------------------------------------------------------------------------


def loss_text(value, std=None) -> str:
    return loss(value) + (f" ± {loss(std)}" if std else "")


def _epoch_stats(histories: list[list[dict]], column: str):
    """Per epoch: the mean over runs and its standard deviation (None for one run)."""
    epochs = sorted({r["epoch"] for h in histories for r in h})
    means, stds = [], []
    for epoch in epochs:
        found = describe([r.get(column) for h in histories for r in h if r["epoch"] == epoch])
        means.append(found["mean"])
        stds.append(found["std"])
    return epochs, means, stds


def _epoch_ticks(last: int) -> list[int]:
    return [int(t) for t in svgplot.linear_ticks(1, max(last, 1), min(max(last, 1), 6)) if float(t).is_integer()]


def _facets(keys: list[tuple[str, str]]):
    """Rows of data sets, columns of splits (the headline first): the (dataset, split) of each cell."""
    datasets = list(dict.fromkeys(d for d, _ in keys))
    splits = headline_first({s for _, s in keys})
    return datasets, splits


def _legend_block(colors: dict[str, str], keys: list[LegendEntry], x: float, y: float, kind: str = "line",
                  markers: dict[str, str] | None = None):
    markers = markers or model_markers(list(colors), colors)
    models = [LegendEntry(m, c, kind, data={"data-legend-model": m}, marker=markers.get(m)) for m, c in colors.items()]
    body, w1, h1 = svgplot.legend(models, x, y, "model (click: hide)")
    key_svg, w2, h2 = svgplot.legend(keys, x, y + h1 + 10, "lines") if keys else ("", 0, 0)
    return body + key_svg, max(w1, w2), h1 + 10 + h2


# --- curves of every (data set, split, model) --------------------------------------------------------

PANEL_W, PANEL_H = 330, 200
LEFT, TOP, GAP_X, GAP_Y = 58, 30, 70, 62


def curves_figure(series: list[dict], metric: str, colors: dict[str, str], chance: dict[str, float] | None = None,
                  ylabel: str = "", markers: dict[str, str] | None = None) -> str:
    """Validation (solid) and training (dotted) `metric` per epoch: one panel per
    data set and split, one colour per model; a dashed chance level on accuracy,
    a log axis on loss.

    `series`: {dataset, split, model, label, histories}; several histories (the
    seeds of one model) are drawn as their mean, with a band of one standard
    deviation around the validation line."""
    keys = [(s["dataset"], s["split"]) for s in series]
    datasets, splits = _facets(keys)
    if not datasets:
        return svgplot.figure(300, 40, '<text x="10" y="24" font-size="12">No epochs to show.</text>')
    markers = markers or model_markers(list(colors), colors)
    log = metric == "loss"
    values = [r.get(f"{p}_{metric}") for s in series for h in s["histories"] for r in h for p in ("train", "val")]
    include = ([*(chance or {}).values(), 1.0] if metric == "acc" else [])
    last_epoch = max((r["epoch"] for s in series for h in s["histories"] for r in h), default=1)
    yfmt = percent_tick if metric == "acc" else svgplot.plain_number
    show = pct if metric == "acc" else loss_text
    panels = []
    for row, dataset in enumerate(datasets):
        for col, split in enumerate(splits):
            x, y = LEFT + col * (PANEL_W + GAP_X), TOP + row * (PANEL_H + GAP_Y)
            xscale = Scale(0.6, last_epoch + 0.4, 0, PANEL_W)
            yscale = Scale.fit(values, PANEL_H, 0, log=log, pad=0.03, include=include)
            if metric == "acc":
                yscale.hi = min(yscale.hi, 1.02)
            title = f"{dataset} · {protocol(split).title}" if len(datasets) > 1 else protocol(split).title
            panel = Panel(x, y, PANEL_W, PANEL_H, xscale, yscale, title=title, xlabel="epoch", ylabel=ylabel,
                          yfmt=yfmt, xticks=_epoch_ticks(last_epoch),
                          group={"data-dataset": dataset, "data-split": split})
            if metric == "acc" and chance and dataset in chance:
                panel.hline(chance[dataset], REFERENCE, "5,4", f"chance {pct(chance[dataset])}")
            for s in (s for s in series if (s["dataset"], s["split"]) == (dataset, split)):
                color = colors[s["model"]]
                data = {"data-dataset": dataset, "data-split": split, "data-model": s["model"]}
                for part in ("train", "val"):
                    name, dash, width = PART_STYLES[part]
                    epochs, means, stds = _epoch_stats(s["histories"], f"{part}_{metric}")
                    if part == "val" and len(s["histories"]) > 1:
                        panel.band(epochs, [m - (d or 0) if m is not None else None for m, d in zip(means, stds)],
                                   [m + (d or 0) if m is not None else None for m, d in zip(means, stds)],
                                   color, data)
                    tips = [f"epoch {e}: {show(m, d)}" if m is not None else "" for e, m, d in zip(epochs, means, stds)]
                    panel.line(epochs, means, color, dash, width, {**data, "data-part": part}, tips,
                               f"{s['label']} · {name}")
                    if part == "val":
                        _curve_markers(panel, epochs, means, color, markers[s["model"]], data, last_epoch)
            panels.append(panel)
    width = LEFT + len(splits) * (PANEL_W + GAP_X) - GAP_X
    keys = [LegendEntry("validation", "#444"), LegendEntry("training", "#444", dash="2,3")]
    if metric == "acc" and chance:
        keys.append(LegendEntry("chance (largest class)", REFERENCE, dash="5,4"))
    legend_svg, legend_w, legend_h = _legend_block(colors, keys, width + 24, TOP - 10, markers=markers)
    height = max(TOP + len(datasets) * (PANEL_H + GAP_Y) - GAP_Y + 44, TOP + legend_h)
    body = "".join(p.render() for p in panels) + legend_svg
    return svgplot.figure(width + 24 + legend_w + 10, height, body, title=ylabel)


def _curve_markers(panel: Panel, epochs, values, color: str, shape: str, data: dict, last_epoch: int) -> None:
    """The model's marker on about MARKER_EVERY of a validation line's epochs (the last included)."""
    step = max(1, round(last_epoch / MARKER_EVERY))
    shown = [(e, v) for e, v in zip(epochs, values)
             if v is not None and math.isfinite(v) and (v > 0 or not panel.yscale.log)
             and ((last_epoch - e) % step == 0)]
    if shown:
        panel.raw(f'<g class="markers"{svgplot.attrs(data)}>'
                  + "".join(svgplot.marker(shape, panel.px(e), panel.py(v), 3.2, color) for e, v in shown) + "</g>")


# --- one run's curves ------------------------------------------------------------------------------------


def run_panels(history: list[dict], title: str, color: str) -> str:
    """Small multiples of one run: accuracy, loss (log axis), learning rate."""
    w, h, left, top, gap = 190, 105, 48, 38, 64
    epochs = [r["epoch"] for r in history]
    last = max(epochs, default=1)
    xscale = Scale(0.6, last + 0.4, 0, w)
    specs = [
        ("accuracy", "acc", Scale.fit([r.get(f"{p}_acc") for r in history for p in ("train", "val")], h, 0, pad=0.05),
         percent_tick, pct),
        ("loss (log)", "loss", Scale.fit([r.get(f"{p}_loss") for r in history for p in ("train", "val")], h, 0,
                                         log=True), svgplot.plain_number, loss_text),
    ]
    parts = []
    for i, (name, metric, yscale, yfmt, show) in enumerate(specs):
        panel = Panel(left + i * (w + gap), top, w, h, Scale(xscale.lo, xscale.hi, 0, w), yscale, title=name,
                      xlabel="epoch", yfmt=yfmt, xticks=_epoch_ticks(last))
        for part in ("train", "val"):
            label, dash, width = PART_STYLES[part]
            ys = [r.get(f"{part}_{metric}") for r in history]
            tips = [f"epoch {e}: {show(v)}" if v is not None and math.isfinite(v) else "" for e, v in zip(epochs, ys)]
            panel.line(epochs, ys, color, dash, width, {"data-part": part}, tips, f"{title} · {label}")
        parts.append(panel.render())
    lrs = [r.get("lr") for r in history]
    panel = Panel(left + 2 * (w + gap), top, w, h, Scale(xscale.lo, xscale.hi, 0, w),
                  Scale.fit(lrs, h, 0, pad=0.05, include=[0.0]), title="learning rate (end of epoch)",
                  xlabel="epoch", xticks=_epoch_ticks(last))
    panel.line(epochs, lrs, REFERENCE, None, 1.4, None, [f"epoch {e}: {learning_rate(v)}" for e, v in zip(epochs, lrs)],
               f"{title} · learning rate")
    parts.append(panel.render())
    # The run's name and the line key on one row above the panels' titles.
    kx = left + svgplot.text_width(title, 10) + 16
    key = (f'<g class="legend-key" font-size="10" fill="{svgplot.INK}"><text x="{left}" y="12">{esc(title)}</text>'
           f'<path d="M{num(kx)},9h18" stroke="{color}" stroke-width="1.8"/><text x="{num(kx + 22)}" y="12">'
           f'validation</text><path d="M{num(kx + 84)},9h18" stroke="{color}" stroke-width="1.3" '
           f'stroke-dasharray="2,3"/><text x="{num(kx + 106)}" y="12">training</text></g>')
    return svgplot.figure(left + 3 * w + 2 * gap + 10, top + h + 40, key + "".join(parts), title=title)


# --- accuracy against a cost, with Pareto fronts ---------------------------------------------------------


def tradeoff_figure(points: list[dict], xlabel: str, colors: dict[str, str],
                    markers: dict[str, str] | None = None) -> str:
    """Test accuracy (y) against a cost (x, log axis), one point per model (the
    mean over its seeds, bars of one standard deviation), one panel per data set
    and split; each panel's Pareto front ringed and joined, so a front never
    joins two protocols. `points`: {dataset, split, model, label, x, y, xerr, yerr}."""
    datasets, splits = _facets([(p["dataset"], p["split"]) for p in points])
    if not datasets:
        return svgplot.figure(300, 40, '<text x="10" y="24" font-size="12">No completed run to place.</text>')
    w, h = 330, 230
    markers = markers or model_markers(list(colors), colors)
    log = all(p["x"] > 0 for p in points)
    panels = []
    for row, dataset in enumerate(datasets):
        for col, split in enumerate(splits):
            members = [p for p in points if (p["dataset"], p["split"]) == (dataset, split)]
            x, y = LEFT + col * (w + GAP_X), TOP + row * (h + GAP_Y)
            xscale = Scale.fit([p["x"] for p in points], 0, w, log=log, pad=0.12)
            yscale = Scale.fit([p["y"] for p in points if p["dataset"] == dataset], h, 0, pad=0.15)
            title = f"{dataset} · {protocol(split).title}" if len(datasets) > 1 else protocol(split).title
            panel = Panel(x, y, w, h, xscale, yscale, title=title, xlabel=xlabel, ylabel="test accuracy",
                          yfmt=percent_tick, group={"data-dataset": dataset, "data-split": split})
            front = [members[i] for i in pareto_front([(p["x"], p["y"]) for p in members])]
            if front:
                xs = [panel.px(p["x"]) for p in front]
                ys = [panel.py(p["y"]) for p in front]
                # A staircase: from each front point right to the next one's cost, then up to its accuracy.
                path = f"M{num(xs[0])},{num(ys[0])}" + "".join(
                    f"H{num(xs[i])}V{num(ys[i])}" for i in range(1, len(front)))
                panel.raw(f'<g class="front" data-dataset="{esc(dataset)}" data-split="{esc(split)}" '
                          f'data-front="{esc("|".join(p["model"] for p in front))}">'
                          f'<path d="{path}" fill="none" stroke="#555" stroke-width="1" stroke-opacity="0.7"/>'
                          + "".join(f'<circle cx="{num(a)}" cy="{num(b)}" r="8" fill="none" stroke="#555" '
                                    f'stroke-width="1.1"/>' for a, b in zip(xs, ys)) + "</g>")
            labels = []
            for p in members:
                data = {"data-dataset": dataset, "data-split": split, "data-model": p["model"]}
                tip = p.get("tip") or f"{p['label']}: {pct(p['y'])}"
                panel.point(p["x"], p["y"], colors[p["model"]], tip, data, p.get("xerr"), p.get("yerr"),
                            shape=markers[p["model"]])
                labels.append({"x": panel.px(p["x"]), "y": panel.py(p["y"]), "text": p["model"], "data": data})
            svgplot.place_labels(panel, labels)
            panels.append(panel)
    width = LEFT + len(splits) * (w + GAP_X) - GAP_X
    legend_svg, legend_w, legend_h = _legend_block(colors, [LegendEntry("Pareto front", "#555", kind="ring")],
                                                   width + 24, TOP - 10, kind="point", markers=markers)
    height = max(TOP + len(datasets) * (h + GAP_Y) - GAP_Y + 44, TOP + legend_h)
    return svgplot.figure(width + 24 + legend_w + 10, height, "".join(p.render() for p in panels) + legend_svg,
                          title=f"test accuracy against {xlabel}")


# --- the confusion matrix ----------------------------------------------------------------------------------

# matplotlib's "Blues", sampled: value in [0, 1] -> RGB.
_BLUES = [(0.0, (247, 251, 255)), (0.25, (198, 219, 239)), (0.5, (107, 174, 214)), (0.75, (33, 113, 181)),
          (1.0, (8, 48, 107))]


def blues(values: np.ndarray) -> np.ndarray:
    stops = np.array([s for s, _ in _BLUES])
    colors = np.array([c for _, c in _BLUES], dtype=float)
    flat = np.clip(values.ravel(), 0, 1)
    rgb = np.stack([np.interp(flat, stops, colors[:, i]) for i in range(3)], axis=-1)
    return rgb.reshape(*values.shape, 3).round().astype(np.uint8)


def confusion_figure(matrix: np.ndarray, classes: list[str], title: str) -> str:
    """The confusion matrix normalised per true class (rows sum to 100%), each
    row labelled with its class's accuracy; cell values written up to 12 classes.
    The cells are one small PNG (a 100-class matrix stays a few kB)."""
    counts = matrix.sum(axis=1, keepdims=True)
    normalised = np.divide(matrix, counts, out=np.zeros(matrix.shape, dtype=float), where=counts > 0)
    n = len(classes)
    cell = min(26.0, max(6.0, 300.0 / max(n, 1)))
    font = min(10.0, max(5.0, cell * 0.8))
    accuracy = np.diag(normalised) if n else np.array([])
    row_labels = [f"{c} ({pct(a)})" for c, a in zip(classes, accuracy)]
    left = max((svgplot.text_width(t, font) for t in row_labels), default=0) + 30
    top = 28
    side = cell * n
    bottom = max((svgplot.text_width(c, font) for c in classes), default=0) * 0.75 + 40
    width, height = left + side + 70, top + side + bottom
    image = png_data_uri(blues(normalised)) if n else ""
    out = [f'<text x="{num(left)}" y="14" font-size="10" fill="{svgplot.INK}">{esc(title)}</text>']
    if n:
        out.append(f'<image x="{num(left)}" y="{top}" width="{num(side)}" height="{num(side)}" href="{image}" '
                   f'preserveAspectRatio="none" style="image-rendering:pixelated"/>')
        out.append(f'<rect x="{num(left)}" y="{top}" width="{num(side)}" height="{num(side)}" fill="none" '
                   f'stroke="#999" stroke-width="0.6"/>')
    # Labels and values share their attributes in groups (a page may hold hundreds of these figures).
    out.append(f'<g font-size="{num(font)}" fill="{svgplot.INK}" text-anchor="end" class="class-names">'
               + "".join(f'<text x="{num(left - 4)}" y="{num(top + (i + 0.5) * cell + font * 0.32)}">{esc(label)}</text>'
                         for i, label in enumerate(row_labels))
               + "".join(f'<text transform="translate({num(left + (j + 0.5) * cell)},{num(top + side + 5)}) '
                         f'rotate(-50)">{esc(name)}</text>' for j, name in enumerate(classes))
               + "</g>")
    if n <= 12:  # each cell's share of its true class, in % like every accuracy of the report
        size = min(font, 7.5)
        for shade, light in (("#222", False), ("#fff", True)):
            cells = [(i, j) for i in range(n) for j in range(n)
                     if normalised[i, j] >= 0.005 and (normalised[i, j] > 0.5) == light]
            out.append(f'<g font-size="{num(size)}" fill="{shade}" text-anchor="middle">'
                       + "".join(f'<text x="{num(left + (j + 0.5) * cell)}" y="{num(top + (i + 0.5) * cell + size * 0.32)}">'
                                 f'{percent(normalised[i, j])}</text>' for i, j in cells) + "</g>")
    # The colour scale.
    bar = png_data_uri(blues(np.linspace(1, 0, 64).reshape(64, 1)))
    bx = left + side + 14
    out.append(f'<image x="{num(bx)}" y="{top}" width="10" height="{num(max(side, 40))}" href="{bar}" '
               f'preserveAspectRatio="none"/>')
    for value in (0.0, 0.5, 1.0):
        y = top + (1 - value) * max(side, 40)
        out.append(f'<text x="{num(bx + 14)}" y="{num(y)}" dy="0.32em" font-size="9" fill="{svgplot.MUTED}">'
                   f'{share(value)}</text>')
    out.append(f'<text x="{num(left + side / 2)}" y="{num(height - 6)}" text-anchor="middle" font-size="10" '
               f'fill="{svgplot.INK}">predicted class</text>')
    out.append(f'<text transform="translate(10,{num(top + side / 2)}) rotate(-90)" text-anchor="middle" '
               f'font-size="10" fill="{svgplot.INK}">true class (its accuracy)</text>')
    return svgplot.figure(width, height, "".join(out), title=title)
