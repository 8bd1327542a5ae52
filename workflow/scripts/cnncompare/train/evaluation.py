"""Evaluating a trained run: the tested weights on train, val and test, without
augmentation, and the test confusion matrix. Separate from training so that a
new metric re-runs this step, never the training."""

from __future__ import annotations

import dataclasses
import logging
import time

import numpy as np
import torch

from cnncompare.data import checksums
from cnncompare.data.class_balance import balance_scores

from cnncompare.train import costs, inference_cost
from cnncompare.columns import METRIC_KEYS, PREDICTIONS_COLUMNS
from cnncompare.fileio import atomic_path, not_finite, read_json, write_json, write_npz
from cnncompare.train.models import build_model
from cnncompare.train.devices import Performance, choose_device, warn_if_gpu_missing
from cnncompare.data.splits import read_split
from cnncompare.train.training import load_run_data, predict_with_confidence

log = logging.getLogger(__name__)

# Thumbnails of misclassified test images kept per run for the report's gallery:
# enough to see what a model confuses, few enough that eight runs stay small.
GALLERY_SIZE = 8


def confusion_matrix(true: np.ndarray, predicted: np.ndarray, num_classes: int) -> np.ndarray:
    """counts[i, j] = test images of class i predicted as class j."""
    return np.bincount(true * num_classes + predicted, minlength=num_classes ** 2).reshape(num_classes, num_classes)


