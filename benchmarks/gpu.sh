#!/usr/bin/env bash
# CUDA benchmark in under 5 minutes on a GPU machine (CPU fallback without one, which CI runs):
# 512 px x 500 iterations, 2048 px balanced, peak GPU memory, CPU/GPU pixel difference at 128 px.
#   benchmarks/gpu.sh [--cpu]      (PYTHON=... picks the interpreter; default .venv/bin/python)
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-.venv/bin/python}"
[ -x "$PYTHON" ] || PYTHON=python3
exec "$PYTHON" benchmarks/gpu.py "$@"
