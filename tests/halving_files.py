"""A halved sweep's files written by a test instead of by the workflow:
`{results}/sweeps/halving.json` in the format the workflow writes (the contract
in report/halving.py), a history.csv with the columns of train/training.py for
every variant and seed up to the epoch where it stopped, and the complete run
files (synthetic_runs.write_run) of the variants that reached the last rung.

The sweep: custom_cnn over 9 learning rates on digits, three splits, seeds 0
and 1, eta 3 from epoch 1 to 9: rung 0 (epoch 1) takes all 9, rung 1 (epoch 3)
the best 3, rung 2 (epoch 9) the best one and one tied with the cut (0.05 and
0.1; the winner is 0.05).
"""

from __future__ import annotations

import csv
import json
import math
import statistics
from pathlib import Path

import synthetic_runs
from cnncompare.columns import HISTORY_COLUMNS

BLOCK, DATASET, SPLIT, SEEDS, EPOCHS = "custom_cnn", "digits", "three", (0, 1), 9
# lr -> the validation accuracy its curve rises to (its full run's last epoch).
LEARNING_RATES = {0.001: 0.62, 0.002: 0.71, 0.005: 0.83, 0.01: 0.93, 0.02: 0.955, 0.05: 0.95, 0.1: 0.9,
                  0.2: 0.78, 0.5: 0.4}
RUNGS = [(1, 9), (3, 3), (9, 2)]  # (epochs trained to, variants entered)


def variant(lr: float) -> str:
    return f"{BLOCK}.lr-{lr}"


# lr -> how fast its curve rises: the small rates are slow starters, so 0.02, which would end best,
# is pruned at rung 1 behind 0.05 and 0.1 (halving's known bias against slow starters).
SPEEDS = {0.001: 0.15, 0.002: 0.25, 0.005: 0.4, 0.01: 0.6, 0.02: 0.8, 0.05: 1.0, 0.1: 1.3, 0.2: 1.6, 0.5: 2.0}


def val_acc(lr: float, seed: int, epoch: int) -> float:
    """A curve that rises to its variant's level at its variant's speed, the seeds a little apart."""
    top = LEARNING_RATES[lr] + (0.004 if seed else -0.004)
    return round(top * (1 - math.exp(-SPEEDS[lr] * epoch)), 4)


def history_rows(lr: float, seed: int, stop: int) -> list[dict]:
    rows = []
    for epoch in range(1, stop + 1):
        val = val_acc(lr, seed, epoch)
        rows.append({"epoch": epoch, "train_loss": round(2.0 * (1 - val) + 0.05, 4), "train_acc": round(val - 0.01, 4),
                     "val_loss": round(2.2 * (1 - val) + 0.1, 4), "val_acc": val, "lr": round(lr * (1 - epoch / EPOCHS), 6),
                     "epoch_seconds": 1.0, "elapsed_seconds": float(epoch)})
    return rows


def write_history(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=HISTORY_COLUMNS)
        writer.writeheader()
        writer.writerows(rows)


def models() -> dict:
    """The render rule's `models` param for the sweep's variants."""
    return {variant(lr): {"description": "", "reference": {},
                          "sweep": {"block": BLOCK, "keys": ["lr"], "settings": {"lr": lr}}} for lr in LEARNING_RATES}


def write(base: Path, results: str = "results", unfinished: bool = False) -> dict:
    """Every file under base/results; returns {"halving": path of halving.json (relative to base), "metrics":
    the last rung's run metrics}. `unfinished`: the last rung has not run (the run files are not written)."""
    entered = list(LEARNING_RATES)
    rungs, stopped = [], {}
    for index, (epochs, _) in enumerate(RUNGS):
        scores = {variant(lr): {"mean_val_acc": statistics.fmean(val_acc(lr, s, epochs) for s in SEEDS),
                                "val_acc": {str(s): val_acc(lr, s, epochs) for s in SEEDS}, "diverged": False}
                  for lr in entered}
        last = index == len(RUNGS) - 1
        finished = not (last and unfinished)
        ranked = sorted(entered, key=lambda lr: -scores[variant(lr)]["mean_val_acc"])
        keep = [] if last else ranked[:RUNGS[index + 1][1]]
        # The cut at rung 1 falls between two variants within noise: the second is promoted as tied.
        tied = [variant(keep[-1])] if index == 1 else []
        rungs.append({"rung": index, "epochs": epochs, "variants": [variant(lr) for lr in entered],
                      "runs": len(entered) * len(SEEDS), "scores": scores if finished else {},
                      "promoted": [variant(lr) for lr in keep], "tied": tied, "finished": finished})
        for lr in entered:
            if finished:
                stopped[lr] = (index, epochs)
        entered = keep
    folder = f"{results}/runs/{DATASET}/{SPLIT}"
    variants, metrics = {}, []
    for lr, (last_rung, stop) in stopped.items():
        history = {}
        for seed in SEEDS:
            relative = f"{folder}/{variant(lr)}/seed{seed}/history.csv"
            history[str(seed)] = relative
            if last_rung == len(RUNGS) - 1:  # an ordinary finished run, its history.csv included
                metrics.append(synthetic_runs.write_run(
                    base / relative.removesuffix("/history.csv"), DATASET, SPLIT, variant(lr), seed,
                    accuracy=LEARNING_RATES[lr] - 0.01, epoch_seconds=1.0, params=307_946, epochs=EPOCHS,
                    extra={"val_acc": val_acc(lr, seed, EPOCHS)}))
            write_history(base / relative, history_rows(lr, seed, stop))
        # Pruned: stopped before the last rung and not promoted (a variant waiting for a rung that has
        # not run is not pruned).
        pruned = last_rung < len(RUNGS) - 1 and variant(lr) not in rungs[last_rung]["promoted"]
        variants[variant(lr)] = {"last_rung": last_rung, "stopped_epoch": stop, "pruned": pruned, "history": history}
    spent = sum(r["runs"] * r["epochs"] for r in rungs if r["finished"])
    group = {"dataset": DATASET, "split": SPLIT, "block": BLOCK, "bracket": 0, "eta": 3, "min_epochs": 1,
             "epochs": EPOCHS, "seeds": list(SEEDS), "full_grid_epochs": len(LEARNING_RATES) * len(SEEDS) * EPOCHS,
             "planned_epochs": sum(r["runs"] * r["epochs"] for r in rungs), "spent_epochs": spent,
             "rungs": rungs, "variants": variants}
    path = base / results / "sweeps" / "halving.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"groups": [group]}, indent=2))
    return {"halving": f"{results}/sweeps/halving.json", "metrics": metrics}