def write_confusion(path, matrix: np.ndarray, classes: list[str]) -> None:
    import csv

    with atomic_path(path) as tmp:
        with open(tmp, "w", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(["true \\ predicted", *classes])
            for name, row in zip(classes, matrix):
                writer.writerow([name, *row.tolist()])


def pick_misclassified(true: np.ndarray, predicted: np.ndarray, count: int = GALLERY_SIZE) -> np.ndarray:
    """Positions of up to `count` misclassified images, taken round-robin over
    the true classes (lowest position first within a class), so the gallery
    shows several classes rather than the first class's mistakes only."""
    wrong = np.flatnonzero(true != predicted)
    per_class = [list(wrong[true[wrong] == c]) for c in np.unique(true[wrong])]
    picked = []
    while len(picked) < count and any(per_class):
        for queue in per_class:
            if queue and len(picked) < count:
                picked.append(queue.pop(0))
    return np.array(picked, dtype=np.int64)


def write_misclassified(path, images: torch.Tensor, true: np.ndarray, predicted: np.ndarray,
                        source_index: np.ndarray) -> None:
    """The gallery's images (uint8 NHWC) with their true and predicted labels
    and their index in the prepared test file, for the report. Only the picked
    images leave the device."""
    picked = pick_misclassified(true, predicted)
    thumbnails = images[torch.from_numpy(picked).to(images.device)].cpu().numpy()
    write_npz(path, images=thumbnails, true=true[picked], predicted=predicted[picked],
              index=source_index[picked])


def write_predictions(path, source_index: np.ndarray, true: np.ndarray, predicted: np.ndarray,
                      probability: np.ndarray) -> None:
    """One row per test image (cnncompare/columns.py's PREDICTIONS). Plain CSV rather than a
    compressed array file: a reader recomputes the report's paired tests with pandas or a spreadsheet,
    and at about 20 bytes an image (200 KB for CIFAR-10's 10,000) it stays small beside model.pt."""
    import csv

    with atomic_path(path) as tmp:
        with open(tmp, "w", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(PREDICTIONS_COLUMNS)
            for row in zip(source_index.tolist(), true.tolist(), predicted.tolist(),
                           np.round(probability.astype(np.float64), 6).tolist()):
                writer.writerow(row)


def evaluate_run(*, data_dir, split_path, block: dict, train_info_path, model_path, device_setting: str,
                 threads: int, metrics_path, confusion_path, misclassified_path=None,
                 performance: dict | None = None, gpus_requested: int = 0,
                 runs_per_gpu: int | None = None, predictions_path=None, inference_path=None) -> dict:
    torch.set_num_threads(max(1, threads))
    device = choose_device(device_setting, runs_per_gpu=runs_per_gpu)
    warn_if_gpu_missing(device_setting, gpus_requested, device, "evaluate_model")
    # One pass over each part: compiling would cost more than it saves.
    perf = dataclasses.replace(Performance.resolve(performance or {}, device), compile=False)
    info = read_json(train_info_path)
    start = time.perf_counter()
    data = load_run_data(data_dir, split_path, device, stats=False)
    data_record = checksums.run_record(data_dir)
    trained_on = (info.get("data") or {}).get("sha256")
    if trained_on is not None and trained_on != data_record["sha256"]:
        raise checksums.ChecksumError(
            f"{model_path} was trained on prepared data with SHA-256 {trained_on}, but {data_dir} now "
            f"holds data with SHA-256 {data_record['sha256']}: train it again (snakemake -R train_model)"
        )
    model = build_model(block, len(data.classes)).to(device)
    model.load_state_dict(torch.load(model_path, map_location=device, weights_only=True))
    perf.prepare(model)

    results, done = {}, {}
    for part in ("train", "val", "test"):
        images, labels = data.parts[part]
        key = id(images)  # val and test of the 'two' split are one tensor: predict it once
        if key not in done:
            done[key] = predict_with_confidence(model, images, labels, block["eval_batch_size"], perf)
        loss, acc, predicted, confidence = done[key]
        results[part] = (loss, acc)
        log.info("%s: loss %.4f accuracy %.4f on %d images", part, loss, acc, len(labels))
    true, predicted = labels.cpu().numpy(), predicted.cpu().numpy()
    matrix = confusion_matrix(true, predicted, len(data.classes))
    write_confusion(confusion_path, matrix, data.classes)
    test_indices = read_split(split_path)["test"][1]
    if misclassified_path is not None:
        write_misclassified(misclassified_path, data.parts["test"][0], true, predicted, test_indices)
    if predictions_path is not None:
        write_predictions(predictions_path, test_indices, true, predicted, confidence.cpu().numpy())

    eval_seconds = round(time.perf_counter() - start, 3)  # the cost figures below are not evaluation
    if inference_path is not None:  # the workflow: measured once per network (measure_inference)
        cost = inference_cost.shared_cost(inference_path)
    else:
        cost = inference_cost.measure(model, data.parts["test"][0], block["image_size"], block["eval_batch_size"],
                                      perf)
    log.info("inference: %.4f GMACs per image at %d px, %.1f images/s at batch %d, %.3f ms for one image",
             cost["gmacs"], block["image_size"], cost["inference_images_per_second"], block["eval_batch_size"],
             cost["latency_ms"])

    metrics = dict(info)
    for part, (loss, acc) in results.items():
        metrics[f"{part}_loss"] = loss
        metrics[f"{part}_acc"] = acc
    metrics.update(balance_scores(matrix))  # the test set's chance level, balanced accuracy, macro-F1
    metrics["eval_seconds"] = eval_seconds
    metrics.update(cost)
    metrics["eval_device"] = costs.device_name(device)
    metrics["eval_threads"] = torch.get_num_threads()  # the report's busy-machine flag of the inference figures
    metrics["eval_performance"] = perf.describe()
    metrics["evaluated"] = (
        f"weights of {info['tested_weights']}, on the whole train, val and test parts, "
        "without augmentation"
    )
    metrics["data"] = data_record
    # JSON has no NaN or infinity: such values are written as null, and said here.
    unfinished = not_finite(metrics)
    if unfinished:
        metrics["not_finite"] = {
            "values": unfinished,
            "why": f"written as null (JSON has no NaN or infinity); run status {info.get('status')}",
        }
    ordered = {k: metrics.get(k) for k in METRIC_KEYS}
    ordered.update({k: v for k, v in metrics.items() if k not in ordered})
    write_json(metrics_path, ordered)
    return ordered
