"""Resumable training: one checkpoint per run, written atomically after every
epoch, outside the rule's declared outputs (Snakemake deletes those when a job
fails, and a killed job is exactly when the checkpoint is needed).

A checkpoint holds everything the next epoch depends on: model, optimizer and
scheduler states, every random generator, the history so far and the best
weights kept. It is used only when its fingerprint (the settings, the seed and
the identity of the input files) matches the run about to start, so a changed
config or re-prepared data never resumes from a stale state.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import random
from pathlib import Path

import numpy as np
import torch

from cnncompare.fileio import atomic_path, remove_leftovers


def save_torch(obj, path) -> None:
    """torch.save(obj) to `path` atomically. Written through a Python file
    object, so a full disk raises OSError (ENOSPC), which atomic_path turns
    into "no space left on <file system>"; by path, torch says only "unexpected pos"."""
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            torch.save(obj, fh)


log = logging.getLogger(__name__)

FORMAT = 1


def fingerprint(block: dict, seed: int, inputs: list) -> str:
    """What a checkpoint must match: settings, seed, and each input file's size and mtime."""
    files = []
    for path in inputs:
        if path is not None:
            stat = os.stat(path)
            files.append([os.path.abspath(path), stat.st_size, stat.st_mtime_ns])
    text = json.dumps({"block": block, "seed": seed, "inputs": files}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


def rng_state(generator: torch.Generator) -> dict:
    """Every generator training draws from, as plain values torch.load(weights_only=True) accepts."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    return {
        "python": random.getstate(),
        "numpy": [kind, keys.tolist(), pos, has_gauss, cached],
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "generator": generator.get_state(),
    }


def restore_rng(state: dict, generator: torch.Generator) -> None:
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    kind, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((kind, np.array(keys, dtype=np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    generator.set_state(state["generator"])


def save(path, *, fingerprint: str, epoch: int, model, optimizer, scheduler, generator, progress: dict) -> None:
    """Write the state after `epoch` atomically: a kill mid-write, or a full
    disk, keeps the previous one (the latter fails naming the file system)."""
    state = {
        "format": FORMAT,
        "fingerprint": fingerprint,
        "epoch": epoch,
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "rng": rng_state(generator),
        "progress": progress,
    }
    save_torch(state, path)


def load(path, fingerprint: str, device) -> dict | None:
    """The checkpoint at `path` if it belongs to this run, else None (a stale one is removed).

    The temporary file of a save that was killed mid-write is removed too: the
    previous checkpoint, still in place, is the one resumed.
    """
    path = Path(path)
    for leftover in remove_leftovers(path):
        log.info("removed %s, left by a checkpoint write that was interrupted", leftover)
    if not path.is_file():
        return None
    try:
        state = torch.load(path, map_location=device, weights_only=True)
    except Exception as exc:  # a torn or foreign file: start over rather than fail the run
        log.warning("ignoring unreadable checkpoint %s (%s); training from the start", path, exc)
        path.unlink()
        return None
    if state.get("format") != FORMAT or state.get("fingerprint") != fingerprint:
        log.warning("ignoring checkpoint %s: written for other settings or inputs; training from the start", path)
        path.unlink()
        return None
    return state


def remove(path, up_to=None) -> None:
    """Delete the checkpoint, then each folder above it that is left empty, up
    to and including `up_to`. A folder another run still uses holds its
    checkpoint, so rmdir leaves it (and a run whose folder vanishes between its
    mkdir and its write makes it again: see fileio.atomic_path)."""
    path = Path(path)
    path.unlink(missing_ok=True)
    if up_to is None:
        return
    up_to = Path(up_to).absolute()
    folder = path.absolute().parent
    while folder == up_to or up_to in folder.parents:
        try:
            folder.rmdir()
        except OSError:  # not empty (or already gone): leave it and everything above
            return
        folder = folder.parent
