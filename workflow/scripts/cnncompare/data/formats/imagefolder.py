"""A user's own images: one subfolder per class, in one folder or in a train and a test folder.

    path/cat/001.jpg, path/dog/xyz.png, ...        one folder: a stratified part,
                                                    drawn with a fixed seed, is the test set
    train_path/cat/..., test_path/cat/..., ...     separate folders: used as they are

Class names are the subfolder names, sorted; images may sit deeper inside a
class folder, in subfolders that may be links. Each image file is read once:
a link to a folder already read (an ancestor, which would loop, or one reached
by another path) is skipped, and what was skipped is listed in the log and the
data set's warnings; one file reached from two class folders is refused.

Every image is turned upright by its EXIF orientation, converted to RGB and
brought to image_size x image_size: `crop` scales the shorter side to
image_size and cuts the centre, `stretch` scales both sides, changing the
aspect ratio. Images of 16 bits per channel (microscopy, medical) are scaled
to 8 bits by their bit depth, value / 257 rounded (65535 -> 255, and an 8-bit
value v saved as 16 bits, v * 257, comes back as v): one fixed scale, so the
brightness of images stays comparable, as a per-image stretch would not keep
it. Pillow's plain conversion would clip every value above 255 to white.
32-bit integer and floating-point images have no such scale and are refused.

A file with an image extension that cannot be decoded stops the preparation
with its path: a silently smaller data set would bias the comparison. Files of
other extensions are listed in the log and left out.
"""

from __future__ import annotations

import functools
import logging
import os
from pathlib import Path

# numpy is imported where arrays are used: the plan lists image folders and needs no numpy.
from cnncompare.data.datasets import DataError, write_prepared
from cnncompare.data.splits import stratified_holdout

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


def _walk_files(folder: Path, skipped: list[str]):
    """Every visible file below `folder`, sorted, following links to folders.

    A folder is read once, by its real path: a link to a folder it is inside
    of (which would loop) or to a folder read already is skipped, and said in
    `skipped`.
    """
    seen = {}  # real path -> the path it was first read by

    def walk(path: Path, inside: tuple[Path, ...]):
        real = path.resolve()
        if real in inside:
            skipped.append(f"{path} (a link to its ancestor {real}: following it would loop)")
            return
        if real in seen:
            skipped.append(f"{path} (a link to {real}, read already as {seen[real]})")
            return
        seen[real] = path
        try:
            entries = sorted(entry for entry in path.iterdir() if _visible(entry))
        except OSError as exc:
            raise DataError(f"cannot list the folder {path}: {exc}") from exc
        # A folder's files, then its subfolders' (the order os.walk gave before links were followed).
        yield from (entry for entry in entries if not entry.is_dir())
        for entry in entries:
            if entry.is_dir():
                yield from walk(entry, (*inside, real))

    # The folders above the class folder count as its ancestors too: a link to
    # the top folder would otherwise read the other classes' images into this one.
    yield from walk(folder, tuple(p.resolve() for p in folder.absolute().parents))


def list_images(root: Path, skipped: list[str] | None = None) -> tuple[list[str], list[tuple[Path, int]], list[Path]]:
    """(class names, [(image file, label)], other files) of a folder of class folders.

    Links to folders are followed; `skipped` (when given) collects the links
    not followed and the files read already by another path, with the reason.
    """
    skipped = [] if skipped is None else skipped
    classes, images, others = [], [], []
    owner = {}  # real path of an image file -> (its path, its label)
    for label, folder in enumerate(class_folders(root)):
        classes.append(folder.name)
        found = 0
        for path in _walk_files(folder, skipped):
            if path.suffix.lower() not in IMAGE_EXTENSIONS:
                others.append(path)
                continue
            real = path.resolve()
            if real in owner:
                first, first_label = owner[real]
                if first_label != label:
                    raise DataError(
                        f"one image file is in two class folders: {first} and {path} (both {real}); "
                        "an image has one class: remove one of them"
                    )
                skipped.append(f"{path} (the same file as {first}, read already)")
                continue
            owner[real] = (path, label)
            images.append((path, label))
            found += 1
        if not found:
            raise DataError(f"class folder {folder} holds no images (extensions: {', '.join(IMAGE_EXTENSIONS)})")
    others += [p for p in Path(root).iterdir() if p.is_file() and _visible(p)]
    return classes, images, others


@functools.lru_cache(maxsize=None)
def folder_images(root: str) -> tuple[list[str], list[tuple[Path, int]], list[Path]]:
    """list_images of a folder, read once per process: the plan asks it for the
    image count (job sizes) and the images per class (the test part's size)."""
    return list_images(Path(root))


