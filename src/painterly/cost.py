"""What a run costs on this machine: seconds per evaluation against the pixels it optimises.

One evaluation (forward, Gram or statistics, backward) costs a fixed part (kernel launches, Python,
small layers) plus a part proportional to its pixels; a tiled scale evaluates tile by tile. Each scale
(and tile) also pays once for its set-up: its targets and a first pass that builds the kernels for its
size (measured: several evaluations' worth, so a long schedule costs less per evaluation than a
draft). A ``Rate`` holds a fixed and a per-megapixel part, fitted to samples (pixels, seconds) that
this machine produced, one for evaluations and one for set-ups: a few seconds of calibration on first
use (``Stylizer.calibrate``), then every finished run's scales, the newest weighing most; a run's own
fixed seconds (palette start, exit) are kept beside them. The engine's plan turns a rate into an estimate
(``Stylizer.estimate``); nothing else works out scales or tiles to guess a duration.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import platform
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from .files import write_text_atomic

SPEED_FILE = "speed.json"
FORMAT = 2  # samples per machine key; format 1 (one figure per device) is read as nothing
KEEP = 48  # samples kept per machine: recent runs speak for the machine as it is now
# Scales smaller than this say more about Python than about the machine's arithmetic: not kept.
MIN_PIXELS = 32_000
# Seconds per megapixel to write the output PNG (Pillow, compression level 1: 0.83 s for a painted
# 4096x3072 on the 2-core EPYC) and to turn the start into the style's palette; small beside painting.
WRITE_PER_MPX = 0.07
# Seconds a budgeted run keeps for after its last evaluation besides the PNG: scoring the best image,
# the record, and a command's exit (torch's teardown alone took ~0.5 s here). Measured: a 10 s budget
# at 128 px ended 11.2 s after the command started without it.
FINISH_SECONDS = 1.0
# Conservative priors where neither calibration nor runs exist yet (an estimate must not promise less).
PRIOR = {"cpu": (0.05, 9.0), "cuda": (0.01, 0.15)}
# A run's own fixed seconds besides its scales (network, palette start, exit), until this machine's
# runs have measured theirs; a scale's set-up before any is measured: so many evaluations' worth.
PRIOR_OVERHEAD = 1.5
PRIOR_SETUP_EVALUATIONS = 2.0


# Per pixel, an evaluation slows as the image or tile grows (its activations leave the caches): on the
# 2-core EPYC (bf16, ``benchmarks/tiles.py --sides``) 1.93 s/Mpx in square tiles of 256 px, 2.12 at 512,
# 2.45 at 1152, 2.74 at 1408: about 1 + side / 2500 relative. A rate fitted at 256 and 512 px without it
# promised a 2048 px draft in 60 % of its time. Unmeasured on CUDA: assumed flat there.
SIDE_SLOWDOWN = {"cpu": 2500.0}


def megapixels(pixels: float, device: str = "cpu") -> float:
    """``pixels`` as the megapixels an evaluation's size-dependent part costs (its side's slowdown)."""
    slowdown = SIDE_SLOWDOWN.get(device)
    return pixels / 1e6 * (1.0 + math.sqrt(pixels) / slowdown if slowdown else 1.0)


@dataclass(frozen=True)
class Rate:
    fixed: float  # seconds per evaluation whatever its size
    per_mpx: float  # seconds per evaluation per megapixel (as ``megapixels`` weighs them)
    device: str = "cpu"

    def evaluation(self, pixels: float) -> float:
        return self.fixed + self.per_mpx * megapixels(pixels, self.device)


def machine_key(device: str, precision: str, threads: int) -> str:
    """What a rate belongs to: the device kind, precision, threads and the processor's model."""
    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            model = next(
                (line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), model
            )
    except OSError:
        pass
    digest = hashlib.sha256(model.encode()).hexdigest()[:8]
    return f"{device}-{precision}-{threads}t-{digest}"


def fit(samples: list[list[float]], device: str = "cpu") -> Rate | None:
    """Least squares of seconds on (weighed) megapixels, newer samples weighing more; None without
    samples."""
    if not samples:
        return None
    weights = [0.85 ** (len(samples) - 1 - i) for i in range(len(samples))]
    xs, ys = [megapixels(p, device) for p, _ in samples], [s for _, s in samples]
    total = sum(weights)
    mx = sum(w * x for w, x in zip(weights, xs, strict=True)) / total
    my = sum(w * y for w, y in zip(weights, ys, strict=True)) / total
    var = sum(w * (x - mx) ** 2 for w, x in zip(weights, xs, strict=True))
    if var < 1e-6 * total:  # one size only: proportional through a small fixed part
        return Rate(0.0, my / mx, device) if mx > 0 else None
    slope = sum(w * (x - mx) * (y - my) for w, x, y in zip(weights, xs, ys, strict=True)) / var
    slope = max(slope, 1e-6)
    return Rate(max(0.0, my - slope * mx), slope, device)


