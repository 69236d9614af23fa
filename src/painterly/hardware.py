"""Where a run executes and what it can afford: device, precision and the memory check before a run."""

from __future__ import annotations

import ctypes
import functools
import os
import sys
from collections.abc import Callable

import torch

from .errors import PainterlyError


def resolve_device(name: str) -> torch.device:
    if name == "cuda" or (name == "auto" and torch.cuda.is_available()):
        if not torch.cuda.is_available():
            raise PainterlyError("device cuda was asked for but no CUDA GPU is available; use --device cpu")
        return torch.device("cuda")
    return torch.device("cpu")


def configure(device: torch.device) -> None:
    """Set torch's process-wide switches for fast, faithful runs on ``device``."""
    if device.type == "cpu":
        # Shallow layers' gradients underflow into denormals, which x86 computes ~20x slower:
        # relu1_x's threshold backward took 50 ms of a 0.5 s iteration at 512 px, 4 ms flushed.
        torch.set_flush_denormal(True)
        keep_freed_memory()  # activations reused, not page-faulted anew every evaluation
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
        # cuDNN's own pick, not its benchmark: each scale (and tile) is a new shape, and timing every
        # algorithm for each cost 1-4 s per scale and, in fp32, 32 GiB of workspace at 512 px (H200,
        # benchmarks/gpu.py: 2048 px draft 16.9 s -> 1.6 s, 512 px x 500 10.0 s -> 4.8 s).
        torch.backends.cudnn.benchmark = False
        # bf16 Gram products sum over every pixel: keep cuBLAS's split-K partial sums in float32.
        torch.backends.cuda.matmul.allow_bf16_reduced_precision_reduction = False


@functools.cache
def cpu_has_fast_bf16() -> bool:
    """bf16 only pays on CPUs with native bf16 dot products; on AVX2 it is ~10x slower than fp32."""
    try:
        with open("/proc/cpuinfo") as f:
            flags = next((line for line in f if line.startswith("flags")), "")
    except OSError:
        return False
    return any(flag in flags.split() for flag in ("avx512_bf16", "amx_bf16"))


# Forces the precision of every run in the process, whatever its settings say: CI runs the
# numerics-sensitive tests once more under fp32 on bf16 machines, so a test cannot pass on one only.
PRECISION_ENV = "PAINTERLY_PRECISION"


def resolve_precision(name: str, device: torch.device) -> str:
    forced = os.environ.get(PRECISION_ENV, "").strip().lower()
    if forced:
        if forced not in ("auto", "fp32", "bf16"):
            raise PainterlyError(f"{PRECISION_ENV}={forced!r}: expected auto, fp32 or bf16")
        name = forced
    if name != "auto":
        return name
    if device.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp32"
    return "bf16" if cpu_has_fast_bf16() else "fp32"


def bytes_per_pixel(precision: str) -> float:
    """Peak memory per output pixel for one iteration (activations kept for backward, to relu5_1).

    Measured (peak RSS of two single-scale CLI runs, per extra pixel): fp32 ~2600 B; bf16 autocast on
    CPU 2030 B (600 vs 1200 px), as it keeps bf16 copies beside the fp32 activations, but ~2450 B
    in a tiled 1200 px draft (peak RSS per tile pixel, less the L-BFGS history): the larger counts.
    The CPU figures stand in for CUDA, unmeasured here.
    """
    return 2600.0 if precision == "fp32" else 2450.0


def available_memory(device: torch.device) -> int:
    if device.type == "cuda":
        return torch.cuda.mem_get_info(device)[0]
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 1 << 62


# L-BFGS's memory (pairs kept): 50 steps is past the point where more history stops paying. Where
# the host, not the device, is the limit (a small image on a GPU: ``graphs.host_bound``) every pair
# costs two reads of a result back per step while the GPU idles (torch's two-loop recursion): graphed
# 512 px x 500 on an H200 took 3.56-4.42 s with 50 pairs, 2.81-2.92 s with 20, 2.26-2.34 s with 10
# (two runs each), the objective 0.5618, 0.5600 and 0.5631. ``LBFGS_HISTORY`` bounds memory plans.
LBFGS_HISTORY = 50
LBFGS_HISTORY_HOST_BOUND = 10


def optimizer_bytes_per_pixel(iterations: int) -> float:
    """L-BFGS keeps a (step, gradient change) pair of float32 images per iteration up to its history:
    24 B/px each, 1.2 KB/px when full, on top of ``bytes_per_pixel`` (measured over 3 iterations)."""
    return 24.0 * max(0, min(iterations, LBFGS_HISTORY) - 3)


def memory_in_use(device: torch.device) -> int:
    """Bytes this process already holds on ``device``: libraries, the network, the images.

    CUDA: what PyTorch's allocator holds (the CUDA context, a few hundred MB, comes on top). CPU:
    the resident set from /proc (Linux); 0 elsewhere, where a budget then covers the run only."""
    if device.type == "cuda":
        return torch.cuda.memory_reserved(device)
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError):
        return 0


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    """glibc's ``malloc_trim`` (Linux), else None: musl, macOS and Windows have none to call."""
    if not sys.platform.startswith("linux"):
        return None
    trim = getattr(ctypes.CDLL(None), "malloc_trim", None)
    if trim is not None:
        trim.argtypes, trim.restype = [ctypes.c_size_t], ctypes.c_int
    return trim


@functools.cache
def _mallopt() -> Callable[[int, int], int] | None:
    if not sys.platform.startswith("linux"):
        return None
    mallopt = getattr(ctypes.CDLL(None), "mallopt", None)
    if mallopt is not None:
        mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return mallopt


M_TRIM_THRESHOLD, M_MMAP_MAX = -1, -4  # glibc's mallopt parameters


@functools.cache
def keep_freed_memory() -> None:
    """Let glibc reuse the memory of one evaluation's activations in the next (once per process).

    Each activation is far above glibc's mmap threshold (32 MB at most), so by default every one is
    a fresh mmap that the kernel zero-fills page by page and every free unmaps it: ~3.5 M page faults
    in a few evaluations of 640 and 1152 px tiles, 27 % of a 1152 px evaluation (3.26 s -> 2.36 s,
    bf16, 2-core EPYC; ``benchmarks/tiles.py --sides``). From the heap instead, freed activations stay
    mapped for the next evaluation; ``release_memory`` hands them back between tiles and scales, so the
    peak is the same. Threads' arenas still fall back to mmap for what their heaps cannot hold."""
    mallopt = _mallopt()
    if mallopt is not None:
        mallopt(M_TRIM_THRESHOLD, 2**31 - 1)
        mallopt(M_MMAP_MAX, 0)


def release_memory(device: torch.device) -> None:
    """Hand freed memory back between tiles, so one tile's peak does not sit on top of the last's.

    glibc keeps freed activations in its heaps (measured: RSS crept up ~5 % per tile at 1200 px);
    ``malloc_trim`` returns them. CUDA: the caching allocator's free blocks."""
    if device.type == "cuda":
        torch.cuda.empty_cache()
    elif (trim := _malloc_trim()) is not None:
        trim(0)
