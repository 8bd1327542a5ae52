"""What the workflow must know of torchvision's models before any job: the
weights files a pretrained model needs, and how many feature blocks an
architecture has (to check keep_blocks and freeze).

Asking torchvision costs an import of torch and torchvision, about 3 s on a
small machine, on every Snakemake invocation, a no-op re-run included. The
answers depend only on the installed torchvision, so they are kept in a small
JSON cache beside Snakemake's own metadata, keyed by torchvision's version:
the first invocation asks, later ones read.
"""

from __future__ import annotations

import json
from importlib import metadata
from pathlib import Path

from cnncompare.fileio import write_json


def torchvision_version() -> str:
    try:
        return metadata.version("torchvision")
    except metadata.PackageNotFoundError:
        return "none"


def check_block_counts(block: dict, n_blocks: int | None) -> None:
    """keep_blocks and freeze (by block count) against the blocks an arch has
    (None: no blocks, the model is used whole). Raises ValueError naming the limit."""
    arch, keep, freeze = block["arch"], block["keep_blocks"], block["freeze"]
    if n_blocks is None:
        if keep is not None or isinstance(freeze, int):
            raise ValueError(
                f"{arch} has no feature blocks to keep or freeze one by one; use keep_blocks: null "
                f"and freeze: none or base"
            )
        return
    if keep is not None and keep > n_blocks:
        raise ValueError(f"keep_blocks: {keep} asked, but {arch} has {n_blocks} feature blocks")
    kept = keep if keep is not None else n_blocks
    if isinstance(freeze, int) and freeze > kept:
        raise ValueError(f"freeze: {freeze} blocks asked, but {arch} keeps only {kept}")


class ArchFacts:
    """Cached answers of the installed torchvision, read from and written to `path`."""

    def __init__(self, path):
        self.path = Path(path)
        self.version = torchvision_version()
        self.facts = {"torchvision": self.version, "weights": {}, "blocks": {}}
        try:
            cached = json.loads(self.path.read_text())
        except (OSError, ValueError):
            cached = None
        if isinstance(cached, dict) and cached.get("torchvision") == self.version:
            self.facts.update(cached)
        self.changed = False

    def weights(self, arch: str, weights: str) -> tuple[str, str, str]:
        """(file name, URL, explicit name) as archs.weights_info gives; its ValueError passes through."""
        key = f"{arch}:{weights}"
        if key not in self.facts["weights"]:
            from cnncompare.archs import weights_info

            self.facts["weights"][key] = list(weights_info(arch, weights))
            self.changed = True
        return tuple(self.facts["weights"][key])

    def block_count(self, arch: str) -> int | None:
        """Number of feature blocks of `arch` (None when it has none)."""
        if arch not in self.facts["blocks"]:
            from cnncompare.models import count_feature_blocks

            self.facts["blocks"][arch] = count_feature_blocks(arch)
            self.changed = True
        return self.facts["blocks"][arch]

    def save(self) -> None:
        """Write what was learnt (nothing when every answer came from the cache)."""
        if self.changed:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            write_json(self.path, self.facts)
            self.changed = False
