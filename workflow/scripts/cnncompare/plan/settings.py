"""Which keys of a model block take effect.

A completed block holds every key of the schema, defaults included, but not
every key matters for every model: momentum means nothing to Adam, a weights
name nothing without pretrained weights, the top-level dropout nothing to a
torchvision arch (its head has its own). This module is the one place that
knows which; the plan warns about keys a user wrote that do nothing, and the
report shows each run's settings without them.

Importable without torch: the Snakefile uses it at plan time.
"""

from __future__ import annotations

from cnncompare.plan.archs import CUSTOM_ARCHS

# Keys that only torchvision archs read (custom_cnn is refused with them set).
_TORCHVISION_ONLY = ("pretrained", "weights", "keep_blocks", "freeze", "lr_base", "head")


def unused_settings(block: dict) -> dict[str, str]:
    """{key: why it has no effect} for the keys of a completed model block
    that the model's training ignores."""
    unused = {}
    custom = block.get("arch") in CUSTOM_ARCHS
    if custom:
        for key in _TORCHVISION_ONLY:
            if key in block:
                unused[key] = f"{block['arch']} reads no {key} (torchvision archs only)"
    else:
        if "dropout" in block:
            unused["dropout"] = "torchvision archs use head.dropout; dropout is for custom_cnn"
        if not block.get("pretrained") and "weights" in block:
            unused["weights"] = "pretrained is false: the model starts from random weights"
    optimizer = block.get("optimizer", "sgd")
    if optimizer != "sgd":
        for key in ("momentum", "nesterov"):
            if key in block:
                unused[key] = f"{optimizer} has no {key} (sgd only)"
    elif block.get("momentum") == 0 and "nesterov" in block:
        unused["nesterov"] = "momentum is 0, so there is no Nesterov step"
    if block.get("schedule") in ("step", "constant") and "warmup_epochs" in block:
        unused["warmup_epochs"] = f"schedule {block['schedule']} has no warm-up (onecycle and cosine only)"
    return unused


def effective_settings(block: dict) -> dict:
    """The block without the keys that took no effect."""
    unused = unused_settings(block)
    return {key: value for key, value in block.items() if key not in unused}
