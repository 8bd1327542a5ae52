"""What the report says in words, written from the data: the overview's
answers, the best model per data set and split, the two-vs-three split
comparison, the seed statistics and the runs that did not complete.

Protocols are never ranked together. The three-split result (validation picks
the epoch, the test set only reports) leads; the two-split result (the study's
protocol: the epoch is picked on the test set) is shown beside it, labelled as
biased. Times are compared by per-epoch medians (timing.py), and a difference
within the epoch-to-epoch spread is said to separate nothing.
"""

from __future__ import annotations

from cnncompare.protocols import THREE, TWO, protocol
from cnncompare.plan.runs import run_label
from cnncompare.report import comparisons, timing
from cnncompare.report.numbers import (
    count, fmt, interval_pct, interval_points, megabytes, p_equals, p_value, pct, points, rate, ratio, seconds_text,
    share, signed_points,
)
from cnncompare.report.stats import MIN_SEEDS_FOR_INTERVAL, is_number, wilson_interval
from cnncompare.report.study import Study, is_completed


def model_groups(study: Study) -> list[dict]:
    """Per (dataset, split, model) of completed runs: its label, runs and figures over seeds."""
    return [{
        "key": g.key, "dataset": g.dataset, "split": g.split, "model": g.model, "label": g.label, "runs": g.runs,
        "acc": g.accuracy, "loss": g.mean("test_loss"), "timing": g.timing,
        "throughput": g.mean("images_per_second"), "params": g.mean("params_trainable"),
        "ram": g.mean("peak_rss_mb"), "busy": sum(bool(r.get("busy_machine")) for r in g.runs),
    } for g in study.completed.groups]


def _accuracy(group: dict) -> str:
    """The group's test accuracy with its n: from 3 seeds a t-interval (its ends where cut at 0% or
    100%), with 2 each seed's value, with 1 the Wilson interval over its test images."""
    acc = group["acc"]
    if acc["half"] is not None and acc["clipped"]:
        return f"{pct(acc['mean'])} (95% interval over {acc['n']} seeds {interval_pct(acc['low'], acc['high'])})"
    if acc["half"] is not None:
        return f"{pct(acc['mean'])} ± {points(acc['half'])} (95% interval over {acc['n']} seeds)"
    if acc["n"] > 1:
        each = " and ".join(pct(r["test_acc"]) for r in group["runs"])
        return f"{pct(acc['mean'])} (mean of {acc['n']} seeds: {each})"
    run = group["runs"][0]
    tested = run.get("tested_epoch")
    images = run.get("test_size")
    wilson = wilson_interval(round(run["test_acc"] * images), images) if is_number(images) and images else None
    details = ([f"95% Wilson interval {interval_pct(*wilson)} over {count(images)} test images"] if wilson else []) + (
        [f"weights of epoch {tested}"] if tested is not None else [])
    return pct(acc["mean"]) + (f" ({'; '.join(details)})" if details else "")


def _tied_line(compared) -> str | None:
    """Whether the paired tests separate the best from the rest: the set they cannot tell apart, or None."""
    if compared is None:
        return None
    tied = compared.tied_with_best
    pairs = [p for p in compared.pairs if p.a is compared.best]
    if not any(p.p is not None for p in pairs):
        return None
    if tied:
        names = ", ".join(g.model for g in tied)
        return (f"The data cannot tell {compared.best.model} apart from {names} (paired McNemar tests on the "
                f"shared test images, Holm-adjusted p ≥ {comparisons.ALPHA}): any of "
                f"{'these' if len(tied) > 1 else 'the two'} may be the best; see Seeds and comparisons.")
    return (f"The paired tests separate {compared.best.model} from every other model (McNemar on the shared test "
            f"images, Holm-adjusted p < {comparisons.ALPHA}).")


