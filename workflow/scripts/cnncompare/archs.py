"""Names of the architectures a model block may ask for, and the pretrained
weights they need.

Kept apart from models.py so that checking a config usually imports no torch:
the classification models of torchvision 0.19 to 0.29 are listed here, and
only a name missing from this list makes us ask the installed torchvision
(a newer release may have more).
"""

from __future__ import annotations

import functools
import os

CUSTOM_ARCHS = ("custom_cnn",)

TORCHVISION_ARCHS = (
    "alexnet", "convnext_base", "convnext_large", "convnext_small", "convnext_tiny",
    "densenet121", "densenet161", "densenet169", "densenet201",
    "efficientnet_b0", "efficientnet_b1", "efficientnet_b2", "efficientnet_b3", "efficientnet_b4",
    "efficientnet_b5", "efficientnet_b6", "efficientnet_b7",
    "efficientnet_v2_l", "efficientnet_v2_m", "efficientnet_v2_s", "googlenet", "inception_v3", "maxvit_t",
    "mnasnet0_5", "mnasnet0_75", "mnasnet1_0", "mnasnet1_3",
    "mobilenet_v2", "mobilenet_v3_large", "mobilenet_v3_small",
    "regnet_x_16gf", "regnet_x_1_6gf", "regnet_x_32gf", "regnet_x_3_2gf", "regnet_x_400mf", "regnet_x_800mf",
    "regnet_x_8gf", "regnet_y_128gf", "regnet_y_16gf", "regnet_y_1_6gf", "regnet_y_32gf", "regnet_y_3_2gf",
    "regnet_y_400mf", "regnet_y_800mf", "regnet_y_8gf",
    "resnet101", "resnet152", "resnet18", "resnet34", "resnet50",
    "resnext101_32x8d", "resnext101_64x4d", "resnext50_32x4d",
    "shufflenet_v2_x0_5", "shufflenet_v2_x1_0", "shufflenet_v2_x1_5", "shufflenet_v2_x2_0",
    "squeezenet1_0", "squeezenet1_1", "swin_b", "swin_s", "swin_t", "swin_v2_b", "swin_v2_s", "swin_v2_t",
    "vgg11", "vgg11_bn", "vgg13", "vgg13_bn", "vgg16", "vgg16_bn", "vgg19", "vgg19_bn",
    "vit_b_16", "vit_b_32", "vit_h_14", "vit_l_16", "vit_l_32", "wide_resnet101_2", "wide_resnet50_2",
)


@functools.lru_cache(maxsize=1)
def installed_torchvision_archs() -> tuple[str, ...]:
    """Classification models of the installed torchvision (imports torch: slow)."""
    from torchvision import models

    return tuple(models.list_models(module=models))


def is_known_arch(name: str) -> bool:
    if name in CUSTOM_ARCHS or name in TORCHVISION_ARCHS:
        return True
    return name in installed_torchvision_archs()


def known_archs() -> list[str]:
    return sorted(set(CUSTOM_ARCHS) | set(TORCHVISION_ARCHS))


def weights_enum(arch: str, weights: str):
    """torchvision's weights enum member for `arch`, e.g. VGG16_Weights.IMAGENET1K_V1.

    `weights` is a member name (IMAGENET1K_V1) or DEFAULT, which torchvision
    maps to its recommended member; the member returned is what gets recorded.
    """
    from torchvision.models import get_model_weights

    enum = get_model_weights(arch)
    names = [member.name for member in enum]
    if weights == "DEFAULT":
        return enum.DEFAULT
    if weights not in names:
        raise ValueError(f"{arch} has no weights {weights!r}; available: DEFAULT, {', '.join(names)}")
    return enum[weights]


def weights_info(arch: str, weights: str) -> tuple[str, str, str]:
    """(file name in the cache's hub/checkpoints folder, URL, explicit enum name
    such as 'VGG16_Weights.IMAGENET1K_V1') of pretrained weights."""
    member = weights_enum(arch, weights)
    return os.path.basename(member.url), member.url, f"{type(member).__name__}.{member.name}"


def checkpoint_path(weights_dir: str, file: str) -> str:
    """Where torchvision's loader looks for `file` with TORCH_HOME=weights_dir."""
    return f"{weights_dir.rstrip('/')}/hub/checkpoints/{file}"
