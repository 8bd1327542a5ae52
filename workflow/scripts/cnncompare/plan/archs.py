"""Names of the architectures a model block may ask for, and where the weights
cache keeps their pretrained weights.

The torchvision archs are those of the table shipped with the package
(cnncompare.plan.arch_facts), so checking a config imports no torch.
"""

from __future__ import annotations

from cnncompare.plan.arch_facts import is_torchvision_arch, torchvision_archs

CUSTOM_ARCHS = ("custom_cnn",)


def is_known_arch(name: str) -> bool:
    return name in CUSTOM_ARCHS or is_torchvision_arch(name)


def known_archs() -> list[str]:
    return sorted(set(CUSTOM_ARCHS) | set(torchvision_archs()))


def weights_file_path(weights_dir: str, file: str) -> str:
    """Where torchvision's loader looks for the weights file `file` with
    TORCH_HOME=weights_dir (the cache download_weights fills)."""
    return f"{weights_dir.rstrip('/')}/hub/checkpoints/{file}"
