"""Model construction from a model block of the config.

Every model is `Sequential(Preprocess, network)`: it takes float images in
[0, 1], NCHW, resizes them to the block's image_size and normalises them with
buffers that travel in its state dict, so evaluation needs nothing but
model.pt and the block that built it.

The network is either the study's CustomCNN, or a torchvision classification
model adapted by the block: its feature blocks (all or the first keep_blocks),
optionally frozen, under a new head sized for the data set.
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from cnncompare.plan.arch_facts import check_block_counts
from cnncompare.plan.archs import CUSTOM_ARCHS

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class Preprocess(nn.Module):
    """Resize to image_size (bilinear, on the device, per batch) and standardise per channel."""

    def __init__(self, mean: Sequence[float], std: Sequence[float], image_size: int):
        super().__init__()
        self.image_size = image_size
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1))

    def forward(self, x):
        if x.shape[-2:] != (self.image_size, self.image_size):
            x = F.interpolate(x, size=(self.image_size, self.image_size), mode="bilinear", align_corners=False)
        return (x - self.mean) / self.std


class AvgPoolTo(nn.Module):
    """Average pooling to size x size, as nn.AdaptiveAvgPool2d, but through plain
    average pooling whenever the input divides evenly: adaptive pooling's CUDA
    backward adds with atomics, which deterministic mode refuses."""

    def __init__(self, size: int):
        super().__init__()
        self.size = size

    def forward(self, x):
        h, w = x.shape[-2:]
        if (h, w) == (self.size, self.size):
            return x
        if h % self.size == 0 and w % self.size == 0:
            return F.avg_pool2d(x, (h // self.size, w // self.size))
        return F.adaptive_avg_pool2d(x, self.size)


# --- the study's network -----------------------------------------------------------------


def _conv_bn(c_in: int, c_out: int) -> list[nn.Module]:
    # No conv bias: the batch norm that follows has its own shift.
    return [
        nn.Conv2d(c_in, c_out, kernel_size=3, padding=1, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=True),
    ]


class CustomCNN(nn.Sequential):
    """The study's network: three blocks of two 3x3 convolutions (32, 64, 128
    channels) with batch norm, each closed by 2x2 max pooling and dropout, then
    one dense layer. About 308k parameters for 10 classes at 32 px."""

    def __init__(self, num_classes: int, dropout: float, widths=(32, 64, 128)):
        layers: list[nn.Module] = []
        c_in = 3
        for width in widths:
            layers += _conv_bn(c_in, width) + _conv_bn(width, width)
            layers += [nn.MaxPool2d(2), nn.Dropout(dropout)]
            c_in = width
        # Pooling to 4x4 is the identity at 32 px and keeps the dense layer's
        # size fixed when images are larger.
        layers += [AvgPoolTo(4), nn.Flatten(), nn.Linear(c_in * 16, num_classes)]
        super().__init__(*layers)


# --- torchvision models, adapted ------------------------------------------------------------


def feature_blocks(model: nn.Module) -> list[nn.Module] | None:
    """The model's feature extractor cut into blocks, each mapping a feature map
    to a feature map; None when the family has no such cut (ViT, Swin, ...)."""
    from torchvision import models as tvm

    if isinstance(model, tvm.VGG):
        blocks, current = [], []
        for layer in model.features:
            current.append(layer)
            if isinstance(layer, nn.MaxPool2d):
                blocks.append(nn.Sequential(*current))
                current = []
        return blocks + ([nn.Sequential(*current)] if current else [])
    if isinstance(model, tvm.ResNet):
        stem = nn.Sequential(model.conv1, model.bn1, model.relu, model.maxpool)
        return [stem, model.layer1, model.layer2, model.layer3, model.layer4]
    if isinstance(model, tvm.RegNet):
        return [model.stem, *model.trunk_output.children()]
    if isinstance(model, tvm.ShuffleNetV2):
        return [nn.Sequential(model.conv1, model.maxpool), model.stage2, model.stage3, model.stage4, model.conv5]
    if isinstance(model, tvm.MNASNet):
        return list(model.layers.children())
    if isinstance(model, tvm.DenseNet):
        # DenseNet's forward applies a ReLU after the final norm.
        *blocks, last = model.features.children()
        return blocks + [nn.Sequential(last, nn.ReLU())]
    if isinstance(model, tvm.SwinTransformer):
        return None  # its features end channels-last, not as NCHW maps
    features = getattr(model, "features", None)
    if isinstance(features, nn.Sequential):
        return list(features.children())
    return None


def _replace_last_linear(model: nn.Module) -> int:
    """Turn the model's final classification layer into Identity; return its input width."""
    for attr in ("fc", "classifier", "head", "heads"):
        holder = getattr(model, attr, None)
        if holder is None:
            continue
        if isinstance(holder, nn.Linear):
            setattr(model, attr, nn.Identity())
            return holder.in_features
        linears = [(name, m) for name, m in holder.named_modules() if isinstance(m, nn.Linear)]
        if linears:
            name, last = linears[-1]
            parent_name, _, attr_name = name.rpartition(".")
            setattr(holder.get_submodule(parent_name), attr_name, nn.Identity())  # "" is holder itself
            return last.in_features
    raise ValueError(f"{type(model).__name__}: no final linear layer found to replace")


