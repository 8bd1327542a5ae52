#!/usr/bin/env bash
# The whole study on one GPU machine with nothing prepared, in under 10 minutes,
# one table at the end (bench/gpu_study.py says what it runs). With --dry-run, on
# any machine: plans every step and prints what it would run.
#   bench/gpu_study.sh [--dry-run] [--work DIR] [--epochs 1] [--runs-per-gpu 1,2,4]
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-.venv/bin/python}"
exec "$PYTHON" bench/gpu_study.py "$@"
