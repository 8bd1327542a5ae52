"""A small SVG plotting kit for the report's figures.

Linear and log axes with readable ticks, lines with bands, points with error
bars, facets, a legend outside the plot area and labels placed without
overlap. The SVG is written here, not by matplotlib, for three reasons: every
mark carries data attributes (model, split, data set) that the page's script
uses to hide, filter and hover it and that a test reads a figure's data from;
a 200-run report stays small (a run's curves are a few kB); and text is left
to the browser, which finds a font for any script (CJK class names included).

Nothing here knows about runs or models; figures.py builds the report's
figures from these parts.
"""

from __future__ import annotations

import math
import unicodedata
from dataclasses import dataclass, field
from html import escape

FONT = ("system-ui, -apple-system, 'Segoe UI', 'Noto Sans', 'DejaVu Sans', 'WenQuanYi Micro Hei', "
        "'Noto Sans CJK SC', sans-serif")
INK, GRID, MUTED = "#222", "#e3e3e3", "#666"


def esc(text) -> str:
    return escape(str(text), quote=True)


def attrs(values: dict | None) -> str:
    """`data-x="..."` attributes (None values left out), escaped."""
    return "".join(f' {k}="{esc(v)}"' for k, v in (values or {}).items() if v is not None)


def text_width(text: str, size: float) -> float:
    """An estimate of a text's width in pixels: wide (CJK) characters take a
    full em, digits and most letters a bit over half of one."""
    width = 0.0
    for ch in str(text):
        if unicodedata.east_asian_width(ch) in ("W", "F"):
            width += 1.0
        elif ch in "il.,:;|!'() ":
            width += 0.3
        elif ch.isupper() or ch in "mwMW%@":
            width += 0.72
        else:
            width += 0.56
    return width * size


def num(value: float) -> str:
    """A coordinate, short."""
    return f"{value:.1f}".rstrip("0").rstrip(".") if value == value else "0"


# --- scales and ticks ------------------------------------------------------------------------------


def nice_step(span: float, count: int) -> float:
    raw = span / max(count, 1)
    magnitude = 10 ** math.floor(math.log10(raw)) if raw > 0 else 1.0
    for factor in (1, 2, 2.5, 5, 10):
        if raw <= factor * magnitude:
            return factor * magnitude
    return 10 * magnitude


def linear_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    if hi <= lo:
        return [lo]
    step = nice_step(hi - lo, count)
    first = math.ceil(lo / step - 1e-9) * step
    ticks, value = [], first
    while value <= hi + step * 1e-9:
        ticks.append(round(value, 12))
        value += step
    return ticks


def log_ticks(lo: float, hi: float) -> list[float]:
    """Decades; with fewer than three of them in range, 2 and 5 times them too,
    then 1.5, 3 and 7 (a range within one decade still gets a few labels)."""
    low, high = math.floor(math.log10(lo)), math.ceil(math.log10(hi))
    decades = [10.0 ** e for e in range(low, high + 1)]
    ticks = []
    for mantissas in ((1,), (1, 2, 5), (1, 1.5, 2, 3, 5, 7)):
        ticks = [round(d * m, 12) for d in decades for m in mantissas if lo * (1 - 1e-9) <= d * m <= hi * (1 + 1e-9)]
        if len(ticks) >= 3:
            break
    if len(ticks) > 8:  # many decades: every other one
        ticks = ticks[::2]
    return ticks


def plain_number(value: float) -> str:
    """A tick label without exponents: 40, 0.5, 2,000, 30k, 1.5M."""
    if value == 0:
        return "0"
    size = abs(value)
    if size >= 1e6:
        return f"{value / 1e6:g}M"
    if size >= 1e4:
        return f"{value / 1e3:g}k"
    if size >= 1000:
        return f"{value:,.0f}"
    if size >= 1:
        return f"{value:.4g}"
    decimals = min(6, max(1, -math.floor(math.log10(size)) + 1))
    return f"{value:.{decimals}f}".rstrip("0").rstrip(".")


