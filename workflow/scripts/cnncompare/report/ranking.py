"""Models ranked over several data sets (Demšar 2006): per protocol, the
average rank of each model over the data sets, a Friedman test of whether the
ranks differ at all, and the Nemenyi critical difference, drawn as the
critical-difference diagram ML papers use to rank classifiers over data sets.

Each data set ranks the models by their mean test accuracy over seeds (the
Study's groups), 1 the best, ties sharing the mean rank. Only models run on
every data set of the protocol take part (a rank over a subset would not be
comparable), and the protocols are ranked apart, never together. It needs two
or more data sets and three or more models.

Every figure comes from scipy, so a reader can recompute it from summary.csv:
rankdata, friedmanchisquare, and the studentized range distribution for the
Nemenyi critical difference CD = q_alpha * sqrt(k (k + 1) / (6 N)), with
q_alpha the studentized range quantile over k groups and infinite degrees of
freedom divided by sqrt(2) (Demšar's table: 2.343 for k = 3 at alpha 0.05).
"""

from __future__ import annotations

import math
import warnings

from scipy import stats as scipy_stats

from cnncompare.protocols import protocol
from cnncompare.report import svgplot
from cnncompare.report.numbers import count
from cnncompare.report.svgplot import INK, MUTED, esc, num
from cnncompare.report.study import Study

ALPHA = 0.05
MIN_DATASETS, MIN_MODELS = 2, 3


def accuracy_table(study: Study, split: str) -> tuple[list[str], list[str], list[list[float]]]:
    """(data sets, models, accuracy[data set][model]) of the completed runs of one protocol: the models
    run on every data set that has the protocol, the mean test accuracy over seeds of each."""
    done = study.completed
    datasets = [d for d in done.datasets if split in done.splits_of(d)]
    models = [m for m in done.model_names
              if all(done.group_of(d, split, m) is not None for d in datasets)]
    table = [[done.group_of(d, split, m).mean("test_acc") for m in models] for d in datasets]
    return datasets, models, table


def critical_difference(k: int, n: int, alpha: float = ALPHA) -> tuple[float, float]:
    """(q_alpha, CD) of the Nemenyi test for k models over n data sets (Demšar 2006, section 3.2.2)."""
    q = scipy_stats.studentized_range.ppf(1 - alpha, k, math.inf) / math.sqrt(2)
    return q, q * math.sqrt(k * (k + 1) / (6 * n))


def cliques(ranks: dict[str, float], cd: float) -> list[list[str]]:
    """The maximal runs of models (in rank order) whose average ranks differ by less than CD: the bars
    of the diagram. A model that no other is within CD of stands alone and gets no bar."""
    ordered = sorted(ranks, key=ranks.get)
    found = []
    for i, first in enumerate(ordered):
        members = [m for m in ordered[i:] if ranks[m] - ranks[first] < cd]
        if len(members) > 1 and not any(set(members) <= set(c) for c in found):
            found.append(members)
    return found


def rank_models(study: Study, split: str) -> dict | None:
    """The ranking of one protocol, or None with fewer than two data sets or three models."""
    datasets, models, table = accuracy_table(study, split)
    if len(datasets) < MIN_DATASETS or len(models) < MIN_MODELS:
        return None
    per_dataset = [scipy_stats.rankdata([-a for a in row]) for row in table]  # 1 = highest accuracy
    ranks = {m: sum(r[j] for r in per_dataset) / len(datasets) for j, m in enumerate(models)}
    with warnings.catch_warnings():  # all tied on every data set: scipy divides 0 by 0, and says nan
        warnings.simplefilter("ignore", RuntimeWarning)
        friedman = scipy_stats.friedmanchisquare(*([row[j] for row in table] for j in range(len(models))))
    q, cd = critical_difference(len(models), len(datasets))
    groups = cliques(ranks, cd)
    return {
        "split": split, "title": protocol(split).title, "datasets": datasets, "models": models, "ranks": ranks,
        "statistic": float(friedman.statistic), "p": float(friedman.pvalue), "q": q, "cd": cd, "cliques": groups,
        "methods": method_lines(len(models), len(datasets), friedman, q, cd),
        "verdict": verdict(ranks, float(friedman.pvalue), cd, groups),
        "svg": cd_diagram(ranks, cd, groups, split),
        "data": {"data-split": split},
    }


def _p(p: float) -> str:
    if not math.isfinite(p):
        return "no p-value: the models tie on every data set"
    return "p < 0.001" if p < 0.001 else f"p = {p:.3f}"


def method_lines(k: int, n: int, friedman, q: float, cd: float) -> list[str]:
    """One line per method: what was computed, with scipy's name for it."""
    return [
        f"Average ranks: on each of the {n} data sets the {k} models are ranked by mean test accuracy over "
        "seeds (1 = best, ties share the mean rank; scipy.stats.rankdata), and the ranks averaged over the "
        "data sets.",
        f"Friedman test (scipy.stats.friedmanchisquare) of whether the {k} models' ranks differ over the {n} "
        f"data sets: chi-square = {friedman.statistic:.2f}, {_p(float(friedman.pvalue))}.",
        f"Nemenyi critical difference (Demšar 2006): CD = q_0.05 × sqrt(k(k+1)/(6N)) = {q:.3f} × "
        f"sqrt({k}·{k + 1}/(6·{n})) = {cd:.2f} ranks, with q_0.05 the studentized range quantile for {k} "
        "groups and infinite degrees of freedom over sqrt(2) (scipy.stats.studentized_range). Models whose "
        "average ranks differ by less than CD are joined by a bar.",
    ]