def _time_line(best: dict, groups: list[dict]) -> str | None:
    """The best model's median epoch against the cheapest model's, or that the spread does not separate them.
    A model with a run timed on a busy machine is compared with none: its times say more about the machine."""
    if best["busy"] and best["timing"]["median"] is not None:
        return (f"Its times are not compared: {best['busy']} of its {len(best['runs'])} run"
                f"{'s' if len(best['runs']) > 1 else ''} ran on a busy machine.")
    timed = [g for g in groups if g["timing"]["median"] is not None and not g["busy"]]
    if best not in timed or len(timed) < 2:
        return None
    fastest = min(timed, key=lambda g: g["timing"]["median"])
    b, f = best["timing"], fastest["timing"]
    if fastest is best:
        others = sorted((g for g in timed if g is not best), key=lambda g: g["timing"]["median"])
        second = others[0]
        if timing.within_spread(b, second["timing"]):
            return (f"It was also the fastest per epoch ({seconds_text(b['median'])}, median), but {second['label']} "
                    f"({seconds_text(second['timing']['median'])}) is within the epoch-to-epoch spread "
                    f"({seconds_text(max(b['spread'] or 0, second['timing']['spread'] or 0))}): the timings do not "
                    "separate them.")
        return f"It was also the fastest per epoch: {seconds_text(b['median'])} (median)."
    if timing.within_spread(b, f):
        return (f"Its median epoch ({seconds_text(b['median'])}) and that of the fastest, {fastest['label']} "
                f"({seconds_text(f['median'])}), differ by less than their epoch-to-epoch spread "
                f"({seconds_text(max(b['spread'] or 0, f['spread'] or 0))}): the timings do not separate them.")
    gap = best["acc"]["mean"] - fastest["acc"]["mean"]
    return (f"Its median epoch took {seconds_text(b['median'])}, {ratio(b['median'] / f['median'])} that of the "
            f"fastest, {fastest['label']} ({seconds_text(f['median'])}), which scored {points(gap)} points lower "
            f"({pct(fastest['acc']['mean'])}).")


def _setting_lines(groups: list[dict], split: str, lead: bool, compared=None) -> list[str]:
    best = max(groups, key=lambda g: g["acc"]["mean"])
    tied = _tied_line(compared)
    names = [compared.best.model, *(g.model for g in compared.tied_with_best)] if tied else []
    together = f"{', '.join(names[:-1])} and {names[-1]} cannot be told apart; " if len(names) > 1 else ""
    if not lead:  # the biased protocol, beside the headline's answer
        return [f"{protocol(split).beside}: {together}{best['label']} scored highest, {_accuracy(best)}."]
    opening = protocol(split).alone
    if together:
        lines = [f"{opening}: {together}{best['label']} scored highest, {_accuracy(best)}.", tied]
    else:
        lines = [f"{opening}: {best['label']} reached the highest test accuracy, {_accuracy(best)}."]
        if tied:
            lines.append(tied)
    time_line = _time_line(best, groups)
    if time_line:
        lines.append(time_line)
    sized = [g for g in groups if g["params"] is not None]
    if len({g["params"] for g in sized}) > 1:
        small, large = min(sized, key=lambda g: g["params"]), max(sized, key=lambda g: g["params"])
        lines.append(f"Trainable parameters range from {fmt(small['params'], 'count')} ({small['model']}, "
                     f"{pct(small['acc']['mean'])}) to {fmt(large['params'], 'count')} ({large['model']}, "
                     f"{pct(large['acc']['mean'])}).")
    return lines


def overview(study: Study, shown: Study | None = None) -> dict:
    """The answer per data set, the headline protocol first; then what did not complete.

    `shown`: every run the report shows (the sweeps' variants not chosen included), which the busy-machine
    count covers; `study` itself when None.

    {"datasets": [{"dataset", "lines"}], "notes": [...]}"""
    rows, done = study.rows, study.completed.rows
    shown_done = (shown or study).completed.rows
    groups = model_groups(study)
    found = {"datasets": [], "notes": []}
    if not done:
        found["notes"].append("No run completed, so there is nothing to compare yet; see the failed runs below.")
    for dataset in study.completed.datasets:
        lines = []
        for i, split in enumerate(study.completed.splits_of(dataset)):
            lines += _setting_lines([g for g in groups if (g["dataset"], g["split"]) == (dataset, split)], split, i == 0,
                                    study.comparisons.get((dataset, split)))
        busy = [r for r in shown_done if r["dataset"] == dataset and r.get("busy_machine")]
        if busy:
            lines.append(f"{len(busy)} of {sum(r['dataset'] == dataset for r in shown_done)} runs ran on a busy machine "
                         f"(their training job got less than {share(timing.BUSY_CPU_SHARE)} of its cores over its wall "
                         "time): their times say more about the machine than about the model.")
        found["datasets"].append({"dataset": dataset, "lines": lines})
    others = [r for r in rows if not is_completed(r)]
    if others:
        listed = ", ".join(f"{run_label(r)}: {r.get('status')}" for r in others[:10])
        more = f" and {len(others) - 10} more" if len(others) > 10 else ""
        found["notes"].append(f"{len(others)} of {len(rows)} runs did not complete ({listed}{more}); they are "
                              "listed below.")
    return found


