"""The data set formats: what each downloads, how big it is, and how each is prepared.

A data set is a block under `datasets` in the config; its `format` (by default
its name) picks an entry here. Every format ends in the same prepared files
(see cnncompare.data.datasets), so nothing after prepare_dataset knows the format.

Downloads: a format of one file takes `url` and `md5` as text; a format of
several takes `url` as the folder holding them and `md5` as a mapping from
each official file name to its MD5. prepare_dataset checks each file against
its MD5 again before parsing it (a file replaced after its download is refused)
and records the sources in prepared.json.

The table below is what the plan asks of a format (files, image counts, the
prepared side), so it imports neither numpy nor the parsers: each format's
module is imported only when a data set of that format is prepared.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path

# The official file names of each download, by what they hold.
CIFAR10_FILES = ("cifar-10-python.tar.gz",)
CIFAR100_FILES = ("cifar-100-python.tar.gz",)
IDX_FILES = {
    "train_images": "train-images-idx3-ubyte.gz",
    "train_labels": "train-labels-idx1-ubyte.gz",
    "test_images": "t10k-images-idx3-ubyte.gz",
    "test_labels": "t10k-labels-idx1-ubyte.gz",
}
SVHN_FILES = ("train_32x32.mat", "test_32x32.mat")


@dataclass(frozen=True)
class Format:
    files: tuple[str, ...]  # official names of the files download_dataset fetches; () fetches nothing
    prepare: str  # "module.function" under cnncompare.data.formats: (downloads by file name, settings, out_dir)
    images: int | None  # train + test images of the official files; None: those found in the folder
    side: int | None  # side in pixels of the prepared images; None: the block's image_size


FORMATS = {
    "cifar10": Format(CIFAR10_FILES, "cifar.prepare_cifar10", 60_000, 32),
    "cifar100": Format(CIFAR100_FILES, "cifar.prepare_cifar100", 60_000, 32),
    "mnist": Format(tuple(IDX_FILES.values()), "idx.prepare_mnist", 70_000, None),
    "fashion_mnist": Format(tuple(IDX_FILES.values()), "idx.prepare_fashion_mnist", 70_000, None),
    "svhn": Format(SVHN_FILES, "svhn.prepare_svhn", 99_289, 32),
    "imagefolder": Format((), "imagefolder.prepare_imagefolder", None, None),
    "digits": Format((), "digits.prepare_digits_block", 1_797, 32),  # 8x8, upscaled to 32
}


def download_files(block: dict) -> tuple[str, ...]:
    """The files a data set block fetches, by their official names."""
    return FORMATS[block["format"]].files


def file_source(block: dict, file: str) -> tuple[str, str]:
    """(url, md5) of one file of a data set block."""
    files = download_files(block)
    if file not in files:
        raise KeyError(f"format {block['format']} downloads {', '.join(files) or 'nothing'}, not {file}")
    if len(files) == 1:
        return block["url"], block["md5"]
    return block["url"].rstrip("/") + "/" + file, block["md5"][file]


def image_roots(block: dict) -> list[str]:
    """The folders of class folders an image-folder block reads (none for other formats)."""
    if block["format"] != "imagefolder":
        return []
    return [block["path"]] if block.get("path") else [block["train_path"], block["test_path"]]


def dataset_images(block: dict) -> int:
    """Images in a data set: the official count, or the images of an image folder."""
    fixed = FORMATS[block["format"]].images
    if fixed is not None:
        return fixed
    from cnncompare.data.formats.imagefolder import folder_images

    return sum(len(folder_images(root)[1]) for root in image_roots(block))


def stored_side(block: dict) -> int:
    """Side in pixels of a data set's prepared images."""
    side = FORMATS[block["format"]].side
    return side if side is not None else block["image_size"]


def expected_md5s(block: dict) -> dict[str, str]:
    """{official file name: MD5 from the config} of a data set block's downloads."""
    return {file: file_source(block, file)[1] for file in download_files(block)}


def prepare_dataset(block: dict, downloads: dict, out_dir, expected_md5: dict | None = None) -> None:
    """Write the prepared files of one data set block into out_dir.

    `downloads` maps each official file name of the format to its local path;
    each is checked against `expected_md5` (file name -> MD5, the config's)
    first, when given. What an interrupted preparation left in out_dir is
    removed first.
    """
    from cnncompare.data import checksums
    from cnncompare.data.datasets import remove_scratch

    out_dir = Path(out_dir)
    remove_scratch(out_dir)
    if expected_md5 is not None:
        sources = checksums.verify_downloads(downloads, expected_md5, out_dir.name)
    else:
        sources = [{"file": name, "md5": checksums.md5_of_file(path)} for name, path in downloads.items()]
    module, function = FORMATS[block["format"]].prepare.split(".")
    prepare = getattr(importlib.import_module(f"cnncompare.data.formats.{module}"), function)
    prepare(downloads, block, out_dir)
    if block["format"] == "imagefolder":  # read in place: no file, no checksum
        sources = [{"file": str(folder), "md5": None} for folder in image_roots(block)]
    checksums.add_sources(out_dir, sources)
