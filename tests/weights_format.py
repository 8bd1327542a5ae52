"""Pretrained-weights files for tests: random values under the exact name and
keys torchvision's loader expects in its cache (nothing can be downloaded here)."""

from __future__ import annotations

from pathlib import Path

import torch

from cnncompare.train.arch_table import weights_info
from cnncompare.plan.archs import weights_file_path


def write_random_weights(arch: str, weights_dir: Path, weights: str = "DEFAULT", seed: int = 0) -> tuple[Path, dict]:
    """Random values in the exact file torchvision's loader expects in the cache."""
    from torchvision import models as tvm

    torch.manual_seed(seed)
    state = {}
    for key, value in tvm.get_model(arch).state_dict().items():
        if not value.is_floating_point():
            state[key] = value  # batch counters
        elif key.endswith("running_var"):
            state[key] = torch.rand_like(value) + 0.5  # a variance must stay positive
        else:
            state[key] = torch.randn_like(value) * 0.1
    path = Path(weights_file_path(str(weights_dir), weights_info(arch, weights)[0]))
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(state, path)
    return path, state
