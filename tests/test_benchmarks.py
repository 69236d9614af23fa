"""The benchmarks CI can afford: benchmarks/gpu.sh's CPU fallback, so the GPU script cannot rot."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

GPU_SH = Path(__file__).resolve().parents[1] / "benchmarks" / "gpu.sh"


def test_gpu_script_cpu_fallback_prints_every_figure():
    env = dict(os.environ, PYTHON=sys.executable)
    res = subprocess.run([str(GPU_SH), "--cpu"], capture_output=True, text=True, env=env, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    out = res.stdout
    assert re.search(r"^device: cpu: CPU fallback \((no CUDA GPU|--cpu)\)$", out, re.M)
    assert re.search(r"^64 px x 5 iterations: [\d.]+ s \((fp32|bf16)\)", out, re.M), out
    assert re.search(r"^128 px draft: [\d.]+ s, \d+ iterations", out, re.M), out
    assert "peak GPU memory: n/a (no GPU)" in out
    diff = re.search(
        r"^pixel difference at 128 px \(cpu fp32 vs cpu auto .*\): mean abs ([\d.]+)$", out, re.M
    )
    assert diff and float(diff.group(1)) < 0.2, out
