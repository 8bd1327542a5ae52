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

VERSION_KEYS = ["python", "torch", "torchvision", "numpy", "snakemake"]

SUMMARY_COLUMNS = METRIC_KEYS + ["tested_weights"] + [f"version_{k}" for k in VERSION_KEYS]