def verdict(ranks: dict[str, float], p: float, cd: float, groups: list[list[str]]) -> str:
    best = min(ranks, key=ranks.get)
    if not p < ALPHA:  # nan too: every model tied on every data set
        return (f"{best} has the best average rank ({ranks[best]:.2f}), but the Friedman test does not find the "
                f"ranks to differ ({_p(p)}): over these data sets the models cannot be told apart.")
    tied = sorted({m for c in groups if best in c for m in c} - {best}, key=ranks.get)
    if tied:
        return (f"{best} has the best average rank ({ranks[best]:.2f}); the ranks differ (Friedman {_p(p)}), "
                f"but {', '.join(tied)} {'is' if len(tied) == 1 else 'are'} within the critical difference "
                f"({cd:.2f}) of it.")
    return (f"{best} has the best average rank ({ranks[best]:.2f}), ahead of every other model by more than the "
            f"critical difference ({cd:.2f}; Friedman {_p(p)}).")


def cd_diagram(ranks: dict[str, float], cd: float, groups: list[list[str]], split: str) -> str:
    """Demšar's diagram: an axis of ranks (1 at the left), each model's average rank marked and labelled,
    the better half on the left and the rest on the right, a bar of length CD above the axis, and a
    thick bar under the models that are within CD of each other."""
    k = len(ranks)
    ordered = sorted(ranks, key=ranks.get)
    label_w = max(svgplot.text_width(f"{m} ({ranks[m]:.2f})", 11) for m in ordered) + 16
    axis_w = max(260.0, 70.0 * (k - 1))
    left, top = label_w + 10, 46
    width = left + axis_w + label_w + 10

    def x(rank: float) -> float:
        return left + (rank - 1) / (k - 1) * axis_w

    half = math.ceil(k / 2)
    rows = max(half, k - half)
    bars_y = top + 14
    label_y0 = bars_y + 12 * max(1, len(groups)) + 14
    height = label_y0 + 18 * rows + 12
    out = [f'<path d="M{num(x(1))},{top}H{num(x(k))}" stroke="{INK}" stroke-width="1.2"/>']
    for r in range(1, k + 1):
        out.append(f'<path d="M{num(x(r))},{top}v-5" stroke="{INK}"/>'
                   f'<text x="{num(x(r))}" y="{top - 8}" font-size="10" text-anchor="middle" fill="{INK}">{r}</text>')
    cd_len = cd / (k - 1) * axis_w
    out.append(f'<g class="cd"><path d="M{num(x(1))},14h{num(cd_len)}" stroke="{INK}" stroke-width="1.6"/>'
               f'<path d="M{num(x(1))},10v8M{num(x(1) + cd_len)},10v8" stroke="{INK}"/>'
               f'<text x="{num(x(1) + cd_len + 6)}" y="14" dy="0.32em" font-size="10" fill="{INK}">'
               f'CD = {cd:.2f}</text></g>')
    for i, members in enumerate(groups):
        y = bars_y + 12 * i
        lo, hi = ranks[members[0]], ranks[members[-1]]
        out.append(f'<path class="clique" d="M{num(x(lo) - 3)},{y}H{num(x(hi) + 3)}" stroke="{INK}" '
                   f'stroke-width="3.5"><title>within CD: {esc(", ".join(members))}</title></path>')
    for i, m in enumerate(ordered):
        on_left = i < half
        row = i if on_left else k - 1 - i
        y = label_y0 + 18 * row
        xr = x(ranks[m])
        end = left - 6 if on_left else left + axis_w + 6
        anchor = "end" if on_left else "start"
        out.append(f'<g class="ranked" data-model="{esc(m)}" data-rank="{ranks[m]:.6g}">'
                   f'<path d="M{num(xr)},{top}V{num(y)}H{num(end)}" fill="none" stroke="{MUTED}" stroke-width="1"/>'
                   f'<circle cx="{num(xr)}" cy="{top}" r="3" fill="{INK}"/>'
                   f'<text x="{num(end + (-4 if on_left else 4))}" y="{num(y)}" dy="0.32em" font-size="11" '
                   f'text-anchor="{anchor}" fill="{INK}">{esc(m)} ({ranks[m]:.2f})</text></g>')
    return svgplot.figure(width, height, "".join(out), data={"data-split": split},
                          title=f"critical-difference diagram, {protocol(split).short}: average ranks of "
                                f"{count(k)} models (1 = best)")


def ranking_section(study: Study) -> list[dict]:
    """The ranking of every protocol that has two or more data sets and three or more models, headline first."""
    return [found for split in study.completed.splits if (found := rank_models(study, split)) is not None]
