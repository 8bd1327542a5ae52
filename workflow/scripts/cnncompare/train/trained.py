"""Using a trained run outside the workflow: its model, its preprocessing, its
class names, from the run's folder alone.

    model, preprocess, classes = load_trained("results/runs/cifar10/three/custom_cnn/seed0")
    with torch.no_grad():
        probabilities = model(preprocess(Image.open("cat.png"))).softmax(1)[0]
    print(classes[int(probabilities.argmax())])

The model is the one evaluate_model tested (model.pt), rebuilt from the block
recorded in train.json. Its first layer resizes to the block's image_size and
normalises with the statistics it was trained with (models.Preprocess), so the
preprocessing here only turns an image into what training fed it: RGB, uint8
at the prepared data's size, as a float batch of one in [0, 1].

A run that did not complete (status `diverged`: its weights may be NaN, and
its predictions with them) is refused, naming its status, unless the caller
asks for it with any_status=True.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, NamedTuple

import numpy as np
import torch
from torch import nn

from cnncompare.data.formats.imagefolder import fit_image
from cnncompare.train.augment import to_float
from cnncompare.fileio import read_json
from cnncompare.train.models import build_model


class TrainedRun(NamedTuple):
    model: nn.Module  # in eval mode, on the device asked for
    preprocess: Callable  # PIL image or uint8 array -> float tensor (1, 3, size, size)
    classes: list[str]  # class names, by the model's output index


def fit_square(image, size: int) -> np.ndarray:
    """A PIL image or a uint8 array (H, W) or (H, W, 3) as uint8 (size, size, 3) RGB.

    An RGB array of the prepared size is returned as it is (the test images
    of the prepared data, say); anything else is made RGB, scaled so its
    shorter side is `size` and cropped to the centre (bicubic) by the very
    function that prepares image folders (fit: crop; imagefolder.fit_image).
    A data set prepared otherwise (MNIST's
    padding) is matched best by images already at the prepared size.
    """
    from PIL import Image

    if isinstance(image, np.ndarray):
        if image.dtype != np.uint8:
            raise TypeError(f"expected a uint8 image array, got {image.dtype}")
        if image.shape == (size, size, 3):
            return image
        image = Image.fromarray(image)
    if not isinstance(image, Image.Image):
        raise TypeError(f"expected a PIL image or a uint8 numpy array, got {type(image).__name__}")
    return np.asarray(fit_image(image.convert("RGB"), size, "crop"), dtype=np.uint8)


# The one status of a run whose model can be trusted (columns.py: `status`).
COMPLETED = "completed"


def load_trained(run_dir, device: str | torch.device = "cpu", *, any_status: bool = False) -> TrainedRun:
    """The trained model of a run folder (results_dir/runs/<dataset>/<split>/<model>/seed<N>),
    in eval mode on `device`, with its preprocessing and class names.

    Needs the folder's model.pt and train.json only; reads nothing else and
    downloads nothing (pretrained weights are inside model.pt). A run whose
    status is not `completed` raises ValueError naming it; any_status=True
    loads it anyway (to look at a diverged model, say).
    """
    run_dir = Path(run_dir)
    for name in ("train.json", "model.pt"):
        if not (run_dir / name).is_file():
            raise FileNotFoundError(f"{run_dir / name} is missing: load_trained needs a trained run's folder")
    info = read_json(run_dir / "train.json")
    missing = [key for key in ("config", "num_classes", "classes", "prepared_size") if key not in info]
    if missing:
        raise ValueError(
            f"{run_dir / 'train.json'} lacks {', '.join(missing)}: it was written before cnncompare 0.1.0; "
            "train the run again (snakemake -R train_model)"
        )
    status = info.get("status")
    if status != COMPLETED and not any_status:
        held = f" (model.pt holds {info['tested_weights']})" if info.get("tested_weights") else ""
        raise ValueError(
            f"{run_dir}: the run's status is {status!r}, not {COMPLETED!r}{held}, so its predictions "
            "cannot be trusted (a diverged model's are NaN). To load it anyway: load_trained(..., any_status=True)"
        )
    device = torch.device(device)
    model = build_model(info["config"], info["num_classes"])
    model.load_state_dict(torch.load(run_dir / "model.pt", map_location="cpu", weights_only=True))
    model.to(device).eval()
    size = info["prepared_size"]

    def preprocess(image) -> torch.Tensor:
        """One image as the model's input: float (1, 3, size, size) in [0, 1] on the model's device."""
        pixels = torch.from_numpy(np.array(fit_square(image, size)))  # a writable copy
        return to_float(pixels.unsqueeze(0).to(device))

    return TrainedRun(model, preprocess, list(info["classes"]))
