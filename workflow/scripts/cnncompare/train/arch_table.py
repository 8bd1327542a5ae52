"""Write the table of torchvision facts the plan reads (torchvision_archs.json).

Snakemake's own process must not import torch, yet it must know, before any
job, what each torchvision architecture needs: the weights files a
pretrained model downloads (name, URL, SHA-256 prefix, the input size the
weights declare), how many feature blocks it has (for keep_blocks and freeze),
and the input sizes its structure accepts (vgg11 pools five times and needs
32 px; vit_b_16 takes exactly 224). This module asks the installed
torchvision once and writes the answers next to the code:

    make arch-table
    # = PYTHONPATH=workflow/scripts .venv/bin/python -m cnncompare.train.arch_table

Run it after upgrading torchvision, and commit the table;
tests/test_arch_facts.py fails while the shipped table differs from what the
installed torchvision answers. Input sizes are found by forward passes on
the meta device (shapes only, no memory, no arithmetic) through exactly the
network a model block builds (cnncompare.train.models): the kept feature blocks,
or the whole net for archs without blocks.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import sys
from importlib import metadata
from pathlib import Path

import torch
from torch import nn

from cnncompare.plan.arch_facts import TABLE_PATH
from cnncompare.train.models import drop_auxiliary_heads, feature_blocks

# Every torchvision classification net accepts its own ImageNet size; the
# search for the smallest size that works runs below it.
NATIVE_SIZE = 224
# Sizes above NATIVE_SIZE tried to tell "any larger size" from "at most NATIVE_SIZE".
LARGER_SIZES = (NATIVE_SIZE + 1, 256, 257, 512)


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
    such as 'VGG16_Weights.IMAGENET1K_V1'), asked of torchvision itself."""
    member = weights_enum(arch, weights)
    return os.path.basename(member.url), member.url, f"{type(member).__name__}.{member.name}"


def _sha256_prefix(file: str) -> str:
    """torch hub file names end in the first hex digits of their SHA-256 (name-<hex>.pth)."""
    match = re.search(r"-([0-9a-f]{6,})\.[A-Za-z0-9]+$", file)
    if not match:
        raise ValueError(f"weights file {file} carries no SHA-256 prefix in its name")
    return match.group(1)


@contextlib.contextmanager
def _params_computed_on_cpu():
    """RegNet computes its stage widths with tensor ops and .tolist() while it is
    built, which the meta device cannot answer: run that part on the CPU."""
    from torchvision.models import regnet

    original = regnet.BlockParams.from_init_params

    def on_cpu(*args, **kwargs):
        with torch.device("cpu"):
            return original(*args, **kwargs)

    regnet.BlockParams.from_init_params = on_cpu
    try:
        yield
    finally:
        regnet.BlockParams.from_init_params = original


def meta_model(arch: str) -> nn.Module:
    """The torchvision net of `arch` on the meta device, as cnncompare.train.models builds it."""
    from torchvision import models as tvm

    with _params_computed_on_cpu(), torch.device("meta"):
        model = tvm.get_model(arch, weights=None)
    drop_auxiliary_heads(model, pretrained=False)
    return model.eval()


class _Probe:
    """Which of a chain of blocks first rejects an input of a given side: one
    forward pass on the meta device answers for every prefix of the chain at
    once, and each size is tried only once."""

    def __init__(self, blocks: list[nn.Module]):
        self.blocks = blocks
        self.answers: dict[int, int] = {}

    def accepted_blocks(self, size: int) -> int:
        """How many leading blocks accept a size x size input."""
        if size not in self.answers:
            x = torch.zeros(2, 3, size, size, device="meta")
            done = 0
            with torch.no_grad():
                for block in self.blocks:
                    try:
                        x = block(x)
                    except (RuntimeError, ValueError, AssertionError, IndexError):
                        break
                    done += 1
            self.answers[size] = done
        return self.answers[size]

    def accepts(self, size: int, k: int) -> bool:
        return self.accepted_blocks(size) >= k


def input_sizes(probe: _Probe, k: int, label: str) -> tuple[int, int | None]:
    """(smallest, largest or None for no limit) side in pixels that the first k
    blocks accept. The sizes a net accepts form one range that holds
    NATIVE_SIZE (checked at its ends and inside: a net that breaks this fails
    here rather than write a wrong table)."""
    if not probe.accepts(NATIVE_SIZE, k):
        raise RuntimeError(f"{label} does not accept {NATIVE_SIZE} px images")
    low, high = 1, NATIVE_SIZE  # accepts(high); find the smallest accepted
    while low < high:
        middle = (low + high) // 2
        if probe.accepts(middle, k):
            high = middle
        else:
            low = middle + 1
    smallest = low
    larger = [probe.accepts(size, k) for size in LARGER_SIZES]
    if all(larger):
        largest = None
    elif not any(larger):
        largest = NATIVE_SIZE  # one range that holds NATIVE_SIZE but not the next size
    else:
        raise RuntimeError(f"{label} accepts some sizes above {NATIVE_SIZE} px and not others")
    inside = {smallest, (smallest + NATIVE_SIZE) // 2, NATIVE_SIZE}
    if smallest > 1 and probe.accepts(smallest - 1, k) or not all(probe.accepts(s, k) for s in inside):
        raise RuntimeError(f"{label}: the sizes it accepts are not one range")
    return smallest, largest


def arch_facts(arch: str) -> dict:
    """The table's entry of one torchvision arch."""
    from torchvision.models import get_model_weights

    model = meta_model(arch)
    blocks = feature_blocks(model)
    entry: dict = {"blocks": None if blocks is None else len(blocks)}
    if blocks is None:
        smallest, largest = input_sizes(_Probe([model]), 1, arch)
        entry["input"] = {"min": smallest, "max": largest}
    else:
        # The smallest input of the first k blocks, for every k keep_blocks may ask.
        probe = _Probe(blocks)
        mins = []
        for k in range(1, len(blocks) + 1):
            smallest, largest = input_sizes(probe, k, f"{arch}'s first {k} blocks")
            if largest is not None:
                raise RuntimeError(f"{arch}'s first {k} blocks accept at most {largest} px")
            mins.append(smallest)
        entry["input"] = {"min": mins[-1], "max": None}
        entry["block_min_sizes"] = mins
    enum = get_model_weights(arch)
    entry["weights_enum"] = enum.__name__
    entry["default_weights"] = enum.DEFAULT.name
    entry["weights"] = {}
    for member in enum:
        file = os.path.basename(member.url)
        entry["weights"][member.name] = {
            "file": file,
            "url": member.url,
            "sha256_prefix": _sha256_prefix(file),
            "min_size": int(member.meta.get("min_size", (1, 1))[0]),
        }
    return entry


def build_table() -> dict:
    """Every classification model of the installed torchvision, by name."""
    from torchvision import models as tvm

    archs = sorted(tvm.list_models(module=tvm))
    return {
        "torchvision": metadata.version("torchvision"),
        "written_by": "make arch-table (python -m cnncompare.train.arch_table)",
        "archs": {arch: arch_facts(arch) for arch in archs},
    }


def table_text(table: dict) -> str:
    return json.dumps(table, indent=1, sort_keys=True) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=TABLE_PATH, help=f"where to write it (default {TABLE_PATH})")
    args = parser.parse_args(argv)
    text = table_text(build_table())
    args.out.write_text(text)
    print(f"wrote {args.out} ({len(json.loads(text)['archs'])} archs)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
