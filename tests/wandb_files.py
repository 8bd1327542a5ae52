"""Reads back what W&B wrote of an offline run (run-<id>.wandb), for the tests.

wandb 0.31 writes no files/config.yaml or wandb-summary.json offline: all of
an offline run is in its transaction log, which `wandb sync` uploads later.
The log is LevelDB's log format behind a 7-byte header (":W&B", a magic
number, a version): 32 KiB blocks of chunks, each a 7-byte header (CRC,
length, type) and a piece of one serialized wandb Record (protobuf).
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

BLOCK = 32 * 1024
CHUNK_HEADER = 7
FULL, FIRST, MIDDLE, LAST = 1, 2, 3, 4


def records(path) -> list[bytes]:
    data = Path(path).read_bytes()
    assert data[:4] == b":W&B", f"{path}: not a W&B transaction log"
    found, pending, pos = [], b"", 7
    while pos + CHUNK_HEADER <= len(data):
        left = BLOCK - pos % BLOCK
        if left < CHUNK_HEADER:  # the block's tail is padding
            pos += left
            continue
        _crc, length, kind = struct.unpack("<IHB", data[pos:pos + CHUNK_HEADER])
        piece = data[pos + CHUNK_HEADER:pos + CHUNK_HEADER + length]
        pos += CHUNK_HEADER + length
        if kind == 0 and length == 0:  # zero padding
            continue
        pending = piece if kind in (FULL, FIRST) else pending + piece
        if kind in (FULL, LAST):
            found.append(pending)
    return found


def read_offline_run(folder) -> dict:
    """{'run_id', 'name', 'project', 'tags', 'group', 'config', 'summary', 'history'} of an offline run folder."""
    from wandb.proto import wandb_internal_pb2

    (log,) = Path(folder).glob("run-*.wandb")
    run = {"config": {}, "summary": {}, "history": []}

    def items(update):
        return {(item.key or "/".join(item.nested_key)): json.loads(item.value_json) for item in update}

    for raw in records(log):
        record = wandb_internal_pb2.Record()
        record.ParseFromString(raw)
        kind = record.WhichOneof("record_type")
        if kind == "run":
            run.update(run_id=record.run.run_id, name=record.run.display_name, project=record.run.project,
                       tags=list(record.run.tags), group=record.run.run_group)
            run["config"].update(items(record.run.config.update))
        elif kind == "config":
            run["config"].update(items(record.config.update))
        elif kind == "summary":
            run["summary"].update(items(record.summary.update))
        elif kind == "history":
            run["history"].append(items(record.history.item))
    run["config"].pop("_wandb", None)
    return run
