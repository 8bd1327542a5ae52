"""Unit tests of cnncompare.data.datasets (download, safe extraction) and of the CIFAR-10 and digits formats."""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import tarfile
from pathlib import Path

import numpy as np
import pytest

import cifar_format
from cifar_format import CLASSES, FOLDER, add_bytes, batch_pickle, to_rows
from cnncompare.data.datasets import DataError, download, load_prepared, safe_extract
from cnncompare.data.formats.cifar import load_pickle, prepare_cifar
from cnncompare.data.formats.digits import prepare_digits

PREPARED_FILES = ("train.npz", "test.npz", "classes.json", "prepared.json")


def all_paths(folder: Path) -> list[str]:
    """Every file and folder below `folder` (hidden ones included), relative to it."""
    if not folder.exists():
        return []
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


def assert_nothing_prepared(out_dir: Path) -> None:
    for name in PREPARED_FILES:
        assert not (out_dir / name).exists(), f"{name} was written despite the error"
    # No scratch extraction folder, no temporary .part file, nothing at all.
    assert all_paths(out_dir) == []


def small_archive(path: Path, **kwargs) -> dict:
    kwargs.setdefault("n_train", 50)
    kwargs.setdefault("n_test", 20)
    return cifar_format.write_archive(path, **kwargs)


# --- download ---------------------------------------------------------------------------


def test_download_with_matching_md5_writes_the_file(tmp_path):
    source = tmp_path / "src" / "payload.bin"
    source.parent.mkdir()
    payload = os.urandom(5000)
    source.write_bytes(payload)
    md5 = hashlib.md5(payload).hexdigest()
    target = tmp_path / "dl" / "archive.tar.gz"

    result = download(source.as_uri(), target, md5, chunk_bytes=1024)

    assert Path(result) == target
    assert target.read_bytes() == payload
    assert all_paths(target.parent) == ["archive.tar.gz"]  # no temporary file left


def test_download_accepts_uppercase_md5(tmp_path):
    source = tmp_path / "payload.bin"
    source.write_bytes(b"abc" * 100)
    md5 = hashlib.md5(source.read_bytes()).hexdigest().upper()
    target = tmp_path / "dl" / "out.bin"
    download(source.as_uri(), target, md5)
    assert target.read_bytes() == b"abc" * 100


def test_download_with_wrong_md5_raises_naming_url_and_both_md5s_and_keeps_nothing(tmp_path):
    source = tmp_path / "payload.bin"
    payload = os.urandom(3000)
    source.write_bytes(payload)
    actual = hashlib.md5(payload).hexdigest()
    expected = "0123456789abcdef0123456789abcdef"
    target_dir = tmp_path / "dl"

    with pytest.raises(DataError) as err:
        download(source.as_uri(), target_dir / "archive.tar.gz", expected, chunk_bytes=512)

    message = str(err.value)
    assert source.as_uri() in message
    assert expected in message
    assert actual in message
    assert all_paths(target_dir) == []  # neither the file nor a partial/temporary one


def test_download_of_missing_url_raises_naming_url_and_keeps_nothing(tmp_path):
    url = (tmp_path / "does-not-exist.tar.gz").as_uri()
    target_dir = tmp_path / "dl"

    with pytest.raises(DataError) as err:
        download(url, target_dir / "archive.tar.gz", "0" * 32)

    assert url in str(err.value)
    assert all_paths(target_dir) == []


def test_download_with_wrong_md5_keeps_an_existing_good_file_untouched(tmp_path):
    source = tmp_path / "payload.bin"
    source.write_bytes(b"new bytes")
    target = tmp_path / "dl" / "archive.tar.gz"
    target.parent.mkdir()
    target.write_bytes(b"old bytes")

    with pytest.raises(DataError):
        download(source.as_uri(), target, "f" * 32)

    assert target.read_bytes() == b"old bytes"
    assert all_paths(target.parent) == ["archive.tar.gz"]


