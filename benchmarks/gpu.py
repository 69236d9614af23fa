"""CUDA figures in one short run: 512 px x 500 iterations (goal < 3 s on an H100/H200-class GPU;
beside it the same run without CUDA graphs),
2048 and 4096 px drafts (the engine's seconds with each scale's share, then the whole CLI command
against the estimate it prints), peak GPU memory of each, and the CPU/GPU pixel difference at 128 px.

Without a GPU it runs its CPU fallback (64 px x 5 iterations, a 128 px draft, the pixel difference
at 128 px as fp32 against the auto precision) so CI keeps it working. ``benchmarks/gpu.sh`` runs it;
``--out DIR`` keeps each draft downsampled to 1024 px and a full-size crop, to look at.
"""

from __future__ import annotations

import argparse
import contextlib
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

from common import IMAGES, machine, stopwatch

ESTIMATE = re.compile(r"estimated ([\d.]+) (s|min)")


def _content_path() -> str:
    from painterly.images import demo_content

    content = IMAGES / "tubingen.jpg"
    return str(content if content.is_file() else demo_content())


def _inputs():
    from painterly.images import load_image

    return load_image(_content_path(), "content image"), [load_image("starry_night", "style image")]


def stylize(device: str, size: int, precision: str = "auto", **options):
    """One run through the public engine; (result, seconds)."""
    from painterly.engine import Stylizer
    from painterly.settings import Settings

    content, styles = _inputs()
    settings = Settings(styles=("starry_night",), size=size, device=device, precision=precision, **options)
    with stopwatch() as sw:
        result = Stylizer(settings).run(content, styles)
    return result, sw.seconds


class Peak:
    """Peak GPU memory of the block: what tensors held, and what the allocator reserved (what
    nvidia-smi shows, less the CUDA context)."""

    def __init__(self, cuda: bool) -> None:
        self.cuda = cuda

    def __enter__(self) -> Peak:
        if self.cuda:
            import torch

            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats()
        return self

    def __exit__(self, *exc) -> None:
        if self.cuda:
            import torch

            self.allocated = torch.cuda.max_memory_allocated() / 2**30
            self.reserved = torch.cuda.max_memory_reserved() / 2**30

    def __str__(self) -> str:
        if not self.cuda:
            return "peak GPU memory: n/a (no GPU)"
        return f"peak GPU memory: {self.allocated:.2f} GiB allocated, {self.reserved:.2f} GiB reserved"


@contextlib.contextmanager
def eager() -> Iterator[None]:
    """No evaluation captured as a CUDA graph (``painterly.graphs``) inside the block."""
    from painterly import graphs

    saved, graphs.MIN_EVALUATIONS = graphs.MIN_EVALUATIONS, sys.maxsize
    try:
        yield
    finally:
        graphs.MIN_EVALUATIONS = saved


def draft(device: str, size: int, cuda: bool, out: Path | None) -> None:
    """One draft through the engine: seconds, iterations, each scale's share (tiles as run), peak memory."""
    with Peak(cuda) as peak:
        result, seconds = stylize(device, size, quality="draft")
    w, h = result.image.size
    print(f"{size} px draft: {seconds:.2f} s, {result.iterations} iterations ({result.precision}), "
          f"{w}x{h}")  # fmt: skip
    for pixels, per_eval, evals, setup, tiles in result.timings:
        print(f"  scale of {pixels / 1e6:.2f} Mpx: {evals} evaluations x {1000 * per_eval:.1f} ms, "
              f"set-up {setup:.2f} s, {tiles or 1} tile(s)")  # fmt: skip
    print(f"  {peak}" + (f"; {peak.allocated * 2**30 / (w * h):.0f} B per output pixel" if cuda else ""))
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        small = result.image.copy()
        small.thumbnail((1024, 1024))
        small.save(out / f"draft-{size}.jpg", quality=90)
        side = min(768, w, h)
        left, top = (w - side) // 2, (h - side) // 2
        result.image.crop((left, top, left + side, top + side)).save(out / f"draft-{size}-crop.png")


def command(device: str, size: int, out: Path) -> None:
    """The whole CLI command, start-up and PNG included, against the estimate it prints."""
    out.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "painterly.cli", _content_path(), "starry_night", "--size", str(size),
           "--quality", "draft", "--device", device, "-o", str(out / f"cli-{size}.png")]  # fmt: skip
    with stopwatch() as sw:
        proc = subprocess.run(cmd, capture_output=True, text=True)
    found = ESTIMATE.search(proc.stderr)
    if proc.returncode or not found:
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}): {proc.stderr[-1000:]}")
    estimate = float(found[1]) * (60 if found[2] == "min" else 1)
    print(f"{size} px draft, whole CLI command: {sw.seconds:.1f} s (it estimated {estimate:.1f} s)")


def main() -> None:
    import torch

    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--cpu", action="store_true", help="the CPU fallback even where CUDA is available")
    ap.add_argument("--out", type=Path, help="keep the drafts (downsampled, and a full-size crop) here")
    args = ap.parse_args()
    cuda = torch.cuda.is_available() and not args.cpu
    device = "cuda" if cuda else "cpu"
    why = "--cpu" if torch.cuda.is_available() else "no CUDA GPU"
    name = torch.cuda.get_device_name() if cuda else f"CPU fallback ({why})"
    print(machine())
    print(f"device: {device}: {name}")
    fixed, drafts, diff = (512, 500), (2048, 4096), 128
    if not cuda:  # the CPU fallback: tiny sizes, the same pixel check
        fixed, drafts = (64, 5), (128,)
    stylize(device, fixed[0], scales=1, iterations=2)  # network loaded, kernels chosen: not timed
    precisions = ("auto", "fp32") if cuda else ("auto",)
    for precision in precisions:
        with Peak(cuda) as peak:
            result, seconds = stylize(device, fixed[0], precision, scales=1, iterations=fixed[1])
        goal = " (goal < 3 s on an H100/H200)" if cuda else ""
        print(f"{fixed[0]} px x {fixed[1]} iterations: {seconds:.2f} s ({result.precision}){goal}, "
              f"objective {result.losses['total']:.4f}; {peak}")  # fmt: skip
        if cuda:  # the peer in the same run: every evaluation launched from the host
            with eager():
                result, seconds = stylize(device, fixed[0], precision, scales=1, iterations=fixed[1])
            print(f"  the same without CUDA graphs: {seconds:.2f} s, objective {result.losses['total']:.4f}")
    for size in drafts:
        draft(device, size, cuda, args.out)
    if cuda and args.out is not None:
        command(device, drafts[-1], args.out)
    small = {"scales": 1, "iterations": 20}
    reference, _ = stylize("cpu", diff, "fp32", **small)
    for precision in precisions:
        other, _ = stylize(device, diff, precision, **small)
        what = (
            f"cpu fp32 vs cuda {precision}" if cuda else f"cpu fp32 vs cpu auto ({other.precision}; no GPU)"
        )
        delta = (reference.tensor - other.tensor).abs().mean().item()
        print(f"pixel difference at {diff} px ({what}): mean abs {delta:.5f}")


if __name__ == "__main__":
    main()
