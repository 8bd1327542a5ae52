"""The data set formats: which files each downloads, and how each is prepared.

A data set is a block under `datasets` in the config; its `format` (by default
its name) picks an entry here. Every format ends in the same prepared files
(see cnncompare.datasets), so nothing after prepare_dataset knows the format.

Downloads: a format of one file takes `url` and `md5` as text; a format of
several takes `url` as the folder holding them and `md5` as a mapping from
each official file name to its MD5.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from cnncompare.formats import cifar, digits, idx, imagefolder, svhn


@dataclass(frozen=True)
class Format:
    files: tuple[str, ...]  # official names of the files download_dataset fetches; () fetches nothing
    prepare: Callable[[dict, dict, Path], None]  # (downloads by file name, settings, out_dir)


FORMATS = {
    "cifar10": Format(cifar.CIFAR10_FILES, cifar.prepare_cifar10),
    "cifar100": Format(cifar.CIFAR100_FILES, cifar.prepare_cifar100),
    "mnist": Format(idx.FILES, idx.prepare_mnist),
    "fashion_mnist": Format(idx.FILES, idx.prepare_fashion_mnist),
    "svhn": Format(svhn.FILES, svhn.prepare_svhn),
    "imagefolder": Format((), imagefolder.prepare_imagefolder),
    "digits": Format((), digits.prepare_digits_block),
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


def prepare_dataset(block: dict, downloads: dict, out_dir) -> None:
    """Write the prepared files of one data set block into out_dir.

    `downloads` maps each official file name of the format to its local path.
    """
    FORMATS[block["format"]].prepare(downloads, block, Path(out_dir))