def test_failed_download_then_prepare_leaves_no_prepared_file(tmp_path):
    archive = small_archive(tmp_path / "src" / "cifar.tar.gz")
    data_dir = tmp_path / "data" / "cifar10"
    wrong = "f" * 32
    assert wrong != archive["md5"]

    with pytest.raises(DataError):
        download(archive["url"], data_dir / "cifar-10-python.tar.gz", wrong)
    assert_nothing_prepared(data_dir)


def test_prepare_of_an_archive_with_wrong_content_leaves_nothing(tmp_path):
    not_a_tar = tmp_path / "cifar.tar.gz"
    not_a_tar.write_bytes(os.urandom(4096))
    out_dir = tmp_path / "prepared"

    with pytest.raises(DataError) as err:
        prepare_cifar(not_a_tar, out_dir)

    assert str(not_a_tar) in str(err.value)
    assert_nothing_prepared(out_dir)


def test_prepare_of_a_tar_without_cifar_folder_leaves_nothing(tmp_path):
    archive = tmp_path / "other.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        add_bytes(tar, "something/else.txt", b"hello")
    out_dir = tmp_path / "prepared"

    with pytest.raises(DataError) as err:
        prepare_cifar(archive, out_dir)

    assert "data_batch_1" in str(err.value)
    assert_nothing_prepared(out_dir)


# --- safe extraction ------------------------------------------------------------------------


def make_tar(path: Path, members: list[tarfile.TarInfo | tuple[str, bytes]]) -> Path:
    with tarfile.open(path, "w") as tar:
        for member in members:
            if isinstance(member, tarfile.TarInfo):
                tar.addfile(member)
            else:
                add_bytes(tar, *member)
    return path


def symlink(name: str, to: str) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = tarfile.SYMTYPE
    info.linkname = to
    return info


def test_safe_extract_extracts_a_harmless_archive(tmp_path):
    archive = make_tar(tmp_path / "ok.tar", [("a/b.txt", b"hello"), ("a/c/d.txt", b"world")])
    target = tmp_path / "target"
    safe_extract(archive, target)
    assert (target / "a" / "b.txt").read_bytes() == b"hello"
    assert (target / "a" / "c" / "d.txt").read_bytes() == b"world"


def test_safe_extract_refuses_every_link_even_a_chain_that_looks_inside(tmp_path):
    # Each link alone resolves inside the folder; together they lead out of it.
    chain = [symlink("sub/y", ".."), symlink("sub/x", "y/.."), ("sub/x/evil.txt", b"pwned")]
    archive = make_tar(tmp_path / "chain.tar", chain)
    target = tmp_path / "work" / "target"
    with pytest.raises(DataError, match="'sub/y' is a link"):
        safe_extract(archive, target)
    assert not any(target.rglob("*"))
    assert not (tmp_path / "evil.txt").exists() and not (tmp_path / "work" / "evil.txt").exists()


@pytest.mark.parametrize(
    "evil",
    [
        pytest.param(("../evil.txt", b"pwned"), id="parent-traversal"),
        pytest.param(("inside/../../evil.txt", b"pwned"), id="nested-traversal"),
        pytest.param(("/tmp/x", b"pwned"), id="absolute-path"),
        pytest.param(symlink("escape", "../outside"), id="symlink-relative-outside"),
        pytest.param(symlink("escape", "/etc/passwd"), id="symlink-absolute-outside"),
    ],
)
def test_safe_extract_refuses_escaping_member_and_writes_nothing(tmp_path, evil):
    work = tmp_path / "work"
    work.mkdir()
    # A harmless member first: a refused archive must be refused whole.
    archive = make_tar(tmp_path / "evil.tar", [("harmless.txt", b"fine"), evil])
    target = work / "target"
    before_outside = all_paths(work)

    with pytest.raises(DataError) as err:
        safe_extract(archive, target)

    name = evil.name if isinstance(evil, tarfile.TarInfo) else evil[0]
    assert repr(name) in str(err.value)  # the member is named, quoted
    assert all_paths(target) == []
    assert all_paths(work) == before_outside + ["target"]
    assert not (tmp_path / "evil.txt").exists()
    assert not (work / "evil.txt").exists()
    assert not (work / "outside").exists()


