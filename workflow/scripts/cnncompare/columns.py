"""Every column of summary.csv and history.csv: name, type, unit and meaning, in
one table, importable without torch.

The tables' column order comes from here (SUMMARY_COLUMNS, HISTORY_COLUMNS),
the report reads a column as a number when its type here says so, and
docs/columns.md is printed from it:

    PYTHONPATH=workflow/scripts python -m cnncompare.columns > docs/columns.md   (make columns-doc)

tests/test_columns.py fails when a column of the written files is missing
here, when a column described here is not written, and when docs/columns.md
differs from what this module prints.
"""

from __future__ import annotations

from dataclasses import dataclass

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
VERSION_NAMES = {"cnncompare": "cnncompare", "python": "Python", "torch": "torch", "torchvision": "torchvision",
                 "numpy": "NumPy", "snakemake": "Snakemake"}

# The SHA-256 identifying the prepared data a run used (metrics.json's data.sha256).
DATA_COLUMNS = ["data_sha256"]

# The settings that make runs differ, from the model block training recorded
# (metrics.json's config): summary.csv column -> key of that block.
SETTING_COLUMNS = {
    "optimizer": "optimizer",
    "lr": "lr",
    "batch_size": "batch_size",
    "eval_batch_size": "eval_batch_size",
    "freeze": "freeze",
}

# metrics.json keys of what training found out about the run's start and data.
RUN_FACT_KEYS = ["pretrained", "weights", "num_classes"]

# What evaluation measured of the model at inference (cnncompare/train/inference_cost.py).
INFERENCE_KEYS = ["gmacs", "inference_images_per_second", "latency_ms"]
# Those of its metrics.json keys that are timings, which differ between two
# evaluations of the same weights (inference_measured holds the passes timed).
INFERENCE_TIMING_KEYS = ["inference_images_per_second", "latency_ms", "inference_measured"]


@dataclass(frozen=True)
class Column:
    name: str
    type: str  # text, integer, number (a float), boolean (True / False)
    unit: str  # "" when the column has none
    meaning: str


TYPES = ("text", "integer", "number", "boolean")

_RUN = [
    Column("dataset", "text", "", "data set name (a key of the config's `datasets`)"),
    Column("split", "text", "", "`two` (official train / official test, the test set also validates) or "
           "`three` (train / validation drawn from train / official test)"),
    Column("model", "text", "", "model name (a key of the config's `models`)"),
]
_SEED = Column("seed", "integer", "", "random seed of the run (`compare.seeds`)")

SUMMARY: list[Column] = [
    *_RUN[:3],
    Column("arch", "text", "", "network: `custom_cnn` or a torchvision model name"),
    _SEED,
    Column("status", "text", "", "`completed`, or `diverged` when the training loss stopped being finite"),
    Column("epochs_run", "integer", "epochs", "epochs trained (fewer than planned when diverged)"),
    Column("best_epoch", "integer", "epoch", "epoch of the highest validation accuracy (0 when training diverged in its first epoch)"),
    Column("tested_epoch", "integer", "epoch", "epoch whose weights model.pt holds and evaluation tested"),
    Column("train_loss", "number", "nats", "mean cross-entropy of the tested weights on the train part, "
           "without augmentation"),
    Column("train_acc", "number", "fraction (0-1)", "accuracy of the tested weights on the train part"),
    Column("val_loss", "number", "nats", "mean cross-entropy on the validation part (the test set in `two`)"),
    Column("val_acc", "number", "fraction (0-1)", "accuracy on the validation part"),
    Column("test_loss", "number", "nats", "mean cross-entropy on the official test set"),
    Column("test_acc", "number", "fraction (0-1)", "accuracy on the official test set"),
    Column("train_seconds", "number", "s", "time of all epochs, training and validation, in process "
           "(start-up and data loading not included)"),
    Column("images_per_second", "number", "images/s", "training throughput: augmented training images "
           "per second of training steps"),
    Column("peak_rss_mb", "number", "MB (2^20 bytes)", "peak resident memory of the training process"),
    Column("peak_gpu_mem_mb", "number", "MB (2^20 bytes)", "peak memory torch allocated on the GPU during "
           "training; empty on the CPU"),
    Column("checkpoint_bytes", "integer", "bytes", "size of model.pt"),
    Column("params_total", "integer", "parameters", "parameters of the model"),
    Column("params_trainable", "integer", "parameters", "parameters the optimizer updates"),
    Column("params_frozen", "integer", "parameters", "parameters kept as loaded (`freeze`)"),
    Column("image_size", "integer", "px", "side of the square images the network sees (resized on the "
           "device from the data set's size)"),
    Column("init", "text", "", "`random initialisation` or `ImageNet weights <name>`"),
    Column("train_size", "integer", "images", "images in the train part"),
    Column("val_size", "integer", "images", "images in the validation part"),
    Column("test_size", "integer", "images", "images in the test part"),
    Column("device", "text", "", "where training ran: `cpu (<processor>, <threads> threads)` or "
           "`cuda (<GPU model>)`"),
    Column("epochs_planned", "integer", "epochs", "`epochs` of the model block"),
    Column("eval_seconds", "number", "s", "evaluation of the train, validation and test parts, data "
           "loading included, inference figures not"),
    Column("train_job_seconds", "number", "s", "wall time of the whole train_model job (Snakemake's "
           "benchmark file: Python start, imports and data loading included)"),
    Column("train_job_cpu_seconds", "number", "s", "CPU time of the whole train_model job"),
    Column("train_job_max_rss_mb", "number", "MB (2^20 bytes)", "peak resident memory of the train_model job"),
    Column("evaluate_job_seconds", "number", "s", "wall time of the whole evaluate_model job"),
    Column("evaluate_job_max_rss_mb", "number", "MB (2^20 bytes)", "peak resident memory of the evaluate_model "
           "job"),
    Column("tested_weights", "text", "", "which weights were tested, in words (`epoch 7, the best validation "
           "accuracy`)"),
    Column("data_sha256", "text", "", "SHA-256 of the prepared data the run used (metrics.json's "
           "`data.sha256`)"),
    *(Column(f"version_{k}", "text", "", f"{VERSION_NAMES[k]} version of the training job") for k in VERSION_KEYS),
    Column("optimizer", "text", "", "`sgd`, `adam` or `adamw` (the model block's `optimizer`)"),
    Column("lr", "number", "", "learning rate of the head (the model block's `lr`; peak of the schedule)"),
    Column("batch_size", "integer", "images", "training batch size"),
    Column("eval_batch_size", "integer", "images", "evaluation batch size; also the batch of "
           "`inference_images_per_second`"),
    Column("freeze", "text", "", "`none`, `base`, or the number of feature blocks frozen"),
    Column("pretrained", "boolean", "", "True when training started from ImageNet weights"),
    Column("weights", "text", "", "the ImageNet weights used (torchvision's enum name); empty for a random "
           "start"),
    Column("num_classes", "integer", "classes", "classes of the data set"),
    Column("chance_acc", "number", "fraction (0-1)", "accuracy of guessing: 1 / num_classes"),
    Column("gmacs", "number", "GMACs", "multiply-adds per image at image_size, in billions "
           "(torch.utils.flop_counter's FLOPs / 2; convolutions and matrix products)"),
    Column("inference_images_per_second", "number", "images/s", "inference throughput at eval_batch_size on "
           "the evaluation's device, after a warm-up pass"),
    Column("latency_ms", "number", "ms", "time of one image's forward pass: the median of 20 passes after 3 "
           "warm-up passes, on the evaluation's device"),
]

