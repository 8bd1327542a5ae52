"""Unit tests of cnncompare.data.splits: the 'two' and 'three' split variants."""

from __future__ import annotations

import numpy as np
import pytest

from cnncompare.data.splits import PARTS, make_split, read_split, stratified_holdout, write_split

CIFAR_TRAIN = np.arange(50_000) % 10  # 10 balanced classes of 5,000
CIFAR_TEST = np.arange(10_000) % 10


def shuffled(labels: np.ndarray, seed: int = 0) -> np.ndarray:
    labels = labels.copy()
    np.random.default_rng(seed).shuffle(labels)
    return labels


def test_three_on_cifar_sized_labels_gives_45000_and_5000_with_500_per_class():
    train_labels = shuffled(CIFAR_TRAIN)
    split = make_split("three", train_labels, CIFAR_TEST, val_fraction=0.1, seed=0)

    assert len(split["train"][1]) == 45_000
    assert len(split["val"][1]) == 5_000
    assert np.bincount(train_labels[split["val"][1]], minlength=10).tolist() == [500] * 10
    assert np.bincount(train_labels[split["train"][1]], minlength=10).tolist() == [4500] * 10
    assert len(split["test"][1]) == 10_000


def test_three_draws_train_and_val_from_train_and_tests_on_test():
    split = make_split("three", shuffled(CIFAR_TRAIN), CIFAR_TEST, 0.1, seed=0)
    assert split["train"][0] == "train"
    assert split["val"][0] == "train"
    assert split["test"][0] == "test"
    np.testing.assert_array_equal(split["test"][1], np.arange(10_000))


def test_three_train_and_val_are_disjoint_and_cover_the_train_set():
    n = 2_000
    split = make_split("three", shuffled(np.arange(n) % 10), np.zeros(10), 0.25, seed=4)
    train_idx, val_idx = split["train"][1], split["val"][1]
    assert np.intersect1d(train_idx, val_idx).size == 0
    np.testing.assert_array_equal(np.union1d(train_idx, val_idx), np.arange(n))
    assert len(np.unique(val_idx)) == len(val_idx)  # no index twice


def test_split_indices_are_sorted_int64():
    split = make_split("three", shuffled(np.arange(500) % 5), np.arange(50) % 5, 0.2, seed=1)
    for part in PARTS:
        indices = split[part][1]
        assert indices.dtype == np.int64
        assert np.all(np.diff(indices) > 0)


def test_three_is_stratified_on_unbalanced_classes():
    labels = shuffled(np.repeat([0, 1, 2], [100, 300, 600]), seed=2)
    split = make_split("three", labels, np.zeros(5), val_fraction=0.1, seed=0)
    val_counts = np.bincount(labels[split["val"][1]], minlength=3)
    assert val_counts.tolist() == [10, 30, 60]


def test_stratified_holdout_keeps_at_least_one_of_a_tiny_class_in_each_part():
    labels = np.array([0] * 50 + [1] * 2)
    kept, held = stratified_holdout(labels, 0.1, seed=0)
    assert np.sum(labels[held] == 1) == 1
    assert np.sum(labels[kept] == 1) == 1


def test_three_is_deterministic_for_a_seed():
    labels = shuffled(np.arange(3_000) % 10)
    first = make_split("three", labels, np.zeros(10), 0.1, seed=7)
    second = make_split("three", labels, np.zeros(10), 0.1, seed=7)
    for part in PARTS:
        assert first[part][0] == second[part][0]
        np.testing.assert_array_equal(first[part][1], second[part][1])


def test_three_differs_with_another_seed():
    labels = shuffled(np.arange(3_000) % 10)
    first = make_split("three", labels, np.zeros(10), 0.1, seed=7)
    other = make_split("three", labels, np.zeros(10), 0.1, seed=8)
    assert len(first["val"][1]) == len(other["val"][1])
    assert not np.array_equal(first["val"][1], other["val"][1])


def test_two_uses_the_whole_train_set_and_the_test_source_for_val_and_test():
    split = make_split("two", shuffled(CIFAR_TRAIN), CIFAR_TEST, val_fraction=0.1, seed=0)
    assert split["train"][0] == "train"
    np.testing.assert_array_equal(split["train"][1], np.arange(50_000))
    assert split["val"][0] == "test"
    assert split["test"][0] == "test"
    np.testing.assert_array_equal(split["val"][1], np.arange(10_000))
    np.testing.assert_array_equal(split["test"][1], np.arange(10_000))


def test_two_does_not_depend_on_the_seed():
    a = make_split("two", CIFAR_TRAIN[:100], CIFAR_TEST[:40], 0.1, seed=0)
    b = make_split("two", CIFAR_TRAIN[:100], CIFAR_TEST[:40], 0.1, seed=99)
    for part in PARTS:
        np.testing.assert_array_equal(a[part][1], b[part][1])


def test_unknown_split_kind_is_refused():
    with pytest.raises(ValueError, match="four"):
        make_split("four", CIFAR_TRAIN[:100], CIFAR_TEST[:10], 0.1, seed=0)


@pytest.mark.parametrize("fraction", [0.0, 1.0, 1.5, -0.1])
def test_val_fraction_outside_zero_one_is_refused(fraction):
    with pytest.raises(ValueError, match="val_fraction"):
        make_split("three", CIFAR_TRAIN[:100], CIFAR_TEST[:10], fraction, seed=0)


@pytest.mark.parametrize("kind", ["two", "three"])
def test_write_then_read_split_round_trips(tmp_path, kind):
    split = make_split(kind, shuffled(np.arange(400) % 4), np.arange(80) % 4, 0.2, seed=3)
    path = tmp_path / "splits" / f"{kind}.npz"

    write_split(path, split)
    back = read_split(path)

    assert set(back) == set(PARTS)
    for part in PARTS:
        source, indices = back[part]
        assert isinstance(source, str)
        assert source == split[part][0]
        assert indices.dtype == np.int64
        np.testing.assert_array_equal(indices, split[part][1])
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary file left


def test_a_class_of_one_image_stays_in_the_kept_part_whatever_the_fraction():
    labels = np.array([0, 0, 0, 0, 1])
    kept, held_out = stratified_holdout(labels, 0.6, seed=0)
    assert 4 in kept and 4 not in held_out
    assert len(held_out) == 2 and set(labels[kept]) == {0, 1}  # round(0.6 * 4) of class 0
