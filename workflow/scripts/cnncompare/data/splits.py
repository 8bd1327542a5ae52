"""The two split variants, written as index arrays into train.npz / test.npz.

A split file holds, for each part (train, val, test), the indices of its
images and the prepared file they index ("train" or "test"), so every split of
a data set shares one copy of the images.

  two    train = official train; val = test = official test (the study's protocol:
         the epoch chosen on validation is chosen on the test set)
  three  train / val drawn stratified from the official train set; test = official test
"""

from __future__ import annotations

# numpy is imported where arrays are used: the plan imports holdout_size and needs no numpy.
from cnncompare.fileio import write_npz
from cnncompare.protocols import SPLITS

PARTS = ("train", "val", "test")


def make_split(kind: str, train_labels: np.ndarray, test_labels: np.ndarray,
               val_fraction: float | None = None, seed: int | None = None) -> dict[str, tuple[str, np.ndarray]]:
    """Map each part to (source file, sorted indices). 'three' draws its
    validation part with the config's splits.val_fraction and splits.seed;
    'two' draws nothing and needs neither."""
    import numpy as np

    n_train, n_test = len(train_labels), len(test_labels)
    everything_test = np.arange(n_test, dtype=np.int64)
    if kind == "two":
        return {
            "train": ("train", np.arange(n_train, dtype=np.int64)),
            "val": ("test", everything_test),
            "test": ("test", everything_test),
        }
    if kind == "three":
        if val_fraction is None or seed is None:
            raise ValueError("the 'three' split needs val_fraction and seed (the config's splits block)")
        train_idx, val_idx = stratified_holdout(train_labels, val_fraction, seed)
        return {
            "train": ("train", train_idx),
            "val": ("train", val_idx),
            "test": ("test", everything_test),
        }
    raise ValueError(f"unknown split {kind!r}; known: {', '.join(SPLITS)}")


def stratified_holdout(labels: np.ndarray, fraction: float, seed: int):
    """Split indices into (kept, held out), holding out `fraction` of every class.

    Each class contributes round(fraction * its size) images, at least one and
    at most all but one when the class has two or more (none when it has one),
    so every class keeps images in the kept part and class shares match.
    """
    import numpy as np

    if not 0 < fraction < 1:
        raise ValueError(f"val_fraction must lie in (0, 1), got {fraction}")
    rng = np.random.default_rng(seed)
    held = []
    for cls in np.unique(labels):
        members = np.flatnonzero(labels == cls)
        held.append(rng.choice(members, size=holdout_size(len(members), fraction), replace=False))
    held_out = np.sort(np.concatenate(held)).astype(np.int64)
    kept = np.setdiff1d(np.arange(len(labels), dtype=np.int64), held_out)
    return kept, held_out


def holdout_size(members: int, fraction: float) -> int:
    """Images of a class of `members` that stratified_holdout holds out:
    round(fraction * members), at least one and at most all but one (0 for a class of one)."""
    return min(max(int(round(fraction * members)), 1), members - 1)


def write_split(path, split: dict[str, tuple[str, np.ndarray]]) -> None:
    import numpy as np

    arrays = {}
    for part, (source, indices) in split.items():
        arrays[part] = indices
        arrays[f"{part}_source"] = np.array(source)
    write_npz(path, **arrays)


def read_split(path) -> dict[str, tuple[str, np.ndarray]]:
    import numpy as np

    with np.load(path, allow_pickle=False) as npz:
        return {part: (str(npz[f"{part}_source"]), npz[part]) for part in PARTS}
