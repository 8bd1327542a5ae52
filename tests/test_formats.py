"""Each data set format: files written by the test in the real format are parsed
back to known pixels and labels; a corrupt file fails naming it and leaves no
prepared file; the registry and the schema agree."""

from __future__ import annotations

import gzip
import json
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import cifar_format
import format_writers as fw
from cnncompare.plan.config import load_schema
from cnncompare.data.datasets import DataError, load_prepared
from cnncompare.data.formats import FORMATS, download_files, file_source, prepare_dataset
from cnncompare.data.formats.idx import read_idx
from cnncompare.data.splits import make_split

PREPARED_FILES = ["classes.json", "prepared.json", "test.npz", "train.npz"]


def settings(fmt: str, **given) -> dict:
    """A data set block as the config resolves it: the format's defaults, then `given`."""
    block = {"format": fmt}
    for key, sub in load_schema()["$defs"]["formats"][fmt]["properties"].items():
        if "default" in sub:
            block[key] = sub["default"]
        elif "$ref" in sub:
            block[key] = load_schema()["$defs"][sub["$ref"].rsplit("/", 1)[-1]]["default"]
    block.update(given)
    return block


def prepare(fmt: str, files: Path | dict | None, out_dir: Path, **given) -> Path:
    """Prepare `fmt` from `files`: one archive, or {official file name: path}."""
    if isinstance(files, Path):
        files = {FORMATS[fmt].files[0]: files}  # the rule names a download by its official name
    prepare_dataset(settings(fmt, **given), files or {}, out_dir)
    return out_dir


def classes_of(out_dir: Path) -> list[str]:
    return json.loads((out_dir / "classes.json").read_text())


def assert_nothing_prepared(out_dir: Path) -> None:
    left = sorted(str(p.relative_to(out_dir)) for p in out_dir.rglob("*")) if out_dir.exists() else []
    assert left == [], f"left behind: {left}"


def hand_made_image(height: int = 32, width: int = 32) -> np.ndarray:
    """Red grows along columns, green along rows, blue is constant: any flip,
    transpose or channel swap shows."""
    rows, cols = np.mgrid[0:height, 0:width]
    return np.stack([cols * 4, rows * 4, np.full_like(rows, 200)], axis=-1).astype(np.uint8)


# --- registry and schema ---------------------------------------------------------------------


def test_every_format_has_a_schema_block_and_the_schema_names_the_same_files():
    schema = load_schema()
    assert set(schema["$defs"]["formats"]) == set(FORMATS)
    for fmt, spec in FORMATS.items():
        block = settings(fmt)
        assert block["format"] == fmt
        if len(spec.files) > 1:
            # Every file downloaded has its md5 default under its own name, and no other.
            assert sorted(block["md5"]) == sorted(spec.files), fmt
        elif spec.files:
            assert isinstance(block["md5"], str) and block["url"].endswith(spec.files[0]), fmt


def test_file_source_joins_the_folder_url_and_picks_each_files_md5():
    block = settings("mnist", url="file:///mirror/mnist")
    url, md5 = file_source(block, "t10k-labels-idx1-ubyte.gz")
    assert url == "file:///mirror/mnist/t10k-labels-idx1-ubyte.gz"
    assert md5 == "ec29112dd5afa0611ce80d1b7f02629c"
    assert file_source(settings("mnist"), "train-images-idx3-ubyte.gz")[0] == (
        "https://ossci-datasets.s3.amazonaws.com/mnist/train-images-idx3-ubyte.gz"
    )
    assert file_source(settings("cifar100"), "cifar-100-python.tar.gz") == (
        "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz", "eb9058c3a382ffc7106e4002c42a8d85"
    )
    with pytest.raises(KeyError, match="train_32x32.mat"):
        file_source(settings("svhn"), "extra_32x32.mat")
    assert download_files(settings("imagefolder")) == ()


# --- CIFAR-100 -------------------------------------------------------------------------------


