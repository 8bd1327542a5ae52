"""The data set formats: which files each downloads, and how each is prepared.

A data set is a block under `datasets` in the config; its `format` (by default
its name) picks an entry here. Every format ends in the same prepared files
(see cnncompare.datasets), so nothing after prepare_dataset knows the format.

Downloads: a format of one file takes `url` and `md5` as text; a format of
several takes `url` as the folder holding them and `md5` as a mapping from
each official file name to its MD5. prepare_dataset checks each file against
its MD5 again before parsing it (a file replaced after its download is refused)
and records the sources in prepared.json.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from cnncompare import checksums
from cnncompare.datasets import remove_scratch
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
    out_dir = Path(out_dir)
    remove_scratch(out_dir)
    if expected_md5 is not None:
        sources = checksums.verify_downloads(downloads, expected_md5, out_dir.name)
    else:
        sources = [{"file": name, "md5": checksums.md5_of_file(path)} for name, path in downloads.items()]
    FORMATS[block["format"]].prepare(downloads, block, out_dir)
    if block["format"] == "imagefolder":  # read in place: no file, no checksum
        folders = [block["path"]] if block.get("path") else [block["train_path"], block["test_path"]]
        sources = [{"file": str(folder), "md5": None} for folder in folders]
    checksums.add_sources(out_dir, sources)
