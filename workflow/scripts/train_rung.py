"""Rule train_rung: one run of a halved sweep up to a rung short of the last ->
history.csv, train.json, and its checkpoint kept for the next rung.

The same call as train_model.py, which is left as it is: Snakemake runs a
script's jobs again when the script is newer than their outputs, so a change to
train_model.py would retrain every run of every results folder."""

from pathlib import Path

from cnncompare.logs import setup_logging
from cnncompare.train.training import train_run

setup_logging(snakemake.log[0])
w = snakemake.wildcards
train_run(
    data_dir=Path(snakemake.input.prepared).parent,
    split_path=snakemake.input.split,
    block=snakemake.params.model,
    run={"dataset": w.dataset, "split": w.split, "model": w.model, "seed": int(w.seed)},
    seed=int(w.seed),
    device_setting=snakemake.params.device,
    threads=snakemake.threads,
    model_path=None,  # a rung's run is no finished run: no model.pt
    history_path=snakemake.output.history,
    info_path=snakemake.output.info,
    weights_path=snakemake.input.get("weights"),
    weights_label=snakemake.params.weights_label,
    checkpoint_path=snakemake.params.checkpoint,
    # The param is {results_dir}/checkpoints/{dataset}/{split}/{model}/seed{seed}.pt:
    # its empty folders go with it, up to checkpoints/.
    checkpoint_root=Path(snakemake.params.checkpoint).parents[3],
    performance=snakemake.params.performance,
    # The job's own resources (set-resources included): did it ask for a GPU?
    gpus_requested=int(snakemake.resources["gpu"]),
    # {results_dir}/tensorboard/{dataset}/{split}/{model}/seed{seed}: live curves.
    tensorboard_dir=snakemake.params.tensorboard,
    # How many jobs share a GPU (performance.runs_per_gpu, as the plan resolved
    # it), a resource: it changes where jobs run, not what they compute, so it
    # retrains nothing.
    runs_per_gpu=int(snakemake.resources["runs_per_gpu"]),
    # {"rung": k, "epochs": the epoch rung k trains up to}.
    rung=snakemake.params.rung,
)
