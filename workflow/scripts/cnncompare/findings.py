"""What the report says in words, written from the data: the overview's
answers, the two-vs-three split comparison, the seed statistics and the runs
that did not complete."""

from __future__ import annotations

from cnncompare.stats import (
    describe, group_label, group_runs, is_number, proportion_halfwidth, welch_interval,
)
from cnncompare.tables import fmt, run_label


def completed(rows: list[dict]) -> list[dict]:
    """Runs that finished and have a test accuracy (diverged and failed runs are listed apart)."""
    return [r for r in rows if r.get("status") == "completed" and is_number(r.get("test_acc"))]


# (what, summary column, best is the highest?, how the value is shown)
BEST_METRICS = [
    ("highest test accuracy", "test_acc", True, lambda v: f"{v:.2%}"),
    ("lowest test loss", "test_loss", False, lambda v: f"{v:.4f}"),
    ("shortest training time", "train_seconds", False, lambda v: f"{v:.1f} s"),
    ("highest training throughput", "images_per_second", True, lambda v: f"{v:,.0f} images/s"),
    ("fewest trainable parameters", "params_trainable", False, lambda v: f"{v:,}"),
    ("lowest peak RAM in training", "peak_rss_mb", False, lambda v: f"{v:,.0f} MB"),
]


def best_per_metric(rows: list[dict]) -> list[dict]:
    """The best completed run for each of BEST_METRICS (first in run order on a tie)."""
    done = completed(rows)
    best = []
    for what, column, highest, show in BEST_METRICS:
        candidates = [r for r in done if is_number(r.get(column))]
        if candidates:
            pick = (max if highest else min)(candidates, key=lambda r: r[column])
            best.append({"metric": what, "run": run_label(pick), "value": pick[column], "text": show(pick[column])})
    return best


def overview(rows: list[dict]) -> list[str]:
    """A few sentences that answer 'which model, at what cost' first: one set per
    data set, since accuracies on different data sets do not compare."""
    done = completed(rows)
    lines = []
    if not done:
        lines.append("No run completed, so there is nothing to compare yet; see the failed runs below.")
    datasets = list(dict.fromkeys(r["dataset"] for r in done))
    for dataset in datasets:
        found = _dataset_findings([r for r in done if r["dataset"] == dataset])
        lines += [(f"On {dataset}: " if len(datasets) > 1 else "") + found[0], *found[1:]]
    others = [r for r in rows if r not in done]
    if others:
        listed = ", ".join(f"{run_label(r)}: {r.get('status')}" for r in others)
        lines.append(f"{len(others)} of {len(rows)} runs did not complete ({listed}); they are listed below.")
    return lines


def _dataset_findings(done: list[dict]) -> list[str]:
    """The best run, its cost against the fastest, and the range of trainable parameters."""
    best = max(done, key=lambda r: r["test_acc"])
    lines = [
        f"{run_label(best)} reached the highest test accuracy, {best['test_acc']:.2%} "
        f"(weights of epoch {best['tested_epoch']}), in {best['train_seconds']:.0f} s of training."
    ]
    fastest = min(done, key=lambda r: r["train_seconds"])
    if fastest is not best and fastest["train_seconds"] > 0:
        ratio = best["train_seconds"] / fastest["train_seconds"]
        gap = best["test_acc"] - fastest["test_acc"]
        lines.append(
            f"That is {ratio:.1f}× the training time of the fastest run, {run_label(fastest)} "
            f"({fastest['train_seconds']:.0f} s), which scored {gap * 100:.1f} points lower "
            f"({fastest['test_acc']:.2%})."
        )
    trainable = [r for r in done if is_number(r.get("params_trainable"))]
    if len({r["params_trainable"] for r in trainable}) > 1:
        small = min(trainable, key=lambda r: r["params_trainable"])
        large = max(trainable, key=lambda r: r["params_trainable"])
        lines.append(
            f"Trainable parameters range from {small['params_trainable']:,} ({run_label(small)}, "
            f"{small['test_acc']:.2%}) to {large['params_trainable']:,} ({run_label(large)}, "
            f"{large['test_acc']:.2%})."
        )
    return lines


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
                "two_text": fmt(two_acc["mean"], 4), "three_text": fmt(three_acc["mean"], 4),
                "diff_text": f"{(two_acc['mean'] - three_acc['mean']) * 100:+.2f}",
            })
    # In 'two' the validation part is the test set: per epoch, val_acc is test
    # accuracy, so the tested epoch's val_acc minus the last epoch's is what
    # choosing the epoch on the test set added.
    gains = []
    for r in [r for r in done if r["split"] == "two"]:
        epochs = [h for h in history if run_label(h) == run_label(r)]
        tested = [h for h in epochs if h["epoch"] == r["tested_epoch"]]
        if epochs and tested:
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
            f"Here, picking the best epoch on the test set added {mean_gain * 100:.2f} points on average over the "
            f"last epoch's test accuracy ({len(gains)} two-split run{'s' if len(gains) > 1 else ''}, "
            f"largest {max(gains) * 100:.2f})."
        )
    if pairs:
        mean_diff = sum(p["two"]["mean"] - p["three"]["mean"] for p in pairs) / len(pairs)
        sentences.append(
            f"Over the {len(pairs)} model{'s' if len(pairs) > 1 else ''} run on both, the two-split test "
            f"accuracy is {mean_diff * 100:+.2f} points from the three-split one on average."
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
        }
        if interval:
            verdict = ("the interval excludes 0" if interval["low"] > 0 or interval["high"] < 0
                       else "the interval includes 0: the seeds do not separate them")
            entry["text"] = (
                f"{entry['first']} − {entry['second']}: {interval['diff'] * 100:+.2f} points of test accuracy, "
                f"95% interval [{interval['low'] * 100:+.2f}, {interval['high'] * 100:+.2f}] "
                f"(Welch's t over n = {len(a)} and {len(b)} seeds); {verdict}."
            )
        else:
            n_test = first[0].get("test_size") or 0
            half = proportion_halfwidth(first[0]["test_acc"], n_test) if n_test else None
            entry["text"] = (
                f"{entry['first']} − {entry['second']}: {entry['diff'] * 100:+.2f} points of test accuracy from "
                f"one seed each, so no interval over seeds"
                + (f"; the test set's sampling error alone is about ±{half * 100:.2f} points (95%, "
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
        }
        for r in rows
        if r.get("status") != "completed"
    ]
