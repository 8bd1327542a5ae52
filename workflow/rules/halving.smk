# Successive halving of a swept block (models.<block>.halving; cnncompare/plan/halving.py).
# Every variant trains to the first rung (train_rung); a rung's decision (the
# checkpoint promote_rung) reads its runs and names who goes on; the DAG then
# grows by the next rung's runs only, which resume from their checkpoints. The
# last rung's runs are ordinary train_model jobs. Input functions: halving_inputs.smk.


wildcard_constraints:
    rung="[0-9]+",
    bracket="[0-9]+",
    block="[A-Za-z0-9][A-Za-z0-9_.-]*",


# One run of a halved sweep up to a rung short of the last: train_model's job
# (its resources and params, and a script of its own), stopped at the rung's
# epoch, keeping its checkpoint for the next rung.
rule train_rung:
    input:
        unpack(run_data),
        unpack(model_weights),
        unpack(previous_rung),
    output:
        history=RUN.rung_file("{rung}", "history.csv"),
        info=RUN.rung_file("{rung}", "train.json"),
    log:
        RUN.rung_file("{rung}", "train.log"),
    benchmark:
        RUN.rung_file("{rung}", "train.benchmark.tsv")
    conda:
        "../envs/torch.yaml"
    threads: job_resource("train_model", "threads")
    resources:
        **gpu_share("train_model"),
        gpu=job_resource("train_model", "gpu"),
        mem_mb=job_limit("train_model", "mem_mb"),
        runtime=job_limit("train_model", "runtime"),
    params:
        model=model_params,
        device=CFG["device"],
        performance=PERFORMANCE,
        weights_label=model_weights_label,
        checkpoint=run_checkpoint,
        tensorboard=run_tensorboard,
        rung=rung_budget,
    script:
        "../scripts/train_rung.py"


# Who of a rung's runs goes on: a checkpoint, so the DAG of the next rung is
# made once this has run (and an interrupted sweep resumes at the rung it reached).
checkpoint promote_rung:
    input:
        unpack(rung_inputs),
    output:
        decision=PLAN.rung_decision(
            "{dataset}", "{split}", "{block}", "{bracket}", "{rung}"
        ),
    log:
        PLAN.rung_decision("{dataset}", "{split}", "{block}", "{bracket}", "{rung}")
        + ".log",
    # Reads a few small files: not worth a cluster job.
    localrule: True
    conda:
        "../envs/light.yaml"
    params:
        rung=rung_params,
    script:
        "../scripts/promote_rung.py"


# The halved sweeps' rungs, scores and decisions, for the report (docs/outputs.md).
rule summarize_halving:
    input:
        unpack(halving_inputs),
    output:
        halving=PLAN.halving_file,
    log:
        results_path("logs/summarize_halving.log"),
    localrule: True
    conda:
        "../envs/light.yaml"
    params:
        groups=halving_groups,
    script:
        "../scripts/summarize_halving.py"


# TensorBoard's last word on each pruned run: its params, tagged halving.pruned
# with its last rung, as hparams with its final metrics (the rung jobs that
# trained it could not know it would stop). Part of the default target.
rule tag_pruned_runs:
    input:
        halving=PLAN.halving_file,
    output:
        tagged=PLAN.results_path("sweeps/tensorboard-pruned.json"),
    log:
        results_path("logs/tag_pruned_runs.log"),
    localrule: True
    conda:
        "../envs/torch.yaml"
    params:
        tensorboard={
            run.label: run.tensorboard
            for run in PLAN.runs
            if PLAN.halving_of(run.model)
        },
    script:
        "../scripts/tag_pruned_runs.py"