@dataclass
class Scale:
    """Data values [lo, hi] onto pixels [p0, p1] (p1 < p0 for a y axis)."""

    lo: float
    hi: float
    p0: float
    p1: float
    log: bool = False

    @classmethod
    def fit(cls, values, p0, p1, log=False, pad=0.05, include=()) -> "Scale":
        """A scale over the finite `values` (positive ones on a log scale) and `include`, padded."""
        found = [v for v in (*values, *include) if v is not None and math.isfinite(v) and (v > 0 or not log)]
        if not found:
            return cls(0.1 if log else 0.0, 1.0, p0, p1, log)
        lo, hi = min(found), max(found)
        if log:
            if hi <= lo:
                lo, hi = lo / 2, hi * 2
            ratio = (hi / lo) ** pad
            return cls(lo / ratio, hi * ratio, p0, p1, True)
        if hi <= lo:
            lo, hi = lo - (abs(lo) or 1) * 0.1, hi + (abs(hi) or 1) * 0.1
        margin = (hi - lo) * pad
        return cls(lo - margin, hi + margin, p0, p1, False)

    def __call__(self, value: float) -> float:
        if self.log:
            value = max(value, self.lo * 1e-3)
            t = (math.log10(value) - math.log10(self.lo)) / (math.log10(self.hi) - math.log10(self.lo))
        else:
            t = (value - self.lo) / (self.hi - self.lo)
        return self.p0 + t * (self.p1 - self.p0)

    def ticks(self, count: int = 5) -> list[float]:
        return log_ticks(self.lo, self.hi) if self.log else linear_ticks(self.lo, self.hi, count)


# --- a panel: one plot area with its axes ------------------------------------------------------------


@dataclass
class Box:
    x0: float
    y0: float
    x1: float
    y1: float

    def overlaps(self, other: "Box", gap: float = 1.0) -> bool:
        return not (self.x1 + gap <= other.x0 or other.x1 + gap <= self.x0
                    or self.y1 + gap <= other.y0 or other.y1 + gap <= self.y0)

    def inside(self, other: "Box") -> bool:
        return self.x0 >= other.x0 and self.x1 <= other.x1 and self.y0 >= other.y0 and self.y1 <= other.y1