def test_safe_extract_refuses_absolute_path_into_a_real_folder(tmp_path):
    # An absolute member name pointing at a folder we can inspect.
    outside = tmp_path / "outside" / "abs_evil.txt"
    outside.parent.mkdir()
    archive = make_tar(tmp_path / "evil.tar", [(str(outside), b"pwned")])
    target = tmp_path / "target"

    with pytest.raises(DataError) as err:
        safe_extract(archive, target)

    assert str(outside) in str(err.value)
    assert "absolute" in str(err.value)
    assert not outside.exists()
    assert all_paths(target) == []


def test_safe_extract_refuses_writing_through_a_symlink_to_outside(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    archive = make_tar(
        tmp_path / "evil.tar",
        [symlink("link", str(outside)), ("link/planted.txt", b"pwned")],
    )
    target = tmp_path / "target"

    with pytest.raises(DataError) as err:
        safe_extract(archive, target)

    assert "'link'" in str(err.value)
    assert all_paths(outside) == []
    assert all_paths(target) == []


# --- parsing: a round trip through the real format --------------------------------------------


def test_prepare_cifar_round_trip_keeps_images_labels_and_classes(tmp_path):
    archive = small_archive(tmp_path / "cifar.tar.gz", n_train=60, n_test=25, seed=3)
    out_dir = tmp_path / "prepared"

    prepare_cifar(archive["path"], out_dir)

    assert all_paths(out_dir) == sorted(PREPARED_FILES)  # the scratch folder is gone
    for part in ("train", "test"):
        images, labels = load_prepared(out_dir, part)
        want_images, want_labels = archive[part]
        assert images.dtype == np.uint8
        assert images.shape == (len(want_labels), 32, 32, 3)
        assert labels.dtype == np.int64
        np.testing.assert_array_equal(images, want_images)
        np.testing.assert_array_equal(labels, want_labels)
    assert json.loads((out_dir / "classes.json").read_text()) == CLASSES


def hand_made_image() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Red grows along columns, green along rows, blue is constant."""
    rows, cols = np.mgrid[0:32, 0:32]
    red = (cols * 8).astype(np.uint8)
    green = (rows * 8).astype(np.uint8)
    blue = np.full((32, 32), 200, np.uint8)
    return red, green, blue


def test_prepare_cifar_reads_channel_planes_and_orientation_correctly(tmp_path):
    red, green, blue = hand_made_image()
    # Written by hand in CIFAR's documented order (not with to_rows): the 1024
    # red values row by row, then green, then blue.
    row = np.concatenate([red.ravel(), green.ravel(), blue.ravel()])[None, :]
    # Twice, as two classes: a test part of one class is refused.
    archive = small_archive(
        tmp_path / "cifar.tar.gz",
        members={f"{FOLDER}/test_batch": batch_pickle(np.repeat(row, 2, axis=0), [7, 2], "testing batch 1 of 1")},
    )
    out_dir = tmp_path / "prepared"

    prepare_cifar(archive["path"], out_dir)

    images, labels = load_prepared(out_dir, "test")
    assert images.shape == (2, 32, 32, 3)
    assert labels.tolist() == [7, 2]
    image = images[0]
    assert image[0, 0].tolist() == [0, 0, 200]
    assert image[0, 5].tolist() == [40, 0, 200]   # row 0, column 5: red = 5 * 8
    assert image[5, 0].tolist() == [0, 40, 200]   # row 5, column 0: green = 5 * 8
    assert image[3, 10].tolist() == [80, 24, 200]
    assert image[31, 31].tolist() == [248, 248, 200]
    np.testing.assert_array_equal(image[..., 0], red)
    np.testing.assert_array_equal(image[..., 1], green)
    np.testing.assert_array_equal(image[..., 2], blue)


# --- the restricted unpickler --------------------------------------------------------------------


class RunsACommand:
    def __init__(self, command: str):
        self.command = command

    def __reduce__(self):
        return (os.system, (self.command,))


def test_load_pickle_refuses_forbidden_global_without_running_it(tmp_path):
    marker = tmp_path / "command-ran"
    path = tmp_path / "evil_batch"
    path.write_bytes(pickle.dumps(RunsACommand(f"touch {marker}"), protocol=2))

    with pytest.raises(DataError) as err:
        load_pickle(path)

    assert "forbidden global" in str(err.value)
    assert str(path) in str(err.value)
    assert not marker.exists()


def test_load_pickle_reads_a_real_format_batch(tmp_path):
    data = np.arange(2 * 3072, dtype=np.int64).astype(np.uint8).reshape(2, 3072)
    path = tmp_path / "data_batch_1"
    path.write_bytes(batch_pickle(data, [1, 2]))
    batch = load_pickle(path)
    assert set(batch) >= {"data", "labels"}  # bytes keys became str
    np.testing.assert_array_equal(batch["data"], data)
    assert batch["labels"] == [1, 2]


def test_prepare_cifar_refuses_archive_with_a_malicious_batch(tmp_path):
    marker = tmp_path / "command-ran"
    evil = pickle.dumps(RunsACommand(f"touch {marker}"), protocol=2)
    archive = small_archive(tmp_path / "cifar.tar.gz", members={f"{FOLDER}/data_batch_2": evil})
    out_dir = tmp_path / "prepared"

    with pytest.raises(DataError) as err:
        prepare_cifar(archive["path"], out_dir)

    assert "forbidden global" in str(err.value)
    assert "data_batch_2" in str(err.value)
    assert not marker.exists()
    assert_nothing_prepared(out_dir)


# --- broken data ------------------------------------------------------------------------------


def short_rows_batch() -> bytes:
    return batch_pickle(np.zeros((5, 3071), np.uint8), [0, 1, 2, 3, 4])


def label_ten_batch() -> bytes:
    images = np.zeros((4, 32, 32, 3), np.uint8)
    return batch_pickle(to_rows(images), [0, 1, 10, 2])


def build_broken(kind: str, path: Path) -> tuple[Path, str]:
    """A broken archive and the name its error message must contain."""
    if kind == "missing-batch":
        archive = small_archive(path, skip=("data_batch_3",))
        return archive["path"], "data_batch_3"
    if kind == "3071-values":
        archive = small_archive(path, members={f"{FOLDER}/data_batch_4": short_rows_batch()})
        return archive["path"], "data_batch_4"
    if kind == "label-10":
        archive = small_archive(path, members={f"{FOLDER}/test_batch": label_ten_batch()})
        return archive["path"], "test_batch"
    if kind == "truncated":
        archive = small_archive(path)
        raw = path.read_bytes()
        path.write_bytes(raw[: len(raw) // 2])
        return path, str(path)
    raise AssertionError(kind)


@pytest.mark.parametrize("kind", ["missing-batch", "3071-values", "label-10", "truncated"])
def test_broken_archive_raises_naming_the_file_and_prepares_nothing(tmp_path, kind):
    archive, offender = build_broken(kind, tmp_path / "cifar.tar.gz")
    out_dir = tmp_path / "prepared"

    with pytest.raises(DataError) as err:
        prepare_cifar(archive, out_dir)

    assert offender in str(err.value)
    assert_nothing_prepared(out_dir)


def test_wrong_row_length_message_says_what_was_expected(tmp_path):
    archive, _ = build_broken("3071-values", tmp_path / "cifar.tar.gz")
    with pytest.raises(DataError) as err:
        prepare_cifar(archive, tmp_path / "prepared")
    assert "3072" in str(err.value)
    assert "3071" in str(err.value)


def test_label_out_of_range_message_gives_the_valid_range(tmp_path):
    archive, _ = build_broken("label-10", tmp_path / "cifar.tar.gz")
    with pytest.raises(DataError) as err:
        prepare_cifar(archive, tmp_path / "prepared")
    assert "0..9" in str(err.value)


def test_batch_with_non_uint8_pixels_is_refused(tmp_path):
    bad = batch_pickle(np.zeros((3, 3072), np.float32), [0, 1, 2])
    archive = small_archive(tmp_path / "cifar.tar.gz", members={f"{FOLDER}/data_batch_1": bad})
    out_dir = tmp_path / "prepared"
    with pytest.raises(DataError) as err:
        prepare_cifar(archive["path"], out_dir)
    assert "data_batch_1" in str(err.value)
    assert_nothing_prepared(out_dir)


# --- scikit-learn digits -------------------------------------------------------------------------

DIGITS_TOTAL = 1797


def read_part(out_dir: Path, part: str):
    return load_prepared(out_dir, part)


@pytest.fixture(scope="module")
def digits_dirs(tmp_path_factory):
    """The digits prepared twice with seed 0 and once with seed 1."""
    dirs = {}
    for name, seed in (("a", 0), ("b", 0), ("other", 1)):
        out = tmp_path_factory.mktemp(f"digits_{name}")
        prepare_digits(out, test_fraction=0.2, seed=seed)
        dirs[name] = out
    return dirs


def test_prepare_digits_writes_32px_rgb_uint8(digits_dirs):
    out = digits_dirs["a"]
    assert all_paths(out) == sorted(PREPARED_FILES)
    for part in ("train", "test"):
        images, labels = read_part(out, part)
        assert images.dtype == np.uint8
        assert images.ndim == 4 and images.shape[1:] == (32, 32, 3)
        assert labels.dtype == np.int64
        assert len(images) == len(labels)
        # Grey digits: the three channels are equal, and the full range is used.
        np.testing.assert_array_equal(images[..., 0], images[..., 1])
        np.testing.assert_array_equal(images[..., 0], images[..., 2])
        assert images.max() == 255 and images.min() == 0
    assert json.loads((out / "classes.json").read_text()) == [str(d) for d in range(10)]


def test_prepare_digits_parts_add_up_to_the_whole_set(digits_dirs):
    _, train_labels = read_part(digits_dirs["a"], "train")
    _, test_labels = read_part(digits_dirs["a"], "test")
    assert len(train_labels) + len(test_labels) == DIGITS_TOTAL
    assert abs(len(test_labels) - 0.2 * DIGITS_TOTAL) <= 1


def test_prepare_digits_test_part_is_stratified(digits_dirs):
    _, train_labels = read_part(digits_dirs["a"], "train")
    _, test_labels = read_part(digits_dirs["a"], "test")
    all_labels = np.concatenate([train_labels, test_labels])
    class_sizes = np.bincount(all_labels, minlength=10)
    test_counts = np.bincount(test_labels, minlength=10)
    expected = class_sizes * len(test_labels) / len(all_labels)
    assert np.all(np.abs(test_counts - expected) <= 1), (test_counts, expected)


def test_prepare_digits_is_deterministic_for_a_seed(digits_dirs):
    for part in ("train", "test"):
        images_a, labels_a = read_part(digits_dirs["a"], part)
        images_b, labels_b = read_part(digits_dirs["b"], part)
        np.testing.assert_array_equal(images_a, images_b)
        np.testing.assert_array_equal(labels_a, labels_b)


def test_prepare_digits_differs_with_another_seed(digits_dirs):
    images_a, labels_a = read_part(digits_dirs["a"], "test")
    images_o, labels_o = read_part(digits_dirs["other"], "test")
    assert len(labels_a) == len(labels_o)
    assert not np.array_equal(images_a, images_o)


def test_prepare_digits_upscales_by_pixel_repetition(digits_dirs):
    images, _ = read_part(digits_dirs["a"], "train")
    # Each 8x8 source pixel becomes a uniform 4x4 block.
    blocks = images[..., 0].reshape(len(images), 8, 4, 8, 4)
    assert np.all(blocks == blocks[:, :, :1, :, :1])
