# The finished runs into an MLflow tracking store: `snakemake mlflow`. Not part
# of the default target; it needs mlflow (requirements-track.txt, or the
# track.yaml env with --sw-deployment-method conda). Where it goes, and the
# check of the store before any job: checked_tracking_uri() in common.smk.


rule mlflow:
    input:
        metrics=run_files("metrics.json"),
        history=run_files("history.csv"),
        confusion=run_files("confusion.csv"),
        halving=HALVING_FILES,
        report=REPORT,
    output:
        # Which MLflow run holds each run; the store itself is updated in place.
        manifest=results_path("mlflow-export.json"),
    log:
        results_path("logs/mlflow.log"),
    # On the submit host, under SLURM too: a team's server may be out of the compute nodes' reach.
    localrule: True
    conda:
        "../envs/track.yaml"
    params:
        tracking_uri=checked_tracking_uri,
        experiment=mlflow_experiment(),
        # The local store's folder (results_dir), when no tracking URI is set.
        results_dir=lambda w, output: str(Path(output.manifest).parent),
    script:
        "../scripts/export_mlflow.py"


# The finished runs as offline Weights & Biases runs: `snakemake wandb`, and
# part of the default target with wandb.enabled (TRACK_TARGETS in common.smk).
# Nothing reaches a server; `wandb sync` later is the user's step (docs/trackers.md).
rule wandb:
    input:
        metrics=run_files("metrics.json"),
        history=run_files("history.csv"),
        confusion=run_files("confusion.csv"),
        halving=HALVING_FILES,
    output:
        # Which offline W&B run holds each run; the runs themselves are under params.dir.
        manifest=results_path("wandb-export.json"),
    log:
        results_path("logs/wandb.log"),
    # Seconds of work that needs no GPU: not worth a cluster job.
    localrule: True
    conda:
        "../envs/wandb.yaml"
    params:
        dir=wandb_dir,
        project=wandb_project(),
    script:
        "../scripts/export_wandb.py"
