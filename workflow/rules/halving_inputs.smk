# The input functions of halving.smk's rules, and of train_model's survivors of a
# halved sweep (cnncompare/plan/halving.py): in a file of their own, beside
# common.smk, which stays the home of every other rule's input functions.
import json


def last_rung_resumes(wildcards):
    """A survivor of a halved sweep (workflow/rules/halving.smk) resumes its full run
    from its last rung short of the full budget: that rung comes first."""
    halving = PLAN.halving_of(wildcards.model)
    if halving is None or halving.last_rung == halving.bracket_of(wildcards.model):
        return {}
    return {"rung": PLAN.run(wildcards).rung_file(halving.last_rung - 1, "train.json")}


def rung_run(wildcards):
    """The halving, run and bracket of a job's run (a variant of a halved sweep)."""
    halving = PLAN.halving_of(wildcards.model)
    if halving is None:
        raise WorkflowError(f"{wildcards.model} is no variant of a halved sweep")
    return halving, PLAN.run(wildcards), halving.bracket_of(wildcards.model)


def previous_rung(wildcards):
    """A rung's run resumes from its previous rung's checkpoint: that rung comes first."""
    halving, run, bracket = rung_run(wildcards)
    rung = int(wildcards.rung)
    if not bracket <= rung < halving.last_rung:
        raise WorkflowError(
            f"{run.label} trains at rungs {bracket} to {halving.last_rung - 1} of "
            f"models.{halving.block}.halving, not {rung}"
        )
    return {"previous": run.rung_file(rung - 1, "train.json")} if rung > bracket else {}


def rung_budget(wildcards):
    """What train_rung's job trains to: {"rung": k, "epochs": rung k's epoch}."""
    halving = rung_run(wildcards)[0]
    return {"rung": int(wildcards.rung), "epochs": halving.rungs[int(wildcards.rung)]}


def entering(dataset, split, block, bracket, rung):
    """The variants that enter a rung of a bracket: all of its variants at its first
    rung, then those its previous rung promoted (known once that decision ran)."""
    halving = PLAN.halving[block]
    if rung == bracket:
        return halving.bracket_variants(bracket)
    decision = checkpoints.promote_rung.get(
        dataset=dataset, split=split, block=block, bracket=bracket, rung=rung - 1
    ).output.decision
    with open(decision) as fh:
        return json.load(fh)["promoted"]


def rung_runs(wildcards):
    """The runs (variant, seed) that entered the decision's rung."""
    variants = entering(
        wildcards.dataset,
        wildcards.split,
        wildcards.block,
        int(wildcards.bracket),
        int(wildcards.rung),
    )
    seeds = PLAN.halving[wildcards.block].seeds
    return [
        PLAN.run({**wildcards, "model": v, "seed": s}) for v in variants for s in seeds
    ]


def rung_inputs(wildcards):
    rung = wildcards.rung
    runs = rung_runs(wildcards)
    return {
        "history": [run.rung_file(rung, "history.csv") for run in runs],
        "info": [run.rung_file(rung, "train.json") for run in runs],
    }


def rung_params(wildcards):
    halving, rung, bracket = (
        PLAN.halving[wildcards.block],
        int(wildcards.rung),
        int(wildcards.bracket),
    )
    return {
        "rung": rung,
        "epochs": halving.rungs[rung],
        "start_epoch": halving.rungs[rung - 1] if rung > bracket else 0,
        "eta": halving.eta,
        "runs": [[run.model, run.seed] for run in rung_runs(wildcards)],
    }


def survivors(group):
    """The variants of a group (dataset, split, block, bracket) that reach the last rung."""
    halving = PLAN.halving[group["block"]]
    return entering(
        group["dataset"],
        group["split"],
        group["block"],
        group["bracket"],
        halving.last_rung,
    )


def finished_runs():
    """The runs that train to their full epochs: every run not of a halved sweep,
    and the halved sweeps' survivors (known once their last decision ran)."""
    found = PLAN.unhalved_runs
    for group in PLAN.halving_groups():
        seeds = PLAN.halving[group["block"]].seeds
        where = {"dataset": group["dataset"], "split": group["split"]}
        found += [
            PLAN.run({**where, "model": v, "seed": s})
            for v in survivors(group)
            for s in seeds
        ]
    return found


def halving_groups(wildcards):
    """summarize_halving's groups: each with its plan facts and its rungs (the
    decisions' files, and the last rung's runs)."""
    groups = []
    for group in PLAN.halving_groups():
        halving, bracket = PLAN.halving[group["block"]], group["bracket"]
        where = {"dataset": group["dataset"], "split": group["split"]}
        last = halving.last_rung
        decisions = [
            PLAN.rung_decision(**group, rung=rung) for rung in range(bracket, last)
        ]
        # Each variant's history.csv at each rung it entered, seed by seed.
        histories = [
            {
                v: {
                    str(s): PLAN.run({**where, "model": v, "seed": s}).rung_file(
                        rung, "history.csv"
                    )
                    for s in halving.seeds
                }
                for v in entering(**group, rung=rung)
            }
            for rung in range(bracket, last)
        ]
        runs = [
            PLAN.run({**where, "model": v, "seed": s})
            for v in survivors(group)
            for s in halving.seeds
        ]
        groups.append(
            {
                **group,
                "eta": halving.eta,
                "min_epochs": halving.min_epochs,
                "epochs": halving.epochs,
                "seeds": list(halving.seeds),
                "rung_epochs": list(halving.rungs),
                "full_grid_epochs": halving.full_grid_epochs(bracket),
                "planned_epochs": halving.planned_epochs(bracket),
                "decisions": decisions,
                "histories": histories,
                "last": {
                    "rung": last,
                    "epochs": halving.rungs[last],
                    "start_epoch": halving.rungs[last - 1] if last > bracket else 0,
                    "runs": [
                        [r.model, r.seed, r.file("history.csv"), r.file("train.json")]
                        for r in runs
                    ],
                },
            }
        )
    return groups


def halving_inputs(wildcards):
    groups = halving_groups(wildcards)
    return {
        "decisions": [d for g in groups for d in g["decisions"]],
        "history": [r[2] for g in groups for r in g["last"]["runs"]],
        "info": [r[3] for g in groups for r in g["last"]["runs"]],
    }


# The input functions above carry their signature too (common.smk's read_signatures_once).
read_signatures_once(globals())
