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

from cnncompare.report import timing
from cnncompare.report.stats import (
    describe, group_label, group_runs, is_number, mean_interval, proportion_halfwidth, welch_interval,
)
from cnncompare.report.numbers import fmt, megabytes, pct, points, rate, seconds_text, share, signed_points
from cnncompare.report.tables import run_label

BIASED = "(the epoch is picked on the test set itself, so its figure is biased upwards)"
PROTOCOL = {
    "three": "Three splits (validation picks the epoch, the test set only reports)",
    "two": f"The study's protocol, two splits {BIASED}",
}
ONLY_TWO = f"Two splits only, the study's protocol {BIASED}"


def completed(rows: list[dict]) -> list[dict]:
    """Runs that finished and have a test accuracy (diverged and failed runs are listed apart)."""
    return [r for r in rows if r.get("status") == "completed" and is_number(r.get("test_acc"))]


def _timing(row: dict) -> dict:
    return {"median": row.get("epoch_median_seconds"), "spread": row.get("epoch_spread_seconds"), "epochs": 1}


def model_groups(done: list[dict]) -> list[dict]:
    """Per (dataset, split, model) of completed runs: its label, runs and figures over seeds."""
    groups = []
    for key, runs in group_runs(done).items():
        label = run_label(runs[0]) if len(runs) == 1 else f"{group_label(key)} (mean of {len(runs)} seeds)"
        groups.append({
            "key": key, "dataset": key[0], "split": key[1], "model": key[2], "label": label, "runs": runs,
            "acc": mean_interval([r["test_acc"] for r in runs]),
            "loss": describe([r.get("test_loss") for r in runs])["mean"],
            "timing": timing.group_timing([_timing(r) for r in runs]),
            "throughput": describe([r.get("images_per_second") for r in runs])["mean"],
            "params": describe([r.get("params_trainable") for r in runs])["mean"],
            "ram": describe([r.get("peak_rss_mb") for r in runs])["mean"],
            "busy": sum(bool(r.get("busy_machine")) for r in runs),
        })
    return groups


def _accuracy(group: dict) -> str:
    acc = group["acc"]
    if acc["n"] > 1 and acc["half"] is not None:
        return f"{pct(acc['mean'])} ± {points(acc['half'])} (95% interval over {acc['n']} seeds)"
    tested = group["runs"][0].get("tested_epoch")
    return pct(acc["mean"]) + (f" (weights of epoch {tested})" if tested is not None else "")


def _time_line(best: dict, groups: list[dict]) -> str | None:
    """The best model's median epoch against the cheapest model's, or that the spread does not separate them."""
    timed = [g for g in groups if g["timing"]["median"] is not None]
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
    return (f"Its median epoch took {seconds_text(b['median'])}, {b['median'] / f['median']:.1f}× that of the "
            f"fastest, {fastest['label']} ({seconds_text(f['median'])}), which scored {points(gap)} points lower "
            f"({pct(fastest['acc']['mean'])}).")


def _setting_lines(groups: list[dict], split: str, lead: bool) -> list[str]:
    best = max(groups, key=lambda g: g["acc"]["mean"])
    if not lead:  # the study's protocol, beside the three-split answer
        return [f"{PROTOCOL[split]}: {best['label']} scored highest, {_accuracy(best)}."]
    opening = PROTOCOL[split] if split == "three" else ONLY_TWO
    lines = [f"{opening}: {best['label']} reached the highest test accuracy, {_accuracy(best)}."]
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


def overview(rows: list[dict]) -> dict:
    """The answer per data set, three splits first; then what did not complete.

    {"datasets": [{"dataset", "lines"}], "notes": [...]}"""
    done = completed(rows)
    groups = model_groups(done)
    found = {"datasets": [], "notes": []}
    if not done:
        found["notes"].append("No run completed, so there is nothing to compare yet; see the failed runs below.")
    for dataset in dict.fromkeys(r["dataset"] for r in done):
        lines = []
        splits = [s for s in ("three", "two") if any(g["dataset"] == dataset and g["split"] == s for g in groups)]
        for i, split in enumerate(splits):
            lines += _setting_lines([g for g in groups if (g["dataset"], g["split"]) == (dataset, split)], split, i == 0)
        busy = [r for r in done if r["dataset"] == dataset and r.get("busy_machine")]
        if busy:
            lines.append(f"{len(busy)} of {sum(r['dataset'] == dataset for r in done)} runs ran on a busy machine "
                         f"(their training job got less than {share(timing.BUSY_CPU_SHARE)} of its cores over its wall "
                         "time): their times say more about the machine than about the model.")
        found["datasets"].append({"dataset": dataset, "lines": lines})
    others = [r for r in rows if r not in done]
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


