"""The decisions of a halved sweep (cnncompare.plan.halving) and the file that
records them, sweeps/halving.json (its contract: docs/outputs.md).

A rung ranks the variants that entered it by their mean validation accuracy
over their seeds, at the epoch the rung trained to. It promotes the best 1/eta
(at least one), and names a tie instead of breaking it on luck: a variant below
the cut whose validation accuracy is within noise of the last one promoted goes
on too, listed as tied. "Within noise" is the report's own rule for a sweep
(report/sweep_report.py): their 95% Wilson intervals of validation accuracy,
each taken over all seeds (lowest low to highest high), overlap. A variant with
a diverged seed never goes on, and takes no place above the cut.

Plain functions of plain values (a run's history rows and train.json), so a
test can fabricate a rung's results; the scripts promote_rung.py and
summarize_halving.py tie them to files.
"""

from __future__ import annotations

import statistics

from cnncompare.fileio import read_csv, read_json
from cnncompare.plan.halving import kept
from cnncompare.report.sweep_report import wilson_span


def run_result(history: list[dict], info: dict, start_epoch: int = 0) -> dict:
    """One run at a rung, from its history rows and train.json: the validation
    accuracy of its last epoch, the validation set's size, its status, the epochs
    it has run and the epoch its rung started from (the previous rung's)."""
    last = history[-1] if history else {}
    return {"val_acc": float(last["val_acc"]) if last else None, "val_size": info.get("val_size"),
            "status": info.get("status"), "epochs_run": len(history), "start_epoch": start_epoch}


def read_run(history_path, info_path, start_epoch: int = 0) -> dict:
    return run_result(read_csv(history_path), read_json(info_path), start_epoch)


def scores(results: dict[str, dict[str, dict]]) -> dict[str, dict]:
    """{variant: {seed: run_result}} -> the contract's scores: {variant: {"mean_val_acc",
    "val_acc": {seed: accuracy}, "diverged"}}; a diverged or unscored seed makes the
    variant diverged (it does not go on), and its mean None."""
    found = {}
    for variant, seeds in results.items():
        accs = {str(seed): r["val_acc"] for seed, r in seeds.items()}
        diverged = any(r["status"] != "completed" or r["val_acc"] is None for r in seeds.values())
        found[variant] = {"mean_val_acc": None if diverged else statistics.fmean(accs.values()),
                          "val_acc": accs, "diverged": diverged}
    return found


def decide(results: dict[str, dict[str, dict]], eta: int) -> tuple[list[str], list[str]]:
    """(promoted, tied) of a rung: `results` is {variant: {seed: run_result}} in the
    sweep's order, which breaks an exact tie of the means. promoted holds the best
    1/eta (at least one) and the tied ones, best first; tied those of them below the cut."""
    scored = scores(results)
    ranked = sorted((v for v in results if not scored[v]["diverged"]),
                    key=lambda v: -scored[v]["mean_val_acc"])  # stable: sweep order on equal means
    if not ranked:
        return [], []
    cut = kept(len(results), eta)
    above, below = ranked[:cut], ranked[cut:]
    span = wilson_span(list(results[above[-1]].values()))
    tied = []
    if span is not None:
        for variant in below:
            other = wilson_span(list(results[variant].values()))
            if other is not None and other[0] <= span[1] and span[0] <= other[1]:
                tied.append(variant)
    return above + tied, tied


def rung_record(rung: int, epochs: int, results: dict[str, dict[str, dict]], eta: int, last: bool) -> dict:
    """A rung of the contract: the variants that entered it, their runs and scores,
    and (short of the last rung) who goes on."""
    promoted, tied = ([], []) if last else decide(results, eta)
    return {"rung": rung, "epochs": epochs, "variants": list(results),
            "runs": sum(len(seeds) for seeds in results.values()), "scores": scores(results),
            "promoted": promoted, "tied": tied, "finished": True,
            # Added to the contract: the epochs the rung's runs trained (from their
            # previous rung's epoch on) and the seeds that diverged.
            "trained_epochs": sum(max(0, r["epochs_run"] - r["start_epoch"])
                                  for seeds in results.values() for r in seeds.values())}


def group_record(group: dict, rungs: list[dict], histories: dict[str, dict[str, str]]) -> dict:
    """One (dataset, split, block, bracket) of halving.json. group: its identity and
    plan facts (eta, min_epochs, epochs, seeds, full_grid_epochs, planned_epochs,
    rung_epochs); rungs: rung_record of each rung that ran, in order; histories:
    {variant: {seed: path}} of each variant's history.csv at its last rung."""
    variants = {}
    last_rung = len(group["rung_epochs"]) - 1
    for record in rungs:
        for variant in record["variants"]:
            variants[variant] = {"last_rung": record["rung"], "stopped_epoch": record["epochs"],
                                 "pruned": record["rung"] < last_rung, "history": histories[variant]}
    for variant, entry in variants.items():
        # A diverged run stopped before its rung's epoch.
        rung = rungs[entry["last_rung"] - rungs[0]["rung"]]
        if rung["scores"][variant]["diverged"]:
            entry["diverged"] = True
    return {**{k: group[k] for k in ("dataset", "split", "block", "bracket", "eta", "min_epochs", "epochs",
                                     "seeds", "full_grid_epochs", "planned_epochs")},
            "spent_epochs": sum(r["trained_epochs"] for r in rungs),
            "rung_epochs": group["rung_epochs"], "rungs": rungs, "variants": variants}


def halving_record(groups: list[dict]) -> dict:
    """halving.json from summarize_halving's groups (workflow/rules/halving.smk): each
    group's plan facts, its decisions' files and each rung's histories, and its last
    rung's runs [variant, seed, history.csv, train.json], which are scored here."""
    found = []
    for group in groups:
        rungs = [read_json(path) for path in group["decisions"]]
        last = group["last"]
        results: dict[str, dict[str, dict]] = {}
        for variant, seed, history, info in last["runs"]:
            results.setdefault(variant, {})[str(seed)] = read_run(history, info, last["start_epoch"])
        rungs.append(rung_record(last["rung"], last["epochs"], results, group["eta"], last=True))
        histories: dict[str, dict[str, str]] = {}
        for rung in group["histories"]:
            histories.update(rung)
        for variant, seed, history, _ in last["runs"]:
            histories.setdefault(variant, {})[str(seed)] = history
        found.append(group_record(group, rungs, histories))
    return {"groups": found}
