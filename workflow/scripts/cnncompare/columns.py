"""Column names of the tables runs produce, in one place, importable without torch."""

RUN_KEYS = ["dataset", "split", "model", "seed"]

HISTORY_COLUMNS = [
    "epoch", "train_loss", "train_acc", "val_loss", "val_acc", "lr", "epoch_seconds", "elapsed_seconds",
]

# The keys of metrics.json that summary.csv carries, in its column order.
METRIC_KEYS = [
    "dataset", "split", "model", "arch", "seed", "status",
    "epochs_run", "best_epoch", "tested_epoch",
    "train_loss", "train_acc", "val_loss", "val_acc", "test_loss", "test_acc",
    "train_seconds", "images_per_second", "peak_rss_mb", "peak_gpu_mem_mb",
    "checkpoint_bytes", "params_total", "params_trainable", "params_frozen", "image_size", "init",
    "train_size", "val_size", "test_size", "device",
]

# Further metrics.json keys in summary.csv, after METRIC_KEYS.
EXTRA_METRIC_KEYS = ["epochs_planned", "eval_seconds"]

# What Snakemake's benchmark: files measured of each whole job (Python start,
# imports and data loading included, which the in-process figures leave out):
# summary.csv column -> (job, column of the .benchmark.tsv). max_rss is in MB.
BENCHMARK_COLUMNS = {
    "train_job_seconds": ("train", "s"),
    "train_job_cpu_seconds": ("train", "cpu_time"),
    "train_job_max_rss_mb": ("train", "max_rss"),
    "evaluate_job_seconds": ("evaluate", "s"),
    "evaluate_job_max_rss_mb": ("evaluate", "max_rss"),
}

VERSION_KEYS = ["cnncompare", "python", "torch", "torchvision", "numpy", "snakemake"]

# The SHA-256 identifying the prepared data a run used (metrics.json's data.sha256).
DATA_COLUMNS = ["data_sha256"]

SUMMARY_COLUMNS = (
    METRIC_KEYS + EXTRA_METRIC_KEYS + list(BENCHMARK_COLUMNS) + ["tested_weights"] + DATA_COLUMNS
    + [f"version_{k}" for k in VERSION_KEYS]
)
