"""Every column of summary.csv and history.csv: name, type, unit, meaning and
where its value comes from, in one table, importable without torch. The one
record schema:

- aggregate writes summary.csv's columns in this order, each from its `source`;
- the report reads a column as a number when its type here says so, and its
  tables pick columns from here, showing each in the display kind its type and
  unit give (Column.kind), under a label of their own;
- docs/columns.md is printed from it:

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

VERSION_KEYS = ["cnncompare", "python", "torch", "torchvision", "numpy", "snakemake"]
VERSION_NAMES = {"cnncompare": "cnncompare", "python": "Python", "torch": "torch", "torchvision": "torchvision",
                 "numpy": "NumPy", "snakemake": "Snakemake"}

# What a network costs at inference (cnncompare/train/inference_cost.py), measured once
# per network by rule measure_inference and copied into each of its runs' metrics.json:
# those of the keys that are timings, which differ between two measurements of the
# same network (inference_measured holds the passes timed and where they ran).
INFERENCE_TIMING_KEYS = ["inference_images_per_second", "latency_ms", "inference_measured"]


# Where a summary.csv value comes from: the metrics.json key of the column's own
# name unless `source` says otherwise. "metrics.json a.b" is key b of key a;
# "<job>.benchmark.tsv <field>" a field of Snakemake's benchmark: file of the
# whole job (Python start, imports and data loading included, which the
# in-process figures leave out; max_rss is in MB); DERIVED is computed by
# aggregate from the run's other values.
METRICS = "metrics.json"
DERIVED = "derived"


@dataclass(frozen=True)
class Column:
    name: str
    type: str  # text, integer, number (a float), boolean (True / False)
    unit: str  # "" when the column has none
    meaning: str
    source: str = METRICS

    @property
    def kind(self) -> str:
        """How the report shows its values (cnncompare/report/numbers.py): from its type and unit."""
        if self.type in ("integer", "number") and self.unit in UNIT_KINDS:
            return UNIT_KINDS[self.unit]
        return "count" if self.type == "integer" else "text"


TYPES = ("text", "integer", "number", "boolean")
_MB = "MB (2^20 bytes)"
_ACC = "fraction (0-1)"
# unit -> display kind; other integers are counts, other values text.
UNIT_KINDS = {_ACC: "acc", "nats": "loss", "s": "seconds", "ms": "ms", _MB: "mb", "bytes": "bytes",
              "images/s": "rate", "GMACs": "gmacs"}

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
    Column("balanced_acc", "number", "fraction (0-1)", "balanced accuracy on the test set: the mean over its "
           "classes of each class's recall (scikit-learn's balanced_accuracy_score)"),
    Column("macro_f1", "number", "fraction (0-1)", "macro-F1 on the test set: the mean F1 over the classes "
           "that have test images or predictions (scikit-learn's f1_score, average=\"macro\")"),
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
           "benchmark file: Python start, imports and data loading included)", "train.benchmark.tsv s"),
    Column("train_job_cpu_seconds", "number", "s", "CPU time of the whole train_model job",
           "train.benchmark.tsv cpu_time"),
    Column("train_job_max_rss_mb", "number", "MB (2^20 bytes)", "peak resident memory of the train_model job",
           "train.benchmark.tsv max_rss"),
    Column("evaluate_job_seconds", "number", "s", "wall time of the whole evaluate_model job",
           "evaluate.benchmark.tsv s"),
    Column("evaluate_job_cpu_seconds", "number", "s", "CPU time of the whole evaluate_model job (with its wall "
           "time and threads, whether it ran on a busy machine)", "evaluate.benchmark.tsv cpu_time"),
    Column("evaluate_job_max_rss_mb", "number", "MB (2^20 bytes)", "peak resident memory of the evaluate_model "
           "job", "evaluate.benchmark.tsv max_rss"),
    Column("tested_weights", "text", "", "which weights were tested, in words (`epoch 7, the best validation "
           "accuracy`)"),
    Column("data_sha256", "text", "", "SHA-256 of the prepared data the run used (metrics.json's "
           "`data.sha256`)", "metrics.json data.sha256"),
    *(Column(f"version_{k}", "text", "", f"{VERSION_NAMES[k]} version of the training job",
             f"metrics.json versions.{k}") for k in VERSION_KEYS),
    # The settings that make runs differ, from the model block training recorded (metrics.json's config).
    Column("optimizer", "text", "", "`sgd`, `adam` or `adamw` (the model block's `optimizer`)",
           "metrics.json config.optimizer"),
    Column("lr", "number", "", "learning rate of the head (the model block's `lr`; peak of the schedule)",
           "metrics.json config.lr"),
    Column("batch_size", "integer", "images", "training batch size actually used: the config's, or the "
           "training set's size when that is smaller (each epoch is then one batch)", DERIVED),
    Column("eval_batch_size", "integer", "images", "evaluation batch size; also the batch of "
           "`inference_images_per_second`", "metrics.json config.eval_batch_size"),
    Column("freeze", "text", "", "`none`, `base`, or the number of feature blocks frozen",
           "metrics.json config.freeze"),
    Column("pretrained", "boolean", "", "True when training started from ImageNet weights"),
    Column("weights", "text", "", "the ImageNet weights used (torchvision's enum name); empty for a random "
           "start"),
    Column("num_classes", "integer", "classes", "classes of the data set"),
    Column("chance_acc", "number", "fraction (0-1)", "chance level: the largest class's share of the test set, "
           "the accuracy of always answering that class (0.9 on a 90/10 test set)"),
    Column("uniform_acc", "number", "fraction (0-1)", "accuracy of guessing uniformly: 1 / num_classes "
           "(equal to chance_acc on a balanced test set)", DERIVED),
    Column("gmacs", "number", "GMACs", "multiply-adds per image at image_size, in billions "
           "(torch.utils.flop_counter's FLOPs / 2; convolutions and matrix products); like the two "
           "columns below, measured once per network (the model settings that shape it) and data set "
           "by rule measure_inference, `inference/{dataset}/{network}.json`, and the same in all its runs"),
    Column("inference_images_per_second", "number", "images/s", "inference throughput at eval_batch_size on "
           "the evaluation's device and threads, after a warm-up pass, with every core of a local run "
           "to itself (measure_inference)"),
    Column("latency_ms", "number", "ms", "time of one image's forward pass: the median of 20 passes after 3 "
           "warm-up passes, on the evaluation's device (measure_inference)"),
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

# One row per test image of a run, in the order of the split's test part (a run's predictions.csv, written
# by evaluation). The paired comparisons of the report are computed from these files: two runs of one
# data set and split share their test images, matched by `index`.
PREDICTIONS_FILE = "predictions.csv"
PREDICTIONS: list[Column] = [
    Column("index", "integer", "", "the image's position in the prepared test file (`test.npz`), the same in "
           "every run of the data set", PREDICTIONS_FILE),
    Column("true", "integer", "class", "the image's label (a position in `classes.json`)", PREDICTIONS_FILE),
    Column("predicted", "integer", "class", "the class the tested weights predict (highest logit)",
           PREDICTIONS_FILE),
    Column("probability", "number", "fraction (0-1)", "softmax probability of the predicted class, rounded to "
           "6 decimals", PREDICTIONS_FILE),
]
PREDICTIONS_COLUMNS = [c.name for c in PREDICTIONS]

# What the report's tables add to each run's summary.csv row (cnncompare/report/study.py), from its
# history.csv and metrics.json; in neither file.
REPORT: list[Column] = [
    Column("epoch_median_seconds", "number", "s", "median of the run's epoch times (history.csv's "
           "`epoch_seconds`): one slow epoch on a busy machine does not move it", DERIVED),
    Column("epoch_spread_seconds", "number", "s", "spread of the run's epoch times: their interquartile range",
           DERIVED),
    Column("flags", "text", "", "timing notes: a busy machine (the training job, or the evaluate job that "
           "measured inference, got too small a share of its cores), or a GPU requested and the CPU found", DERIVED),
]

SUMMARY_COLUMNS = [c.name for c in SUMMARY]
HISTORY_TABLE_COLUMNS = [c.name for c in HISTORY]  # RUN_KEYS + HISTORY_COLUMNS
TABLES = {"summary.csv": SUMMARY, "history.csv": HISTORY}
# The metrics.json keys evaluation writes first, in summary.csv's order: its columns up to `device`.
METRIC_KEYS = SUMMARY_COLUMNS[:SUMMARY_COLUMNS.index("device") + 1]
_BY_NAME = {c.name: c for c in [*SUMMARY, *REPORT]}


def column(name: str) -> Column:
    """A column of summary.csv, or one the report adds (REPORT), by name."""
    return _BY_NAME[name]


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
    lines += ["", "## summary.csv", "", "One row per run. *From*: the run's file the value is read from (with the key "
              "inside it), or *derived* from its other values.", "",
              "| column | type | unit | meaning | from |", "|---|---|---|---|---|"]
    lines += [f"| `{c.name}` | {c.type} | {c.unit} | {c.meaning} | {_source_text(c)} |" for c in SUMMARY]
    lines += ["", "## history.csv", "", "| column | type | unit | meaning |", "|---|---|---|---|"]
    lines += [f"| `{c.name}` | {c.type} | {c.unit} | {c.meaning} |" for c in HISTORY]
    lines += ["", "## predictions.csv", "",
              "One per run, in its folder (`runs/{dataset}/{split}/{model}/seed{seed}/predictions.csv`): one row "
              "per test image, in the order of the split's test part. The report's paired comparisons (McNemar's "
              "test, the bootstrap intervals) are computed from these files and summary.csv alone. CSV with CRLF "
              "line ends, as the two tables: `pd.read_csv` reads it as it is.", "",
              "| column | type | unit | meaning |", "|---|---|---|---|"]
    lines += [f"| `{c.name}` | {c.type} | {c.unit} | {c.meaning} |" for c in PREDICTIONS]
    lines += ["", "## Columns the report adds", "",
              "The report's tables show these beside summary.csv's columns; they are in neither file.", "",
              "| column | type | unit | meaning |", "|---|---|---|---|"]
    lines += [f"| `{c.name}` | {c.type} | {c.unit} | {c.meaning} |" for c in REPORT]
    return "\n".join(lines) + "\n"


def _source_text(c: Column) -> str:
    if c.source == DERIVED:
        return "derived"
    file, _, key = c.source.partition(" ")
    return f"`{file}` `{key or c.name}`"


if __name__ == "__main__":
    print(markdown(), end="")
