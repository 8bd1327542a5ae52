"""Labels that say what ran: a description that claims pretrained weights the
run did not start from (or the other way round) is marked, and each run's
settings are shown without the keys that took no effect (settings.py)."""

from __future__ import annotations

import json
import re

from cnncompare.plan.settings import effective_settings, unused_settings

CLAIMS_PRETRAINED = re.compile(r"(imagenet|pre-?trained|transfer[- ]learn|fine-?tun)\w*", re.IGNORECASE)
CLAIMS_SCRATCH = re.compile(r"from scratch|random(ly)?[- ]init|random weights", re.IGNORECASE)
# A claim right after one of these is denied, not made ("not ImageNet's", "instead of pretrained").
DENIED = re.compile(r"\b(not|no|without|instead of|unlike|rather than)\s+(\S+\s+){0,2}$", re.IGNORECASE)


def _claim(pattern: re.Pattern, text: str) -> str | None:
    """The first match of `pattern` in `text` that no negation just before denies."""
    for match in pattern.finditer(text):
        if not DENIED.search(text[max(0, match.start() - 40):match.start()]):
            return match.group(0)
    return None


def pretrained(init: str | None) -> bool | None:
    """Whether a run started from pretrained weights, from metrics.json's `init` text; None when unknown."""
    if not init:
        return None
    return not str(init).startswith("random")


def description_mismatch(description: str, init: str | None) -> str | None:
    """Why a model's description misleads about how its runs started, or None."""
    started_pretrained = pretrained(init)
    if not description or started_pretrained is None:
        return None
    if not started_pretrained and (claim := _claim(CLAIMS_PRETRAINED, description)):
        return (f"The description speaks of pretrained weights (\u201c{claim}\u201d), but these runs "
                "started from random initialisation (pretrained: false).")
    if started_pretrained and (claim := _claim(CLAIMS_SCRATCH, description)):
        return f"The description says \u201c{claim}\u201d, but these runs started from {init}."
    return None


def settings_text(block: dict | None) -> tuple[str | None, list[str]]:
    """A run's resolved settings as JSON, without the keys that took no effect,
    and the keys left out with why."""
    if not block:
        return None, []
    unused = unused_settings(block)
    return (json.dumps(effective_settings(block), indent=2, sort_keys=True),
            [f"{key}: {why}" for key, why in sorted(unused.items())])
