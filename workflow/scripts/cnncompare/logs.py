"""Logging for rule scripts: every message goes to the rule's log file and to
stderr, and an uncaught error is written to the log before the job dies."""

from __future__ import annotations

import logging
import sys
from pathlib import Path


def setup_logging(log_path) -> None:
    Path(log_path).parent.mkdir(parents=True, exist_ok=True)
    fmt = logging.Formatter("%(asctime)s %(levelname)s %(message)s", "%Y-%m-%d %H:%M:%S")
    handlers = [logging.FileHandler(log_path, mode="w"), logging.StreamHandler(sys.stderr)]
    root = logging.getLogger()
    root.handlers.clear()
    for handler in handlers:
        handler.setFormatter(fmt)
        root.addHandler(handler)
    root.setLevel(logging.INFO)

    def log_uncaught(kind, value, tb):
        logging.getLogger("cnncompare").critical("failed: %s", value, exc_info=(kind, value, tb))

    sys.excepthook = log_uncaught