def to_8_bits(image, file_format: str | None):
    """(8-bit image, (lowest, highest) 16-bit value or None): 16-bit grey scaled
    by the bit depth (value / 257, rounded); 32-bit and float pixels refused."""
    import numpy as np
    from PIL import Image

    # Pillow's 16-bit modes are I;16, I;16B, I;16L, ...; older versions open
    # 16-bit grey PNGs as mode I (32-bit), though PNG has no 32-bit pixels.
    if image.mode.startswith("I;16") or (image.mode == "I" and file_format == "PNG"):
        values = np.asarray(image)
        if values.min() < 0:
            raise ValueError("signed 16-bit pixels with negative values have no fixed scale to 8 bits")
        values = values.astype(np.uint32)
        grey = ((values * 2 + 257) // 514).astype(np.uint8)  # round(values / 257)
        return Image.fromarray(grey), (int(values.min()), int(values.max()))
    if image.mode in ("I", "F"):
        kind = "32-bit integer" if image.mode == "I" else "floating-point"
        raise ValueError(
            f"{kind} pixels (Pillow mode {image.mode}) have no fixed scale to 8 bits; "
            "save the image with 8 or 16 bits per channel"
        )
    return image, None


def fit_image(image, size: int, fit: str):
    """A PIL image brought to size x size: crop scales its shorter side to `size`
    (bicubic) and cuts the centre, stretch scales both sides.

    The one home of this step: preparing an image folder and the preprocessing
    of cnncompare.load_trained both call it, so a trained model is given a new
    image as its training and test images were given to it.
    """
    from PIL import Image

    if fit == "crop":
        scale = size / min(image.size)
        width, height = max(size, round(image.width * scale)), max(size, round(image.height * scale))
        image = image.resize((width, height), Image.Resampling.BICUBIC)
        left, top = (width - size) // 2, (height - size) // 2
        return image.crop((left, top, left + size, top + size))
    if fit == "stretch":
        return image.resize((size, size), Image.Resampling.BICUBIC)
    raise ValueError(f"fit is crop or stretch, not {fit!r}")


def load_image(path: Path, size: int, fit: str, sixteen_bit: list | None = None) -> np.ndarray:
    """One file as uint8 (size, size, 3) RGB; raises what PIL raises on a bad file.

    A 16-bit image is scaled to 8 bits (see to_8_bits); its path and value
    range are appended to `sixteen_bit`.
    """
    import numpy as np
    from PIL import Image, ImageOps

    with Image.open(path) as image:
        image, scaled = to_8_bits(ImageOps.exif_transpose(image), image.format)
        image = image.convert("RGB")
    if scaled is not None and sixteen_bit is not None:
        sixteen_bit.append((path, *scaled))
    return np.asarray(fit_image(image, size, fit), dtype=np.uint8)


def load_images(files: list[tuple[Path, int]], size: int, fit: str,
                sixteen_bit: list | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Every file decoded; if any cannot be, a DataError naming each of them."""
    import numpy as np
    from PIL import Image

    images = np.empty((len(files), size, size, 3), np.uint8)
    unreadable = []
    for i, (path, _) in enumerate(files):
        try:
            images[i] = load_image(path, size, fit, sixteen_bit)
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


def _listed(items: list) -> str:
    return "; ".join(map(str, items[:_LISTED])) + (f"; ... and {len(items) - _LISTED} more" if len(items) > _LISTED else "")


def _notes(skipped: list[str], sixteen_bit: list) -> list[str]:
    """What the data set's warnings say about how its files were read."""
    notes = []
    if skipped:
        log.info("not read twice:\n  %s", "\n  ".join(skipped))
        notes.append(f"{len(skipped)} links or files not read, as what they point to was read already "
                     f"(each image is read once): {_listed(skipped)}")
    if sixteen_bit:
        low, high = min(lo for _, lo, _ in sixteen_bit), max(hi for _, _, hi in sixteen_bit)
        notes.append(
            f"{len(sixteen_bit)} images have 16 bits per channel and were scaled to 8 bits by value / 257: "
            f"their values {low}..{high} became {round(low / 257)}..{round(high / 257)} (e.g. {sixteen_bit[0][0]})"
        )
    return notes


def _refuse_untestable_classes(root: Path, classes: list[str], labels: np.ndarray, fraction: float) -> None:
    """A class of one image has nothing to hold out: it would have no test image."""
    import numpy as np

    counts = np.bincount(labels, minlength=len(classes))
    single = [root / classes[i] for i in np.flatnonzero(counts == 1)]
    if single:
        raise DataError(
            f"class folders holding a single image: {', '.join(map(str, single))}. With "
            f"test_fraction {fraction:g} that image is trained on and the class has no test image; no "
            "test_fraction changes that, as a class needs at least 2 images (one to train on, one to "
            "test). Add images to these folders, or remove them"
        )


def prepare_imagefolder(downloads: dict, settings: dict, out_dir) -> None:
    import numpy as np

    size, fit = settings["image_size"], settings["fit"]
    skipped, sixteen_bit = [], []
    if settings.get("path"):
        root = Path(settings["path"])
        classes, files, others = list_images(root, skipped)
        _log_others(others)
        _refuse_untestable_classes(root, classes, np.array([label for _, label in files]), settings["test_fraction"])
        images, labels = load_images(files, size, fit, sixteen_bit)
        train_idx, test_idx = stratified_holdout(labels, settings["test_fraction"], settings["seed"])
        train, test = (images[train_idx], labels[train_idx]), (images[test_idx], labels[test_idx])
    else:
        train_root, test_root = Path(settings["train_path"]), Path(settings["test_path"])
        classes, train_files, others = list_images(train_root, skipped)
        test_classes, test_files, test_others = list_images(test_root, skipped)
        _log_others(others + test_others)
        unknown = sorted(set(test_classes) - set(classes))
        if unknown:
            raise DataError(
                f"{test_root} has class folders that {train_root} lacks: {', '.join(unknown)}"
            )
        # The test folder's labels follow the train folder's class order.
        test_files = [(path, classes.index(test_classes[label])) for path, label in test_files]
        # One pass over both folders, so every unreadable file is named at once.
        images, labels = load_images(train_files + test_files, size, fit, sixteen_bit)
        cut = len(train_files)
        train, test = (images[:cut], labels[:cut]), (images[cut:], labels[cut:])
    per_class = ", ".join(f"{name} {count}" for name, count in zip(classes, np.bincount(labels, minlength=len(classes))))
    log.info("read %d images of %d classes (%s), each made %d px by %s", len(labels), len(classes), per_class, size, fit)
    write_prepared(out_dir, train, test, classes, notes=_notes(skipped, sixteen_bit))
