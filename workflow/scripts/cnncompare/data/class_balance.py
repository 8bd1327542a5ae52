"""Whether a prepared data set's classes can support a comparison.

Checked once, where every format's arrays are written (datasets.write_prepared):

  refused   a part without images, or a part whose images are all of one class
            (a one-class "classifier" is always right: 100% test accuracy that
            means nothing)
  warned    declared classes without any image, classes missing from one part,
            and a class much smaller than the others

"Much smaller" is fewer training images than MUCH_SMALLER times the median
class's. A tenth leaves the natural imbalance of the shipped data sets alone
(SVHN's digits run from 4,659 to 13,861 training images, about 0.6 to 1.9
times the median) and flags the class a user forgot to fill, whose errors
barely move the overall accuracy.
"""

from __future__ import annotations

import numpy as np

MUCH_SMALLER = 0.1
_LISTED = 10  # class names shown in one message


class TooFewClasses(ValueError):
    """The data set cannot support a comparison (datasets.DataError wraps it with the data set's name)."""


def _names(classes: list[str], indices) -> str:
    indices = list(indices)
    shown = ", ".join(str(classes[i]) for i in indices[:_LISTED])
    return shown + (f" and {len(indices) - _LISTED} more" if len(indices) > _LISTED else "")


def class_counts(labels: np.ndarray, num_classes: int) -> np.ndarray:
    return np.bincount(np.asarray(labels, dtype=np.int64), minlength=num_classes)[:num_classes]


def check_classes(train_labels: np.ndarray, test_labels: np.ndarray, classes: list[str]) -> list[str]:
    """Raise TooFewClasses when the data set cannot support a comparison; else
    return the warnings about its classes (empty when all is well)."""
    n = len(classes)
    counts = {"train": class_counts(train_labels, n), "test": class_counts(test_labels, n)}
    for part, count in counts.items():
        present = np.flatnonzero(count)
        if len(present) == 0:
            raise TooFewClasses(f"the {part} part holds no images")
        if len(present) == 1:
            only = present[0]
            others = f"; the other {n - 1} declared classes have none" if n > 1 else ""
            raise TooFewClasses(
                f"every {part} image is of one class ({classes[only]}: {count[only]} images{others}). "
                "A classifier of one class is always right, so its accuracy compares nothing: a data set "
                "needs images of at least 2 classes in both parts. Check the labels of the source files "
                "(an image folder needs one subfolder per class)"
            )

    warnings = []
    train, test = counts["train"], counts["test"]
    empty = np.flatnonzero((train == 0) & (test == 0))
    if len(empty):
        warnings.append(
            f"{len(empty)} of {n} declared classes have no images: {_names(classes, empty)} "
            "(the model still has an output for each)"
        )
    untested = np.flatnonzero((train > 0) & (test == 0))
    if len(untested):
        warnings.append(f"classes with training images but no test image (not measured): {_names(classes, untested)}")
    untrained = np.flatnonzero((train == 0) & (test > 0))
    if len(untrained):
        warnings.append(
            f"classes with test images but no training image (the model cannot learn them, and each of "
            f"their test images counts as an error): {_names(classes, untrained)}"
        )
    median = float(np.median(train[train > 0]))
    small = np.flatnonzero((train > 0) & (train < MUCH_SMALLER * median))
    if len(small):
        listed = ", ".join(f"{classes[i]} ({train[i]})" for i in small[:_LISTED])
        warnings.append(
            f"much smaller classes (fewer than {MUCH_SMALLER:g} of the median class's {median:g} training "
            f"images): {listed}{' ...' if len(small) > _LISTED else ''}; their errors barely move the "
            "accuracy, see the per-class accuracy"
        )
    return warnings


def balance_scores(matrix: np.ndarray) -> dict[str, float]:
    """What a test confusion matrix (counts[i, j]: class i predicted as j) says beyond accuracy:

    chance_acc     the majority class's share of the test images: the accuracy of always answering it
                   (0.9 on a 90/10 test set, where 1 / classes would say 0.5)
    balanced_acc   the mean over the classes that have test images of each one's recall
                   (scikit-learn's balanced_accuracy_score)
    macro_f1       the mean F1 over the classes that have test images or predictions
                   (scikit-learn's f1_score(average="macro"))"""
    matrix = np.asarray(matrix, dtype=np.int64)
    support, predicted, right = matrix.sum(axis=1), matrix.sum(axis=0), np.diag(matrix)
    present = support > 0
    seen = present | (predicted > 0)
    f1 = 2 * right[seen] / (support[seen] + predicted[seen])
    return {"chance_acc": float(support.max() / support.sum()),
            "balanced_acc": float(np.mean(right[present] / support[present])),
            "macro_f1": float(np.mean(f1))}