@pytest.mark.parametrize("labels, names", [("fine", cifar_format.FINE_CLASSES), ("coarse", cifar_format.COARSE_CLASSES)])
def test_cifar100_round_trip_with_fine_or_coarse_labels(tmp_path, labels, names):
    archive = cifar_format.write_cifar100_archive(tmp_path / "c100.tar.gz", n_train=40, n_test=15)
    out = prepare("cifar100", archive["path"], tmp_path / "prepared", labels=labels)

    assert sorted(os.listdir(out)) == PREPARED_FILES
    assert classes_of(out) == names
    for part in ("train", "test"):
        images, got = load_prepared(out, part)
        want_images, fine = archive[part]
        np.testing.assert_array_equal(images, want_images)
        np.testing.assert_array_equal(got, fine if labels == "fine" else fine // 5)
        assert got.dtype == np.int64


def test_cifar100_reads_channel_planes_and_orientation(tmp_path):
    image = hand_made_image()
    row = np.concatenate([image[..., c].ravel() for c in range(3)])[None, :]  # red plane, green, blue
    # Twice, as two classes: a test part of one class is refused (tests/test_data_integrity.py).
    test = cifar_format.cifar100_pickle(np.repeat(row, 2, axis=0), [42, 7], [8, 1], "test")
    archive = cifar_format.write_cifar100_archive(tmp_path / "c100.tar.gz", members={"cifar-100-python/test": test})
    out = prepare("cifar100", archive["path"], tmp_path / "prepared")
    images, labels = load_prepared(out, "test")
    assert labels.tolist() == [42, 7]
    assert images[0, 0, 5].tolist() == [20, 0, 200]  # row 0, column 5
    assert images[0, 5, 0].tolist() == [0, 20, 200]  # row 5, column 0
    np.testing.assert_array_equal(images[0], image)


def test_cifar100_without_the_chosen_labels_fails_naming_the_file(tmp_path):
    no_coarse = cifar_format.batch_pickle(np.zeros((3, 3072), np.uint8), [0, 1, 2])  # CIFAR-10 keys only
    archive = cifar_format.write_cifar100_archive(tmp_path / "c100.tar.gz", members={"cifar-100-python/train": no_coarse})
    out = tmp_path / "prepared"
    with pytest.raises(DataError, match=r"cifar-100-python/train: no 'fine_labels' entry"):
        prepare("cifar100", archive["path"], out)
    assert_nothing_prepared(out)


def test_truncated_cifar100_archive_fails_naming_it(tmp_path):
    archive = cifar_format.write_cifar100_archive(tmp_path / "c100.tar.gz")
    raw = archive["path"].read_bytes()
    archive["path"].write_bytes(raw[: len(raw) // 2])
    out = tmp_path / "prepared"
    with pytest.raises(DataError) as err:
        prepare("cifar100", archive["path"], out)
    assert str(archive["path"]) in str(err.value)
    assert_nothing_prepared(out)


# --- MNIST and Fashion-MNIST (IDX) -------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["mnist", "fashion_mnist"])
def test_idx_round_trip_padded_to_32_px(tmp_path, fmt):
    written = fw.write_idx_set(tmp_path / "src", n_train=30, n_test=12)
    out = prepare(fmt, written["files"], tmp_path / "prepared")

    assert sorted(os.listdir(out)) == PREPARED_FILES
    assert len(classes_of(out)) == 10
    assert classes_of(out)[9] == ("9" if fmt == "mnist" else "Ankle boot")
    for part in ("train", "test"):
        images, labels = load_prepared(out, part)
        grey, want_labels = written[part]
        assert images.shape == (len(grey), 32, 32, 3) and images.dtype == np.uint8
        np.testing.assert_array_equal(labels, want_labels)
        # Centred: 2 black pixels on every side, the 28 px untouched, in all three channels.
        for channel in range(3):
            np.testing.assert_array_equal(images[:, 2:30, 2:30, channel], grey)
        assert not images[:, :2].any() and not images[:, 30:].any()
        assert not images[:, :, :2].any() and not images[:, :, 30:].any()


def test_idx_rows_are_image_rows(tmp_path):
    # A hand-made digit: a bright row 3 and a dimmer column 20.
    digit = np.zeros((28, 28), np.uint8)
    digit[3, :] = 255
    digit[:, 20] = 128
    # Beside a blank one of another class: a test part of one class is refused.
    written = fw.write_idx_set(tmp_path / "src", n_train=10, n_test=2, replace={
        fw.IDX_NAMES["test_images"]: gzip.compress(fw.idx_bytes(np.stack([digit, np.zeros_like(digit)]))),
        fw.IDX_NAMES["test_labels"]: gzip.compress(fw.idx_bytes(np.array([7, 1], np.uint8))),
    })
    out = prepare("mnist", written["files"], tmp_path / "prepared", image_size=28)
    images, labels = load_prepared(out, "test")
    assert labels.tolist() == [7, 1]
    assert images.shape == (2, 28, 28, 3)
    assert images[0, 3, 0].tolist() == [255, 255, 255]
    assert images[0, 10, 20].tolist() == [128, 128, 128]
    assert images[0, 10, 3].tolist() == [0, 0, 0]


def test_idx_resized_to_64_px_keeps_the_picture(tmp_path):
    written = fw.write_idx_set(tmp_path / "src", n_train=20, n_test=10)
    out = prepare("mnist", written["files"], tmp_path / "prepared", image_size=64, fit="resize")
    images, labels = load_prepared(out, "train")
    grey, want_labels = written["train"]
    assert images.shape == (20, 64, 64, 3)
    np.testing.assert_array_equal(labels, want_labels)
    np.testing.assert_array_equal(images[..., 0], images[..., 2])
    # Shrunk back to 28 px, each picture is close to the one written (not padded, not shifted).
    shrunk = np.asarray(
        [np.asarray(Image.fromarray(im[..., 0]).resize((28, 28), Image.Resampling.BOX)) for im in images]
    )
    assert np.abs(shrunk.astype(int) - grey.astype(int)).mean() < 12


def idx_corruptions() -> dict[str, tuple[str, bytes, str]]:
    """kind -> (file to replace, its bytes, a phrase of the error)."""
    images = fw.idx_bytes(np.random.default_rng(0).integers(0, 256, size=(5, 28, 28)))
    return {
        "truncated-gzip": (fw.IDX_NAMES["train_images"], gzip.compress(images)[:2000], "cannot read"),
        "short-payload": (fw.IDX_NAMES["train_images"], gzip.compress(images[:-10]), "header promises"),
        "not-idx": (fw.IDX_NAMES["test_images"], gzip.compress(b"<html>moved</html>"), "not an IDX file"),
        "label-count": (fw.IDX_NAMES["test_labels"], gzip.compress(fw.idx_bytes(np.zeros(3, np.uint8))), "labels"),
        "label-10": (fw.IDX_NAMES["test_labels"], gzip.compress(fw.idx_bytes(np.full(12, 10, np.uint8))), "0..9"),
        "int32-values": (fw.IDX_NAMES["train_labels"], gzip.compress(b"\0\0\x0c\x01" + b"\0\0\0\x01" + b"\0" * 4),
                         "only unsigned bytes"),
    }


@pytest.mark.parametrize("kind", ["truncated-gzip", "short-payload", "not-idx", "label-count", "label-10", "int32-values"])
def test_corrupt_idx_file_fails_naming_it_and_prepares_nothing(tmp_path, kind):
    name, payload, phrase = idx_corruptions()[kind]
    written = fw.write_idx_set(tmp_path / "src", n_train=20, n_test=12, replace={name: payload})
    out = tmp_path / "prepared"
    with pytest.raises(DataError) as err:
        prepare("mnist", written["files"], out)
    assert str(written["files"][name]) in str(err.value)
    assert phrase in str(err.value)
    assert_nothing_prepared(out)


def test_read_idx_reads_an_uncompressed_file_too(tmp_path):
    path = tmp_path / "plain-idx1-ubyte"
    path.write_bytes(fw.idx_bytes(np.array([3, 1, 4], np.uint8)))
    assert read_idx(path).tolist() == [3, 1, 4]


# --- SVHN ------------------------------------------------------------------------------------------


def test_svhn_round_trip_maps_label_10_to_digit_0(tmp_path):
    written = fw.write_svhn_set(tmp_path / "src", n_train=25, n_test=12)
    out = prepare("svhn", written["files"], tmp_path / "prepared")
    assert sorted(os.listdir(out)) == PREPARED_FILES
    assert classes_of(out) == [str(d) for d in range(10)]
    for part in ("train", "test"):
        images, labels = load_prepared(out, part)
        want_images, digits = written[part]
        np.testing.assert_array_equal(images, want_images)
        np.testing.assert_array_equal(labels, digits)
        assert labels.min() == 0 and labels.max() == 9


def test_svhn_reads_rows_columns_and_channels(tmp_path):
    image = hand_made_image()
    written = fw.write_svhn_set(tmp_path / "src", n_train=12, n_test=3)
    # Twice, as two classes: a test part of one class is refused.
    fw.write_svhn_mat(written["files"]["test_32x32.mat"], np.stack([image, image]), np.array([0, 1]))
    out = prepare("svhn", written["files"], tmp_path / "prepared")
    images, labels = load_prepared(out, "test")
    assert labels.tolist() == [0, 1]  # 0 written as 10
    assert images[0, 0, 5].tolist() == [20, 0, 200]  # row 0, column 5: red = 5 * 4
    assert images[0, 5, 0].tolist() == [0, 20, 200]
    np.testing.assert_array_equal(images[0], image)


def svhn_corruption(path: Path, kind: str) -> str:
    """Break one .mat file; return a phrase of the error."""
    from scipy.io import savemat

    if kind == "garbage":
        path.write_bytes(os.urandom(2000))
        return "cannot read MATLAB file"
    if kind == "truncated":
        path.write_bytes(path.read_bytes()[:3000])
        return "cannot read MATLAB file"
    if kind == "label-11":
        fw.write_svhn_mat(path, np.zeros((2, 32, 32, 3), np.uint8), np.array([1, 11]))
        return "1..10"
    if kind == "no-y":
        savemat(str(path), {"X": np.zeros((32, 32, 3, 2), np.uint8)})
        return "no variable 'y'"
    if kind == "grey-X":
        savemat(str(path), {"X": np.zeros((32, 32, 2), np.uint8), "y": np.ones((2, 1), np.uint8)})
        return "(32, 32, 3, N)"
    raise AssertionError(kind)


@pytest.mark.parametrize("kind", ["garbage", "truncated", "label-11", "no-y", "grey-X"])
def test_corrupt_svhn_file_fails_naming_it_and_prepares_nothing(tmp_path, kind):
    written = fw.write_svhn_set(tmp_path / "src", n_train=40, n_test=12)
    broken = written["files"]["train_32x32.mat"]
    phrase = svhn_corruption(broken, kind)
    out = tmp_path / "prepared"
    with pytest.raises(DataError) as err:
        prepare("svhn", written["files"], out)
    assert str(broken) in str(err.value)
    assert phrase in str(err.value)
    assert_nothing_prepared(out)


# --- image folders -----------------------------------------------------------------------------------


def test_imagefolder_one_folder_round_trip_with_a_stratified_test_part(tmp_path):
    written = fw.write_image_folder(tmp_path / "photos", per_class=10)
    out = prepare("imagefolder", None, tmp_path / "prepared", path=str(tmp_path / "photos"), test_fraction=0.2)

    assert sorted(os.listdir(out)) == PREPARED_FILES
    assert classes_of(out) == fw.PHOTO_CLASSES  # folder names, sorted
    train, test = load_prepared(out, "train"), load_prepared(out, "test")
    assert np.bincount(test[1]).tolist() == [2, 2, 2]  # 20% of each class
    assert np.bincount(train[1]).tolist() == [8, 8, 8]
    # Every written image comes back exactly once, with its class (PNG is lossless, 32 px kept).
    want = {(cls, pixels.tobytes()) for cls, items in written.items() for _, pixels in items}
    got = {(fw.PHOTO_CLASSES[label], image.tobytes()) for images, labels in (train, test)
           for image, label in zip(images, labels)}
    assert got == want


def test_imagefolder_train_and_test_folders_keep_the_train_class_order(tmp_path):
    fw.write_image_folder(tmp_path / "train", per_class=4)
    test = fw.write_image_folder(tmp_path / "test", per_class=2, seed=1)
    # The test folder lacks "cat": its labels must still follow the train folder's order.
    for path, _ in test.pop("cat"):
        path.unlink()
    (tmp_path / "test" / "cat").rmdir()
    out = prepare("imagefolder", None, tmp_path / "prepared",
                  train_path=str(tmp_path / "train"), test_path=str(tmp_path / "test"))
    assert classes_of(out) == ["cat", "dog", "owl"]
    images, labels = load_prepared(out, "test")
    assert labels.tolist() == [1, 1, 2, 2]
    np.testing.assert_array_equal(images[0], test["dog"][0][1])
    np.testing.assert_array_equal(images[3], test["owl"][1][1])
    assert len(load_prepared(out, "train")[1]) == 12


def test_imagefolder_crop_keeps_orientation_and_the_centre(tmp_path):
    wide = hand_made_image(height=32, width=48)  # red along columns, green along rows
    (tmp_path / "photos" / "a").mkdir(parents=True)
    (tmp_path / "photos" / "b").mkdir()
    Image.fromarray(wide).save(tmp_path / "photos" / "a" / "wide.png")
    Image.fromarray(wide).save(tmp_path / "photos" / "b" / "wide.png")
    out = prepare("imagefolder", None, tmp_path / "prepared",
                  train_path=str(tmp_path / "photos"), test_path=str(tmp_path / "photos"))
    images, _ = load_prepared(out, "test")
    # The shorter side is already 32 px: no scaling, the middle 32 of 48 columns.
    np.testing.assert_array_equal(images[0], wide[:, 8:40])


def test_imagefolder_stretch_grey_rgba_and_exif_rotation(tmp_path):
    root = tmp_path / "photos"
    (root / "grey").mkdir(parents=True)
    (root / "rotated").mkdir()
    Image.fromarray(np.full((20, 60), 90, np.uint8)).save(root / "grey" / "g.png")  # mode L, 3:1
    rgba = np.zeros((16, 16, 4), np.uint8)
    rgba[..., 0], rgba[..., 3] = 255, 128
    Image.fromarray(rgba).save(root / "grey" / "alpha.png")
    # Stored landscape (red left half, blue right half) with EXIF orientation 6: shown
    # turned 90 degrees clockwise, so upright the red half is on top.
    stored = np.zeros((32, 64, 3), np.uint8)
    stored[:, :32] = (250, 0, 0)
    stored[:, 32:] = (0, 0, 250)
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(stored).save(root / "rotated" / "r.jpg", exif=exif, quality=95)

    out = prepare("imagefolder", None, tmp_path / "prepared",
                  train_path=str(root), test_path=str(root), fit="stretch", image_size=16)
    images, labels = load_prepared(out, "test")
    assert labels.tolist() == [0, 0, 1]  # grey/alpha.png, grey/g.png, rotated/r.jpg
    alpha, grey, rotated = images
    assert np.all(alpha == (255, 0, 0))  # alpha dropped, colour kept
    assert np.all(grey == 90)  # one grey level in all three channels, stretched from 3:1
    assert rotated[2, 8, 0] > 200 and rotated[2, 8, 2] < 50   # top: red
    assert rotated[13, 8, 2] > 200 and rotated[13, 8, 0] < 50  # bottom: blue


def test_imagefolder_names_every_unreadable_image_and_prepares_nothing(tmp_path):
    written = fw.write_image_folder(tmp_path / "photos", per_class=3)
    garbage = tmp_path / "photos" / "dog" / "garbage.png"
    garbage.write_bytes(b"not a png at all")
    cut = tmp_path / "photos" / "owl" / "cut.png"
    good = written["owl"][0][0].read_bytes()
    cut.write_bytes(good[: len(good) // 2])
    (tmp_path / "photos" / "cat" / "notes.txt").write_text("not an image, only logged")
    out = tmp_path / "prepared"

    with pytest.raises(DataError) as err:
        prepare("imagefolder", None, out, path=str(tmp_path / "photos"))

    message = str(err.value)
    assert str(garbage) in message and str(cut) in message
    assert "2 of 11 images could not be read" in message
    assert "notes.txt" not in message
    assert_nothing_prepared(out)


@pytest.mark.parametrize("layout, phrase", [
    ("no-class-folders", "has no class subfolders"),
    ("empty-class", "holds no images"),
    ("missing", "does not exist"),
])
def test_imagefolder_without_usable_class_folders_fails_naming_the_folder(tmp_path, layout, phrase):
    root = tmp_path / "photos"
    if layout != "missing":
        root.mkdir()
        (root / "loose.png").write_bytes(b"")
    if layout == "empty-class":
        fw.write_image_folder(root, per_class=2)
        (root / "zebra").mkdir()
    out = tmp_path / "prepared"
    with pytest.raises(DataError) as err:
        prepare("imagefolder", None, out, path=str(root))
    assert phrase in str(err.value)
    assert str(root) in str(err.value)
    assert_nothing_prepared(out)


def test_imagefolder_test_class_unknown_to_train_fails_naming_it(tmp_path):
    fw.write_image_folder(tmp_path / "train", per_class=2)
    fw.write_image_folder(tmp_path / "test", per_class=2)
    (tmp_path / "test" / "cat").rename(tmp_path / "test" / "lion")
    with pytest.raises(DataError, match="lacks: lion"):
        prepare("imagefolder", None, tmp_path / "prepared",
                train_path=str(tmp_path / "train"), test_path=str(tmp_path / "test"))


# --- both split variants, every format ---------------------------------------------------------------


def prepared_of_each_format(tmp_path: Path) -> dict[str, Path]:
    cifar10 = cifar_format.write_archive(tmp_path / "c10.tar.gz", n_train=50, n_test=20)
    cifar100 = cifar_format.write_cifar100_archive(tmp_path / "c100.tar.gz", n_train=200, n_test=40)
    idx = fw.write_idx_set(tmp_path / "idx", n_train=50, n_test=20)
    svhn = fw.write_svhn_set(tmp_path / "svhn", n_train=50, n_test=20)
    fw.write_image_folder(tmp_path / "photos", per_class=10)
    return {
        "cifar10": prepare("cifar10", cifar10["path"], tmp_path / "p" / "cifar10"),
        "cifar100": prepare("cifar100", cifar100["path"], tmp_path / "p" / "cifar100", labels="coarse"),
        "mnist": prepare("mnist", idx["files"], tmp_path / "p" / "mnist"),
        "fashion_mnist": prepare("fashion_mnist", idx["files"], tmp_path / "p" / "fashion_mnist", fit="resize"),
        "svhn": prepare("svhn", svhn["files"], tmp_path / "p" / "svhn"),
        "imagefolder": prepare("imagefolder", None, tmp_path / "p" / "imagefolder", path=str(tmp_path / "photos")),
        "digits": prepare("digits", None, tmp_path / "p" / "digits"),
    }


def test_every_format_gives_the_prepared_format_and_both_splits(tmp_path):
    prepared = prepared_of_each_format(tmp_path)
    assert set(prepared) == set(FORMATS)
    for fmt, out in prepared.items():
        classes = classes_of(out)
        train_images, train_labels = load_prepared(out, "train")
        test_images, test_labels = load_prepared(out, "test")
        for images, labels in ((train_images, train_labels), (test_images, test_labels)):
            assert images.dtype == np.uint8 and images.ndim == 4 and images.shape[3] == 3, fmt
            assert labels.dtype == np.int64 and len(labels) == len(images), fmt
            assert 0 <= labels.min() and labels.max() < len(classes), fmt
        assert train_images.shape[1:] == test_images.shape[1:], fmt
        for kind in ("two", "three"):
            split = make_split(kind, train_labels, test_labels, val_fraction=0.2, seed=0)
            (_, train_idx), (_, val_idx) = split["train"], split["val"]
            assert len(train_idx) and len(val_idx), (fmt, kind)
            if kind == "three":
                assert not set(train_idx) & set(val_idx), fmt