@dataclass
class Panel:
    """A plot area at (x, y) of size w x h in the figure, with its scales.

    Marks are kept in plot-area coordinates and drawn inside a nested <svg>
    that clips them; axes, ticks and labels are drawn around it."""

    x: float
    y: float
    w: float
    h: float
    xscale: Scale
    yscale: Scale
    title: str = ""
    xlabel: str = ""
    ylabel: str = ""
    xfmt: object = plain_number
    yfmt: object = plain_number
    xticks: list | None = None
    group: dict = field(default_factory=dict)  # data attributes of the whole panel
    marks: list = field(default_factory=list)
    labels: list = field(default_factory=list)  # drawn above the marks, unclipped

    def px(self, value):
        return self.xscale(value)

    def py(self, value):
        return self.yscale(value)

    def line(self, xs, ys, color, dash=None, width=1.6, data=None, tips=None, label=None, opacity=1.0):
        """A polyline through the finite points; `tips` (one text per point) feed the page's hover."""
        points = [(x, y, t) for x, y, t in zip(xs, ys, tips or [None] * len(xs))
                  if y is not None and math.isfinite(y) and (y > 0 or not self.yscale.log)]
        if not points:
            return
        d = "M" + "L".join(f"{num(self.px(x))},{num(self.py(y))}" for x, y, _ in points)
        extra = {"data-label": label}
        if tips:
            extra["data-tips"] = "|".join(t or "" for _, _, t in points)
        style = f' stroke-dasharray="{dash}"' if dash else ""
        opacity_attr = f' stroke-opacity="{opacity}"' if opacity != 1.0 else ""
        title = f"<title>{esc(label)}</title>" if label else ""
        self.marks.append(f'<path class="line" d="{d}" fill="none" stroke="{color}" stroke-width="{width}"'
                          f'{style}{opacity_attr} stroke-linejoin="round"{attrs(data)}{attrs(extra)}>{title}</path>')

    def band(self, xs, lows, highs, color, data=None, opacity=0.15):
        points = [(x, lo, hi) for x, lo, hi in zip(xs, lows, highs)
                  if all(v is not None and math.isfinite(v) for v in (lo, hi))
                  and (not self.yscale.log or lo > 0)]
        if len(points) < 2:
            return
        top = [f"{num(self.px(x))},{num(self.py(hi))}" for x, _, hi in points]
        bottom = [f"{num(self.px(x))},{num(self.py(lo))}" for x, lo, _ in reversed(points)]
        self.marks.append(f'<path class="band" d="M{"L".join(top + bottom)}Z" fill="{color}" '
                          f'fill-opacity="{opacity}" stroke="none"{attrs(data)}/>')

    def hline(self, y, color=MUTED, dash="5,4", label=None, data=None):
        if not (math.isfinite(y) and self.yscale.lo <= y <= self.yscale.hi):
            return
        py = num(self.py(y))
        title = f"<title>{esc(label)}</title>" if label else ""
        self.marks.append(f'<path class="reference" d="M0,{py}H{num(self.w)}" stroke="{color}" stroke-width="1.2" '
                          f'stroke-dasharray="{dash}"{attrs(data)}>{title}</path>')
        if label:
            self.labels.append(f'<text x="{num(self.x + self.w - 3)}" y="{num(self.y + self.py(y) - 3)}" '
                               f'text-anchor="end" font-size="9" fill="{color}">{esc(label)}</text>')

    def point(self, x, y, color, tip, data=None, xerr=None, yerr=None, r=4.0, ring=False, shape="circle"):
        px, py = self.px(x), self.py(y)
        parts = []
        if yerr:
            lo, hi = self.py(y - yerr), self.py(y + yerr)
            parts.append(f'<path d="M{num(px)},{num(lo)}V{num(hi)}" stroke="{color}" stroke-width="1"/>')
        if xerr and (not self.xscale.log or x - xerr > 0):
            lo, hi = self.px(x - xerr), self.px(x + xerr)
            parts.append(f'<path d="M{num(lo)},{num(py)}H{num(hi)}" stroke="{color}" stroke-width="1"/>')
        if shape == "circle":
            parts.append(f'<circle class="point" cx="{num(px)}" cy="{num(py)}" r="{r}" fill="{color}" '
                         f'data-tip="{esc(tip)}"><title>{esc(tip)}</title></circle>')
        else:  # the shape drawn, and under it the invisible circle the page's hover reads
            parts.append(marker(shape, px, py, r * 1.1, color))
            parts.append(f'<circle class="point" cx="{num(px)}" cy="{num(py)}" r="{r}" fill="{color}" '
                         f'fill-opacity="0" data-tip="{esc(tip)}"><title>{esc(tip)}</title></circle>')
        self.marks.append(f'<g class="mark"{attrs(data)}>{"".join(parts)}</g>')
        return Box(px - r, py - r, px + r, py + r)

    def raw(self, svg_text: str):
        self.marks.append(svg_text)

    def render(self) -> str:
        xt = self.xticks if self.xticks is not None else self.xscale.ticks()
        yt = self.yscale.ticks()
        out = [f'<g class="panel" transform="translate({num(self.x)},{num(self.y)})"{attrs(self.group)}>']
        out.append(f'<rect width="{num(self.w)}" height="{num(self.h)}" fill="#fff" stroke="#bbb" stroke-width="0.8"/>')
        # Tick labels share their attributes in a group: a 200-run page draws thousands of them.
        out.append(f'<g stroke="{GRID}" stroke-width="0.8">'
                   + "".join(f'<path d="M0,{num(self.py(t))}H{num(self.w)}"/>' for t in yt) + "</g>")
        out.append(f'<g font-size="10" fill="{MUTED}" text-anchor="end">'
                   + "".join(f'<text x="-4" y="{num(self.py(t) + 3.2)}">{esc(self.yfmt(t))}</text>' for t in yt)
                   + "</g>")
        out.append('<g stroke="#999">' + "".join(f'<path d="M{num(self.px(t))},{num(self.h)}v4"/>' for t in xt)
                   + "</g>")
        out.append(f'<g font-size="10" fill="{MUTED}" text-anchor="middle">'
                   + "".join(f'<text x="{num(self.px(t))}" y="{num(self.h + 14)}">{esc(self.xfmt(t))}</text>'
                             for t in xt) + "</g>")
        out.append(f'<svg width="{num(self.w)}" height="{num(self.h)}" overflow="hidden">{"".join(self.marks)}</svg>')
        if self.title:
            out.append(f'<text x="{num(self.w / 2)}" y="-7" text-anchor="middle" font-size="11" '
                       f'font-weight="600" fill="{INK}">{esc(self.title)}</text>')
        if self.xlabel:
            out.append(f'<text x="{num(self.w / 2)}" y="{num(self.h + 30)}" text-anchor="middle" font-size="10" '
                       f'fill="{INK}">{esc(self.xlabel)}</text>')
        if self.ylabel:
            out.append(f'<text transform="translate(-40,{num(self.h / 2)}) rotate(-90)" text-anchor="middle" '
                       f'font-size="10" fill="{INK}">{esc(self.ylabel)}</text>')
        out.append("</g>")
        return "".join(out) + "".join(self.labels)