def make_head(in_features: int, spec: dict, num_classes: int, spatial: bool) -> nn.Sequential:
    """Pooling (for feature maps), hidden dense layers with optional batch norm,
    ReLU and dropout, then one output per class."""
    layers: list[nn.Module] = []
    if spatial:
        layers += [AvgPoolTo(1) if spec["pool"] == "avg" else nn.Identity(), nn.Flatten()]
    width = in_features
    for size in spec["hidden"]:
        layers.append(nn.Linear(width, size))
        if spec["norm"]:
            layers.append(nn.BatchNorm1d(size))
        layers.append(nn.ReLU(inplace=True))
        if spec["dropout"]:
            layers.append(nn.Dropout(spec["dropout"]))
        width = size
    layers.append(nn.Linear(width, num_classes))
    return nn.Sequential(*layers)


class TransferNet(nn.Module):
    """A base of feature blocks, the first `frozen` of them frozen, under a new head.

    Frozen blocks stay in eval mode even while the model trains, so their
    batch-norm statistics are not updated either: frozen means unchanged.
    """

    def __init__(self, blocks: list[nn.Module], head: nn.Module, frozen: int):
        super().__init__()
        self.base = nn.Sequential(*blocks)
        self.head = head
        self.frozen = frozen
        for block in self.base[:frozen]:
            block.requires_grad_(False)

    def train(self, mode: bool = True):
        super().train(mode)
        for block in self.base[: self.frozen]:
            block.train(False)
        return self

    def forward(self, x):
        return self.head(self.base(x))


def drop_auxiliary_heads(model: nn.Module, pretrained: bool) -> None:
    """GoogLeNet and Inception v3: remove the auxiliary classifiers our loss never
    trains, and, for ImageNet weights ported from TensorFlow, re-scale inputs as
    those weights expect (torchvision does this only when it loads them itself).
    Decided by the block, not by a weights file, so evaluation builds the same net."""
    from torchvision import models as tvm

    if isinstance(model, tvm.GoogLeNet):
        model.aux_logits, model.aux1, model.aux2 = False, None, None
    elif isinstance(model, tvm.Inception3):
        model.aux_logits, model.AuxLogits = False, None
    else:
        return
    model.transform_input = pretrained


def kept_blocks(model: nn.Module, block: dict) -> list[nn.Module] | None:
    """The feature blocks the block keeps (None: the arch has no blocks and is
    used whole), refusing keep_blocks or freeze beyond what the arch has."""
    blocks = feature_blocks(model)
    check_block_counts(block, None if blocks is None else len(blocks))
    if blocks is None:
        return None
    return blocks[:block["keep_blocks"]] if block["keep_blocks"] is not None else blocks


def _frozen_blocks(block: dict, n_blocks: int) -> int:
    freeze = block["freeze"]
    if freeze == "base" or block.get("lr_base") == 0:
        return n_blocks
    return 0 if freeze == "none" else freeze


def build_torchvision(block: dict, num_classes: int, weights_path=None) -> TransferNet:
    """A torchvision model per the block; ImageNet weights from `weights_path` when given.

    The weights are read from the local file only (torch.load with
    weights_only=True): nothing is ever downloaded here.
    """
    from torchvision import models as tvm

    arch = block["arch"]
    model = tvm.get_model(arch, weights=None)
    if weights_path is not None:
        state = torch.load(weights_path, map_location="cpu", weights_only=True)
        model.load_state_dict(state)
    drop_auxiliary_heads(model, pretrained=block["pretrained"])
    blocks = kept_blocks(model, block)
    if blocks is None:
        width = _replace_last_linear(model)
        head = make_head(width, block["head"], num_classes, spatial=False)
        return TransferNet([model], head, _frozen_blocks(block, 1))
    # The head's input width: one forward pass of a dummy image through the kept blocks.
    base = nn.Sequential(*blocks).eval()
    with torch.no_grad():
        out = base(torch.zeros(1, 3, block["image_size"], block["image_size"]))
    width = out.shape[1] if block["head"]["pool"] == "avg" else out[0].numel()
    head = make_head(width, block["head"], num_classes, spatial=True)
    return TransferNet(blocks, head, _frozen_blocks(block, len(blocks)))


def build_model(block: dict, num_classes: int, mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25),
                weights_path=None) -> nn.Module:
    """The network a model block describes, preceded by its input preprocessing.

    mean and std are the training set's statistics (placeholders when the
    weights come from a state dict); pretrained models use ImageNet's instead.
    """
    arch = block["arch"]
    image_size = block["image_size"]
    if arch in CUSTOM_ARCHS:
        net = CustomCNN(num_classes, dropout=block["dropout"])
    else:
        from cnncompare.plan.archs import is_known_arch

        if not is_known_arch(arch):
            raise ValueError(f"unknown arch {arch!r}; use custom_cnn or a torchvision classification model")
        net = build_torchvision(block, num_classes, weights_path)
        if block["pretrained"]:
            mean, std = IMAGENET_MEAN, IMAGENET_STD
    return nn.Sequential(Preprocess(mean, std, image_size), net)


def count_parameters(model: nn.Module) -> tuple[int, int]:
    """(total, trainable) parameter counts."""
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return total, trainable


def parameter_groups(model: nn.Module, block: dict) -> list[dict]:
    """Optimizer groups of the trainable parameters: the base at lr_base (when
    set), the head at lr. Frozen parameters are left out entirely."""
    net = model[1]
    if not isinstance(net, TransferNet) or block.get("lr_base") is None:
        return [{"params": [p for p in model.parameters() if p.requires_grad], "lr": block["lr"], "name": "all"}]
    base = [p for p in net.base.parameters() if p.requires_grad]
    head = [p for p in net.head.parameters() if p.requires_grad]
    groups = [{"params": base, "lr": block["lr_base"], "name": "base"}] if base else []
    return groups + [{"params": head, "lr": block["lr"], "name": "head"}]