HISTORY: list[Column] = [
    *_RUN, _SEED,
    Column("epoch", "integer", "epoch", "epoch number, from 1"),
    Column("train_loss", "number", "nats", "mean cross-entropy over the epoch's augmented training batches "
           "(label smoothing included), as the weights changed"),
    Column("train_acc", "number", "fraction (0-1)", "accuracy over the epoch's augmented training batches"),
    Column("val_loss", "number", "nats", "mean cross-entropy on the validation part after the epoch"),
    Column("val_acc", "number", "fraction (0-1)", "accuracy on the validation part after the epoch"),
    Column("lr", "number", "", "learning rate of the head at the epoch's last step"),
    Column("epoch_seconds", "number", "s", "time of the epoch, training and validation"),
    Column("elapsed_seconds", "number", "s", "time of all epochs so far (a resumed run continues the sum)"),
]

SUMMARY_COLUMNS = [c.name for c in SUMMARY]
HISTORY_TABLE_COLUMNS = [c.name for c in HISTORY]  # RUN_KEYS + HISTORY_COLUMNS
TABLES = {"summary.csv": SUMMARY, "history.csv": HISTORY}


def number_columns() -> set[str]:
    """Columns of either table that hold numbers (or nothing)."""
    return {c.name for table in TABLES.values() for c in table if c.type in ("integer", "number")}


def markdown() -> str:
    """docs/columns.md: every column of both tables."""
    lines = [
        "# Columns of summary.csv and history.csv",
        "",
        "Written by `aggregate_results` to `{results_dir}/summary.csv` (one row per run) and",
        "`{results_dir}/history.csv` (one row per epoch of every run). Generated from",
        "`workflow/scripts/cnncompare/columns.py` by `make columns-doc`; do not edit by hand.",
        "",
        "Types: `text`; `integer`; `number` (a float, written in full precision); `boolean` (`True` or",
        "`False`). An empty cell is a value the run did not record (a run from an older version, a GPU",
        "figure on the CPU, a loss that was not finite). In history.csv a loss that was not finite is",
        "written `nan` or `inf`. Both files are CSV with CRLF line ends; pandas reads them as they are:",
        "",
        "```python",
        "import pandas as pd",
        "summary = pd.read_csv(\"results/summary.csv\")",
        "```",
    ]
    for file, table in TABLES.items():
        lines += ["", f"## {file}", "", "| column | type | unit | meaning |", "|---|---|---|---|"]
        lines += [f"| `{c.name}` | {c.type} | {c.unit} | {c.meaning} |" for c in table]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(markdown(), end="")