# --- markers: a shape per model, so no model is told apart by colour alone ----------------------------

MARKERS = ("circle", "square", "triangle", "diamond", "triangle-down", "cross", "plus")


def marker(shape: str, x: float, y: float, r: float, color: str, extra: str = "") -> str:
    """A filled (or, for cross and plus, stroked) marker of `shape` centred on (x, y), about 2r across."""
    if shape == "circle":
        return f'<circle cx="{num(x)}" cy="{num(y)}" r="{num(r)}" fill="{color}"{extra}/>'
    k = r * 0.88
    paths = {
        "square": f"M{num(x - k)},{num(y - k)}h{num(2 * k)}v{num(2 * k)}h{num(-2 * k)}Z",
        "triangle": f"M{num(x)},{num(y - r * 1.15)}L{num(x + r * 1.05)},{num(y + r * 0.75)}"
                    f"L{num(x - r * 1.05)},{num(y + r * 0.75)}Z",
        "triangle-down": f"M{num(x)},{num(y + r * 1.15)}L{num(x + r * 1.05)},{num(y - r * 0.75)}"
                         f"L{num(x - r * 1.05)},{num(y - r * 0.75)}Z",
        "diamond": f"M{num(x)},{num(y - r * 1.25)}L{num(x + r)},{num(y)}L{num(x)},{num(y + r * 1.25)}"
                   f"L{num(x - r)},{num(y)}Z",
        "cross": f"M{num(x - k)},{num(y - k)}L{num(x + k)},{num(y + k)}M{num(x - k)},{num(y + k)}L{num(x + k)},{num(y - k)}",
        "plus": f"M{num(x - r)},{num(y)}H{num(x + r)}M{num(x)},{num(y - r)}V{num(y + r)}",
    }
    if shape in ("cross", "plus"):
        return (f'<path d="{paths[shape]}" fill="none" stroke="{color}" stroke-width="{num(max(1.6, r * 0.6))}" '
                f'data-shape="{shape}"{extra}/>')
    return f'<path d="{paths[shape]}" fill="{color}" data-shape="{shape}"{extra}/>'


# --- labels without overlap --------------------------------------------------------------------------


# Where a label may go relative to its point: (dx, dy, text-anchor), nearest first.
_PLACES = [(7, -6, "start"), (7, 12, "start"), (-7, -6, "end"), (-7, 12, "end"), (0, -10, "middle"),
           (0, 18, "middle")]