def _path() -> Path:
    import platformdirs

    return Path(platformdirs.user_cache_dir("painterly")) / SPEED_FILE


def _read() -> dict:
    try:
        data = json.loads(_path().read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) and data.get("format") == FORMAT else {}


def samples(key: str, kind: str = "machines") -> list[list[float]]:
    """The samples kept for ``key``: evaluations ("machines"), or "setups"."""
    found = _read().get(kind, {}).get(key, [])
    return [
        s
        for s in found
        if isinstance(s, list)
        and len(s) == 2
        and all(isinstance(v, int | float) for v in s)
        and s[0] >= MIN_PIXELS
    ]


def spans(found: list[list[float]]) -> bool:
    """Whether samples cover sizes far enough apart (3x the pixels) to fit both parts of a rate."""
    sizes = [p for p, _ in found]
    return bool(sizes) and max(sizes) >= 3 * min(sizes)


def overhead(key: str) -> float:
    """This machine's fixed seconds per run (the mean of its recent runs'), else a prior."""
    found = [v for v in _read().get("overheads", {}).get(key, []) if isinstance(v, int | float)]
    return sum(found) / len(found) if found else PRIOR_OVERHEAD


def rate(key: str, device: str = "cpu") -> Rate | None:
    """This machine's rate from its remembered samples, or None (calibrate first)."""
    return fit(samples(key), device)


def rates(key: str, device: str) -> tuple[Rate, Rate]:
    """Seconds per evaluation and per set-up here, from remembered samples or cautious priors."""
    evaluation = rate(key, device) or Rate(*PRIOR.get(device, PRIOR["cpu"]), device)
    setup = fit(samples(key, "setups"), device) or Rate(
        PRIOR_SETUP_EVALUATIONS * evaluation.fixed, PRIOR_SETUP_EVALUATIONS * evaluation.per_mpx, device
    )
    return evaluation, setup


def remember(
    key: str, new: list[list[float]], *, setups: list[list[float]] = (), run_overhead: float | None = None
) -> None:
    """Add samples (pixels, seconds per evaluation; pixels, seconds per set-up) and a run's fixed
    seconds for ``key``; estimates are a courtesy, so a cache folder that cannot be written is not an
    error."""
    data = _read() or {"format": FORMAT, "machines": {}}
    for kind, found in (("machines", new), ("setups", setups)):
        kept = data.setdefault(kind, {}).get(key, [])
        fresh = [[round(p), round(s, 5)] for p, s in found if p >= MIN_PIXELS]
        data[kind][key] = (kept + fresh)[-KEEP:]
    if run_overhead is not None:
        runs = data.setdefault("overheads", {}).get(key, [])
        data["overheads"][key] = (runs + [round(max(0.0, run_overhead), 3)])[-16:]
    try:
        path = _path()
        path.parent.mkdir(parents=True, exist_ok=True)
        write_text_atomic(path, json.dumps(data))
    except OSError:
        pass


def accounted(timings: Sequence[Sequence[float]], evaluation: Rate, setup: Rate) -> float:
    """Seconds of a run's scales that its samples speak for: measured where a scale is kept as a
    sample, priced (as an estimate prices it) where it is too small to keep. What a run took beyond
    them is its fixed part: a first scale's one-off costs (kernels built for the first time: 0.8 s of
    a 2.7 s run at 256 px) were counted as painting and left out of both, so such runs ended 20 %
    after their estimate."""
    return sum(
        seconds * evaluations + per_tile * tiles
        if pixels >= MIN_PIXELS
        else evaluations * evaluation.evaluation(pixels) + tiles * setup.evaluation(pixels)
        for pixels, seconds, evaluations, per_tile, tiles in timings
    )


def process_age() -> float:
    """Seconds since this process started (interpreter and imports included), 0 where unknown: a
    budget given on the command line counts from the command, not from the first evaluation."""
    try:
        with open(f"/proc/{os.getpid()}/stat") as f:
            started = int(f.read().rsplit(")", 1)[1].split()[19]) / os.sysconf("SC_CLK_TCK")
        with open("/proc/uptime") as f:
            return max(0.0, float(f.read().split()[0]) - started)
    except (OSError, ValueError, IndexError):
        return 0.0
