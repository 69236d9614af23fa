"""CUDA figures in one short run: 512 px x 500 iterations (goal < 5 s on an H100/H200-class GPU), a
2048 px balanced run, peak GPU memory, and the CPU/GPU pixel difference at 128 px.

Without a GPU it runs its CPU fallback (64 px x 5 iterations, a 128 px draft, the pixel difference
at 128 px as fp32 against the auto precision) so CI keeps it working. ``benchmarks/gpu.sh`` runs it.
"""

from __future__ import annotations

import argparse

from common import IMAGES, machine, stopwatch


def _inputs():
    from painterly.images import demo_content, load_image

    content = IMAGES / "tubingen.jpg"
    content = content if content.is_file() else demo_content()
    return load_image(str(content), "content image"), [load_image("starry_night", "style image")]


def stylize(device: str, size: int, precision: str = "auto", **options):
    """One run through the public engine; (result, seconds)."""
    from painterly.engine import Stylizer
    from painterly.settings import Settings

    content, styles = _inputs()
    settings = Settings(styles=("starry_night",), size=size, device=device, precision=precision, **options)
    with stopwatch() as sw:
        result = Stylizer(settings).run(content, styles)
    return result, sw.seconds


def main() -> None:
    import torch

    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--cpu", action="store_true", help="the CPU fallback even where CUDA is available")
    args = ap.parse_args()
    cuda = torch.cuda.is_available() and not args.cpu
    device = "cuda" if cuda else "cpu"
    why = "--cpu" if torch.cuda.is_available() else "no CUDA GPU"
    name = torch.cuda.get_device_name() if cuda else f"CPU fallback ({why})"
    print(machine())
    print(f"device: {device}: {name}")
    fixed, big, diff = (512, 500), 2048, 128
    if not cuda:  # the CPU fallback: tiny sizes, the same pixel check
        fixed, big = (64, 5), 128
    stylize(device, 64, scales=1, iterations=2)  # network loaded, kernels chosen: not timed
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    result, seconds = stylize(device, fixed[0], scales=1, iterations=fixed[1])
    print(f"{fixed[0]} px x {fixed[1]} iterations: {seconds:.2f} s ({result.precision})"
          + (" (goal < 5 s on an H100/H200)" if cuda else ""))  # fmt: skip
    quality = "balanced" if cuda else "draft"
    result, seconds = stylize(device, big, quality=quality)
    print(f"{big} px {quality}: {seconds:.2f} s, {result.iterations} iterations ({result.precision})")
    peak = torch.cuda.max_memory_allocated() / 2**30 if cuda else float("nan")
    print(f"peak GPU memory: {peak:.2f} GiB" if cuda else "peak GPU memory: n/a (no GPU)")
    small = {"scales": 1, "iterations": 20}
    reference, _ = stylize("cpu", diff, "fp32", **small)
    other, _ = stylize(device, diff, "auto", **small)
    what = "cpu fp32 vs cuda auto" if cuda else f"cpu fp32 vs cpu auto ({other.precision}; no GPU)"
    delta = (reference.tensor - other.tensor).abs().mean().item()
    print(f"pixel difference at {diff} px ({what}): mean abs {delta:.5f}")


if __name__ == "__main__":
    main()