# (what, the group's figure, best is the highest?, how the value is shown)
BEST_METRICS = [
    ("highest test accuracy", lambda g: g["acc"]["mean"], True, pct),
    ("lowest test loss", lambda g: g["loss"], False, lambda v: fmt(v, "loss")),
    ("shortest median epoch", lambda g: g["timing"]["median"], False, seconds_text),
    ("highest training throughput", lambda g: g["throughput"], True, lambda v: f"{rate(v)} images/s"),
    ("fewest trainable parameters", lambda g: g["params"], False, lambda v: fmt(v, "count")),
    ("lowest peak RAM in training", lambda g: g["ram"], False, lambda v: f"{megabytes(v)} MB"),
]


TIMED = {"shortest median epoch", "highest training throughput"}  # BEST_METRICS that compare times


def best_per_setting(study: Study) -> list[dict]:
    """Per (dataset, split), the headline protocol first: the best model for each of
    BEST_METRICS (first in run order on a tie; the mean over seeds)."""
    groups = model_groups(study)
    best = []
    for dataset, split in study.completed.settings:
        members = [g for g in groups if (g["dataset"], g["split"]) == (dataset, split)]
        for what, value, highest, show in BEST_METRICS:
            candidates = [g for g in members if is_number(value(g))]
            left_out = []
            if what in TIMED:  # a time from a busy machine is not compared
                left_out = [g for g in candidates if g["busy"]]
                candidates = [g for g in candidates if not g["busy"]]
            if not candidates:
                continue
            pick = (max if highest else min)(candidates, key=value)
            text = show(value(pick))
            compared = study.comparisons.get((dataset, split))
            if what == "highest test accuracy" and compared and compared.best.model == pick["model"]:
                tied = [g.model for g in compared.tied_with_best]
                if tied and _tied_line(compared):
                    text += f" (the paired tests cannot tell it apart from {', '.join(tied)})"
            if what == "shortest median epoch":
                close = [g for g in candidates if g is not pick and timing.within_spread(pick["timing"], g["timing"])]
                if close:
                    text += f" (within the epoch spread of {', '.join(g['model'] for g in close)})"
            if left_out:
                text += (f" (not compared, timed on a busy machine: "
                         f"{', '.join(g['model'] for g in left_out)})")
            best.append({"setting": f"{dataset}/{split}", "metric": what, "run": pick["label"],
                         "value": value(pick), "text": text,
                         "data": {"data-dataset": dataset, "data-split": split, "data-model": pick["model"]}})
    return best


def split_comparison(study: Study) -> dict:
    """Models run on both splits: test accuracy side by side (mean over seeds),
    and how much picking the best epoch on the test set gained in the two-split runs."""
    done = study.completed
    pairs = []
    for two in [g for g in done.groups if g.split == TWO.name]:
        dataset, model = two.dataset, two.model
        three = done.group_of(dataset, THREE.name, model)
        if three:
            two_acc, three_acc = two.stat("test_acc"), three.stat("test_acc")
            pairs.append({
                "dataset": dataset, "model": model, "two": two_acc, "three": three_acc,
                "two_text": pct(two_acc["mean"]), "three_text": pct(three_acc["mean"]),
                "diff_text": signed_points(two_acc['mean'] - three_acc['mean']),
                "data": {"data-dataset": dataset, "data-model": model},
            })
    # In 'two' the validation part is the test set: per epoch, val_acc is test
    # accuracy, so the tested epoch's val_acc minus the last epoch's is what
    # choosing the epoch on the test set added.
    gains = []
    for r in [r for r in done.rows if r["split"] == TWO.name]:
        epochs = study.history(r)
        tested = [h for h in epochs if h["epoch"] == r["tested_epoch"]]
        if epochs and tested and is_number(tested[0]["val_acc"]) and is_number(epochs[-1]["val_acc"]):
            gains.append(tested[0]["val_acc"] - epochs[-1]["val_acc"])
    sentences = [
        "With two splits the validation part is the test set, so the epoch kept is the one that scored best "
        "on the test images themselves: its test accuracy is chosen on the data it reports, and is biased "
        "upwards. The three-split runs choose on a validation part of the training images and test on images "
        "nothing was chosen on (they also train on that much fewer images)."
    ]
    if gains:
        mean_gain = sum(gains) / len(gains)
        sentences.append(
            f"Here, picking the best epoch on the test set added {points(mean_gain)} points on average over the "
            f"last epoch's test accuracy ({len(gains)} two-split run{'s' if len(gains) > 1 else ''}, "
            f"largest {points(max(gains))})."
        )
    if pairs:
        mean_diff = sum(p["two"]["mean"] - p["three"]["mean"] for p in pairs) / len(pairs)
        sentences.append(
            f"Over the {len(pairs)} model{'s' if len(pairs) > 1 else ''} run on both, the two-split test "
            f"accuracy is {signed_points(mean_diff)} points from the three-split one on average."
        )
    return {"pairs": pairs, "sentences": sentences}


