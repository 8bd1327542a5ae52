"""A user's own images: one subfolder per class, in one folder or in a train and a test folder.

    path/cat/001.jpg, path/dog/xyz.png, ...        one folder: a stratified part,
                                                    drawn with a fixed seed, is the test set
    train_path/cat/..., test_path/cat/..., ...     separate folders: used as they are

Class names are the subfolder names, sorted; images may sit deeper inside a
class folder. Every image is turned upright by its EXIF orientation, converted
to RGB and brought to image_size x image_size: `crop` scales the shorter side
to image_size and cuts the centre, `stretch` scales both sides, changing the
aspect ratio. A file with an image extension that cannot be decoded stops the
preparation with its path: a silently smaller data set would bias the
comparison. Files of other extensions are listed in the log and left out.
"""

from __future__ import annotations

import functools
import logging
import os
from pathlib import Path

# numpy is imported where arrays are used: the plan lists image folders and needs no numpy.
from cnncompare.datasets import DataError, write_prepared
from cnncompare.splits import stratified_holdout

log = logging.getLogger(__name__)

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm")
_LISTED = 20  # unreadable files named in one error message


def _visible(path: Path) -> bool:
    return not path.name.startswith(".")


def class_folders(root: str | os.PathLike) -> list[Path]:
    """The class subfolders of `root`, sorted by name."""
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"image folder {root} does not exist or is not a folder")
    folders = sorted(p for p in root.iterdir() if p.is_dir() and _visible(p))
    if not folders:
        raise DataError(f"{root} has no class subfolders (expected {root}/<class name>/<images>)")
    return folders


def list_images(root: Path) -> tuple[list[str], list[tuple[Path, int]], list[Path]]:
    """(class names, [(image file, label)], other files) of a folder of class folders."""
    classes, images, others = [], [], []
    for label, folder in enumerate(class_folders(root)):
        classes.append(folder.name)
        found = 0
        for dirpath, dirnames, filenames in os.walk(folder):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            for name in sorted(filenames):
                path = Path(dirpath) / name
                if not _visible(path):
                    continue
                if path.suffix.lower() in IMAGE_EXTENSIONS:
                    images.append((path, label))
                    found += 1
                else:
                    others.append(path)
        if not found:
            raise DataError(f"class folder {folder} holds no images (extensions: {', '.join(IMAGE_EXTENSIONS)})")
    others += [p for p in Path(root).iterdir() if p.is_file() and _visible(p)]
    return classes, images, others


@functools.lru_cache(maxsize=None)
def folder_images(root: str) -> tuple[list[str], list[tuple[Path, int]], list[Path]]:
    """list_images of a folder, read once per process: the plan asks it for the
    image count (job sizes) and the images per class (the test part's size)."""
    return list_images(Path(root))


def load_image(path: Path, size: int, fit: str) -> np.ndarray:
    """One file as uint8 (size, size, 3) RGB; raises what PIL raises on a bad file."""
    import numpy as np

    from PIL import Image, ImageOps

    with Image.open(path) as image:
        image = ImageOps.exif_transpose(image).convert("RGB")
    if fit == "crop":
        scale = size / min(image.size)
        width, height = max(size, round(image.width * scale)), max(size, round(image.height * scale))
        image = image.resize((width, height), Image.Resampling.BICUBIC)
        left, top = (width - size) // 2, (height - size) // 2
        image = image.crop((left, top, left + size, top + size))
    elif fit == "stretch":
        image = image.resize((size, size), Image.Resampling.BICUBIC)
    else:
        raise ValueError(f"fit is crop or stretch, not {fit!r}")
    return np.asarray(image, dtype=np.uint8)


def load_images(files: list[tuple[Path, int]], size: int, fit: str) -> tuple[np.ndarray, np.ndarray]:
    """Every file decoded; if any cannot be, a DataError naming each of them."""
    import numpy as np
    from PIL import Image

    images = np.empty((len(files), size, size, 3), np.uint8)
    unreadable = []
    for i, (path, _) in enumerate(files):
        try:
            images[i] = load_image(path, size, fit)
        except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
            unreadable.append(f"{path}: {exc}")
    if unreadable:
        listed = "\n  ".join(unreadable[:_LISTED])
        more = f"\n  ... and {len(unreadable) - _LISTED} more" if len(unreadable) > _LISTED else ""
        raise DataError(
            f"{len(unreadable)} of {len(files)} images could not be read; fix or remove them:\n  {listed}{more}"
        )
    return images, np.array([label for _, label in files], dtype=np.int64)


def _log_others(others: list[Path]) -> None:
    if others:
        shown = ", ".join(str(p) for p in others[:_LISTED])
        log.warning("left out %d files that are not images by their extension: %s%s",
                    len(others), shown, " ..." if len(others) > _LISTED else "")


def prepare_imagefolder(downloads: dict, settings: dict, out_dir) -> None:
    size, fit = settings["image_size"], settings["fit"]
    if settings.get("path"):
        classes, files, others = list_images(Path(settings["path"]))
        _log_others(others)
        images, labels = load_images(files, size, fit)
        train_idx, test_idx = stratified_holdout(labels, settings["test_fraction"], settings["seed"])
        train, test = (images[train_idx], labels[train_idx]), (images[test_idx], labels[test_idx])
    else:
        train_root, test_root = Path(settings["train_path"]), Path(settings["test_path"])
        classes, train_files, others = list_images(train_root)
        test_classes, test_files, test_others = list_images(test_root)
        _log_others(others + test_others)
        unknown = sorted(set(test_classes) - set(classes))
        if unknown:
            raise DataError(
                f"{test_root} has class folders that {train_root} lacks: {', '.join(unknown)}"
            )
        # The test folder's labels follow the train folder's class order.
        test_files = [(path, classes.index(test_classes[label])) for path, label in test_files]
        # One pass over both folders, so every unreadable file is named at once.
        images, labels = load_images(train_files + test_files, size, fit)
        cut = len(train_files)
        train, test = (images[:cut], labels[:cut]), (images[cut:], labels[cut:])
    log.info("read %d images of %d classes, each made %d px by %s", len(train[1]) + len(test[1]), len(classes), size, fit)
    write_prepared(out_dir, train, test, classes)
