"""Rule evaluate_model: model.pt -> metrics.json, the test confusion.csv, the
misclassified test images the report shows and predictions.csv (one row per test image)."""

from pathlib import Path

from cnncompare.train.evaluation import evaluate_run
from cnncompare.logs import setup_logging

setup_logging(snakemake.log[0])
evaluate_run(
    data_dir=Path(snakemake.input.prepared).parent,
    split_path=snakemake.input.split,
    block=snakemake.params.model,
    train_info_path=snakemake.input.info,
    model_path=snakemake.input.model,
    device_setting=snakemake.params.device,
    threads=snakemake.threads,
    metrics_path=snakemake.output.metrics,
    confusion_path=snakemake.output.confusion,
    performance=snakemake.params.performance,
    misclassified_path=snakemake.output.misclassified,
    predictions_path=snakemake.output.predictions,
    # The network's inference figures, measured once for all its runs (measure_inference).
    inference_path=snakemake.input.inference,
    # The job's own resources (set-resources included): did it ask for a GPU?
    gpus_requested=int(snakemake.resources["gpu"]),
    # How many jobs share a GPU (performance.runs_per_gpu, as the plan resolved
    # it), a resource: it changes where jobs run, not what they compute, so it
    # retrains nothing.
    runs_per_gpu=int(snakemake.resources["runs_per_gpu"]),
)