def _seeds_text(n: int) -> str:
    return f"{n} seed{'s' if n != 1 else ''}"


def _pair_text(pair) -> str:
    """One pair in a sentence that is true of its seeds: how many each model ran, which seeds were paired."""
    a, b = pair.a, pair.b
    head = f"{a.model} ({_seeds_text(len(pair.a_values))}) − {b.model} ({_seeds_text(len(pair.b_values))})"
    if not pair.seeds:
        return (f"{head}: {signed_points(pair.diff)} points between their mean test accuracies, not tested "
                f"({pair.why_unpaired}).")
    shared = [s.seed for s in pair.seeds]
    if len(shared) == 1:
        one = pair.seeds[0]
        low, high = one.interval
        text = (f"{head}: {signed_points(one.diff)} points on the seed both ran (seed {one.seed}), 95% "
                f"{interval_points(low, high)} (paired bootstrap over {count(one.images)} test images); "
                f"{one.test['a_only']} images only {a.model} got right, {one.test['b_only']} only {b.model}")
    else:
        each = ", ".join(f"{signed_points(s.diff)} (seed {s.seed})" for s in pair.seeds)
        text = f"{head}: {signed_points(pair.diff)} points on average over the {len(shared)} seeds both ran"
        if pair.seed_interval:
            text += f", 95% {interval_points(*pair.seed_interval)} (bootstrap over seeds)"
        else:
            text += f" (fewer than {MIN_SEEDS_FOR_INTERVAL}: no interval)"
        text += f"; seed by seed {each}"
    if pair.beats is not None and (len(pair.a_values) > 1 or len(pair.b_values) > 1):
        text += (f"; P({a.model} beats {b.model}) = {pair.beats:.2f} over the "
                 f"{len(pair.a_values)} × {len(pair.b_values)} seed pairs")
    verdict = f"{a.model} higher" if pair.told_apart else "cannot be told apart"
    if pair.seeds_disagree:
        return f"{text}; the seeds disagree on which is better, so p = 1: {verdict}."
    tested = "McNemar" if len(shared) == 1 else "largest McNemar"
    return f"{text}; {tested} {p_equals(pair.p)}, Holm-adjusted {p_equals(pair.p_adjusted)}: {verdict}."


def seed_comparison(study: Study) -> list[dict]:
    """Per (dataset, split) with two or more models: every pair, best first, compared on their shared
    test images (comparisons.py): difference, interval, adjusted p, verdict, and a sentence each."""
    found = []
    for (dataset, split), compared in study.comparisons.items():
        rows = []
        for pair in compared.pairs:
            interval = pair.interval
            rows.append({
                "a": pair.a.model, "b": pair.b.model, "diff": pair.diff, "diff_text": signed_points(pair.diff),
                "interval": interval, "interval_text": interval_points(*interval) if interval else "–",
                "interval_kind": pair.interval_kind or pair.why_unpaired,
                "seeds": ", ".join(str(s.seed) for s in pair.seeds) or "–",
                "p_adjusted": pair.p_adjusted,
                "p_text": p_value(pair.p_adjusted) if pair.p_adjusted is not None else "–",
                "verdict": (f"{pair.a.model} higher" if pair.told_apart else
                            "cannot be told apart" if pair.p is not None else "not tested"),
                "told_apart": pair.told_apart, "text": _pair_text(pair),
                "data": {"data-dataset": dataset, "data-split": split, "data-model": pair.a.model},
            })
        tied = [compared.best.model, *(g.model for g in compared.tied_with_best)]
        found.append({
            "setting": f"{dataset}/{split}", "best": compared.best.model, "tied": tied, "pairs": rows,
            "text": (f"the data cannot tell {compared.best.model} (highest mean) apart from {', '.join(tied[1:])}"
                     if len(tied) > 1 else f"the paired tests tell {compared.best.model} apart from every other model"),
            "data": {"data-dataset": dataset, "data-split": split},
        })
    return found


def not_completed(study: Study) -> list[dict]:
    """Runs that diverged or failed, with how far they got."""
    return [
        {
            "run": run_label(r), "status": r.get("status") or "unknown",
            "last_epoch": r.get("epochs_run"), "planned": r.get("epochs_planned"),
            "note": r.get("note") or (r.get("tested_weights") and f"tested: {r['tested_weights']}") or "",
            "data": {"data-dataset": r["dataset"], "data-split": r["split"], "data-model": r["model"]},
        }
        for r in study.rows
        if r.get("status") != "completed"
    ]