def place_labels(panel: Panel, items: list[dict], size: float = 9.0) -> list[dict]:
    """Put each item's `text` next to its point (panel coordinates `x`, `y`)
    where it overlaps no other label, no point and stays in the panel; farther
    out with a leader line when the near places are taken; left out (the point
    keeps its hover) when nothing fits. Returns the placed labels' boxes."""
    area = Box(0, 0, panel.w, panel.h)
    obstacles = [Box(i["x"] - 5, i["y"] - 5, i["x"] + 5, i["y"] + 5) for i in items]
    placed = []
    for item in sorted(items, key=lambda i: (i["y"], i["x"])):
        width, height = text_width(item["text"], size), size * 1.2
        for scale in (1.0, 2.2, 3.4):
            done = False
            for dx, dy, anchor in _PLACES:
                x, y = item["x"] + dx * scale, item["y"] + dy * scale
                left = x if anchor == "start" else x - width if anchor == "end" else x - width / 2
                box = Box(left, y - size, left + width, y - size + height)
                if box.inside(area) and not any(box.overlaps(o) for o in obstacles):
                    obstacles.append(box)
                    leader = ""
                    if scale > 1:
                        leader = (f'<path d="M{num(panel.x + item["x"])},{num(panel.y + item["y"])}'
                                  f'L{num(panel.x + x)},{num(panel.y + y - size / 3)}" stroke="#aaa" '
                                  f'stroke-width="0.7"/>')
                    panel.labels.append(
                        f'<g class="label"{attrs(item.get("data"))}>{leader}<text x="{num(panel.x + x)}" '
                        f'y="{num(panel.y + y)}" text-anchor="{anchor}" font-size="{size}" fill="{INK}" '
                        f'data-box="{num(box.x0)},{num(box.y0)},{num(box.x1)},{num(box.y1)}">'
                        f'{esc(item["text"])}</text></g>')
                    placed.append({"text": item["text"], "box": box})
                    done = True
                    break
            if done:
                break
    return placed


# --- the figure: panels and a legend ----------------------------------------------------------------


@dataclass
class LegendEntry:
    text: str
    color: str
    kind: str = "line"  # line, dash, point, band
    dash: str | None = None
    data: dict | None = None  # data-legend-model makes the entry toggle that model in the page
    marker: str | None = None  # a MARKERS shape drawn on the swatch (a point's shape, or on the line)


def legend(entries: list[LegendEntry], x: float, y: float, title: str = "") -> tuple[str, float, float]:
    """A column of entries at (x, y); returns (svg, width, height)."""
    out, row = [], 0.0
    if title:
        out.append(f'<text x="{num(x)}" y="{num(y + 10)}" font-size="10" font-weight="600" fill="{INK}">'
                   f'{esc(title)}</text>')
        row += 16
    width = text_width(title, 10) if title else 0.0
    for entry in entries:
        cy = y + row + 7
        if entry.kind == "point":
            swatch = marker(entry.marker or "circle", x + 10, cy, 4, entry.color)
        elif entry.kind == "ring":
            swatch = (f'<circle cx="{num(x + 10)}" cy="{num(cy)}" r="6" fill="none" stroke="{entry.color}" '
                      f'stroke-width="1.2"/>')
        else:
            dash = f' stroke-dasharray="{entry.dash}"' if entry.dash else ""
            swatch = (f'<path d="M{num(x)},{num(cy)}h20" stroke="{entry.color}" stroke-width="2"{dash}/>'
                      + (marker(entry.marker, x + 10, cy, 3.4, entry.color) if entry.marker else ""))
        clickable = ' class="legend-entry" style="cursor:pointer"' if entry.data else ' class="legend-key"'
        out.append(f'<g{clickable}{attrs(entry.data)}><rect x="{num(x - 2)}" y="{num(cy - 7)}" '
                   f'width="{num(26 + text_width(entry.text, 10))}" height="14" fill="#fff" fill-opacity="0"/>'
                   f'{swatch}<text x="{num(x + 26)}" y="{num(cy)}" dy="0.32em" font-size="10" fill="{INK}">'
                   f'{esc(entry.text)}</text></g>')
        width = max(width, 26 + text_width(entry.text, 10))
        row += 16
    return "".join(out), width, row


def figure(width: float, height: float, body: str, data: dict | None = None, title: str = "") -> str:
    """A standalone SVG document (it is also written into the page as it is)."""
    label = f'<title>{esc(title)}</title>' if title else ""
    return (f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" width="{num(width)}" height="{num(height)}" '
            f'viewBox="0 0 {num(width)} {num(height)}" font-family="{esc(FONT)}"{attrs(data)}>{label}'
            f'{body}</svg>')