def best_per_setting(rows: list[dict]) -> list[dict]:
    """Per (dataset, split), three splits first: the best model for each of
    BEST_METRICS (first in run order on a tie; the mean over seeds)."""
    groups = model_groups(completed(rows))
    settings = list(dict.fromkeys((g["dataset"], g["split"]) for g in groups))
    settings.sort(key=lambda s: (list(dict.fromkeys(g["dataset"] for g in groups)).index(s[0]), s[1] != "three"))
    best = []
    for dataset, split in settings:
        members = [g for g in groups if (g["dataset"], g["split"]) == (dataset, split)]
        for what, value, highest, show in BEST_METRICS:
            candidates = [g for g in members if is_number(value(g))]
            if not candidates:
                continue
            pick = (max if highest else min)(candidates, key=value)
            text = show(value(pick))
            if what == "shortest median epoch":
                close = [g for g in candidates if g is not pick and timing.within_spread(pick["timing"], g["timing"])]
                if close:
                    text += f" (within the epoch spread of {', '.join(g['model'] for g in close)})"
            best.append({"setting": f"{dataset}/{split}", "metric": what, "run": pick["label"],
                         "value": value(pick), "text": text,
                         "data": {"data-dataset": dataset, "data-split": split, "data-model": pick["model"]}})
    return best


def split_comparison(rows: list[dict], history: list[dict]) -> dict:
    """Models run on both splits: test accuracy side by side (mean over seeds),
    and how much picking the best epoch on the test set gained in the two-split runs."""
    done = completed(rows)
    pairs = []
    for key, runs in group_runs([r for r in done if r["split"] == "two"]).items():
        dataset, _, model = key
        three = [r for r in done if (r["dataset"], r["split"], r["model"]) == (dataset, "three", model)]
        if three:
            two_acc = describe([r["test_acc"] for r in runs])
            three_acc = describe([r["test_acc"] for r in three])
            pairs.append({
                "dataset": dataset, "model": model, "two": two_acc, "three": three_acc,
                "two_text": pct(two_acc["mean"]), "three_text": pct(three_acc["mean"]),
                "diff_text": signed_points(two_acc['mean'] - three_acc['mean']),
                "data": {"data-dataset": dataset, "data-model": model},
            })
    # In 'two' the validation part is the test set: per epoch, val_acc is test
    # accuracy, so the tested epoch's val_acc minus the last epoch's is what
    # choosing the epoch on the test set added.
    by_run = {}
    for h in history:
        by_run.setdefault(run_label(h), []).append(h)
    gains = []
    for r in [r for r in done if r["split"] == "two"]:
        epochs = by_run.get(run_label(r), [])
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


def seed_comparison(rows: list[dict]) -> list[dict]:
    """Per (dataset, split): the two models with the highest mean test accuracy,
    the difference and its 95% interval over seeds (Welch), or with one seed per
    model the test set's own sampling error."""
    done = completed(rows)
    found = []
    by_setting = {}
    for key, runs in group_runs(done).items():
        by_setting.setdefault(key[:2], []).append((key, runs))
    for (dataset, split), groups in by_setting.items():
        if len(groups) < 2:
            continue
        ranked = sorted(groups, key=lambda g: describe([r["test_acc"] for r in g[1]])["mean"], reverse=True)
        (first_key, first), (second_key, second) = ranked[:2]
        a, b = [r["test_acc"] for r in first], [r["test_acc"] for r in second]
        interval = welch_interval(a, b)
        entry = {
            "setting": f"{dataset}/{split}", "first": group_label(first_key), "second": group_label(second_key),
            "first_n": len(a), "second_n": len(b), "interval": interval,
            "diff": sum(a) / len(a) - sum(b) / len(b),
            "data": {"data-dataset": dataset, "data-split": split},
        }
        if interval:
            verdict = ("the interval excludes 0" if interval["low"] > 0 or interval["high"] < 0
                       else "the interval includes 0: the seeds do not separate them")
            entry["text"] = (
                f"{entry['first']} − {entry['second']}: {signed_points(interval['diff'])} points of test accuracy, "
                f"95% interval [{signed_points(interval['low'])}, {signed_points(interval['high'])}] "
                f"(Welch's t over n = {len(a)} and {len(b)} seeds); {verdict}."
            )
        else:
            n_test = first[0].get("test_size") or 0
            half = proportion_halfwidth(first[0]["test_acc"], n_test) if n_test else None
            entry["text"] = (
                f"{entry['first']} − {entry['second']}: {signed_points(entry['diff'])} points of test accuracy from "
                f"one seed each, so no interval over seeds"
                + (f"; the test set's sampling error alone is about ±{points(half)} points (95%, "
                   f"{n_test:,} images)." if half is not None else ".")
            )
        found.append(entry)
    return found


def not_completed(rows: list[dict]) -> list[dict]:
    """Runs that diverged or failed, with how far they got."""
    return [
        {
            "run": run_label(r), "status": r.get("status") or "unknown",
            "last_epoch": r.get("epochs_run"), "planned": r.get("epochs_planned"),
            "note": r.get("note") or (r.get("tested_weights") and f"tested: {r['tested_weights']}") or "",
            "data": {"data-dataset": r["dataset"], "data-split": r["split"], "data-model": r["model"]},
        }
        for r in rows
        if r.get("status") != "completed"
    ]
