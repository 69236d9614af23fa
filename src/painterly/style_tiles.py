"""A style image too large for one forward pass: its statistics summed over tiles (Gram and mean/std
statistics are averages over positions); the sliced-Wasserstein loss needs every position at once.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch

from .errors import PainterlyError
from .hardware import bytes_per_pixel
from .layers import LAYERS
from .tiles import FORWARD_FRACTION, MIN_TILE, OVERLAP


def check_style(width: int, height: int, precision: str, room: float, style_loss: str) -> bool:
    """Whether a style image of this size needs tiled statistics; raise if it cannot have them."""
    if width * height * bytes_per_pixel(precision) * FORWARD_FRACTION <= room:
        return False
    if style_loss == "sliced-wasserstein":
        raise PainterlyError(
            f"a {width}x{height} style image does not fit in memory with the sliced-wasserstein loss "
            "(it needs every position at once); use --style-loss gram or a smaller --style-scale"
        )
    return True


# The largest tile a style image's statistics are summed over. Sized to the whole room (5 GiB beside
# a 4096 px canvas), one forward pass of a 2400 px tile put the first tile of each tiled scale 2.4 GiB
# above every other (peak RSS 6.09 GiB under --memory-budget 6, the tiles 3.7): the process has grown
# since the room was measured. At 1536 px the statistics of an 8192 px style image still added 2.5 GB
# above the run's footprint (an 8192 px draft peaked at 8.9 GB under --memory-budget 6); at 1280 px
# 1.0 GB, at 1024 px 0.6 GB, taking 54 / 58 / 64 s (2-core EPYC, bf16).
STYLE_TILE = 1280


def style_tile_side(precision: str, room: float) -> int:
    """Side of the tiles a style image's statistics are summed over (forward passes only)."""
    fits = math.isqrt(int(room / (bytes_per_pixel(precision) * FORWARD_FRACTION)))
    return max(MIN_TILE + 2 * OVERLAP, min(STYLE_TILE, fits))


def _stride(layer: str) -> int:
    return 2 ** sum(1 for name in LAYERS[: LAYERS.index(layer) + 1] if name.startswith("pool"))


@torch.no_grad()
def style_statistics(
    features: Callable[[torch.Tensor, set[str]], dict[str, torch.Tensor]],
    image: torch.Tensor,
    layers: Sequence[str],
    statistics: Callable[[torch.Tensor, None], tuple],
    side: int,
) -> dict[str, tuple]:
    """Per-layer Gram or mean/std statistics of ``image`` ((1, 3, H, W) in [0, 1], or uint8 0-255:
    an 8192 px style image as floats took 600 MB), accumulated over tiles of ``side`` px.

    Each tile runs with a margin of OVERLAP px (the features near a crop's edge see zero padding) and
    contributes only its interior, aligned to the deepest layer's stride; the position-weighted mean
    of per-tile statistics is the whole image's (Gram: exactly; mean/std via the second moment).
    """
    stride = max(_stride(layer) for layer in layers)
    height, width = image.shape[-2:]
    step = max(stride, (side - 2 * OVERLAP) // stride * stride)
    sums: dict[str, list] = {}
    total: dict[str, float] = {}
    for top in range(0, height, step):
        for left in range(0, width, step):
            t0, l0 = max(0, top - OVERLAP), max(0, left - OVERLAP)
            crop = image[..., t0 : min(height, top + step + OVERLAP), l0 : min(width, left + step + OVERLAP)]
            if not crop.is_floating_point():
                crop = crop.float().div_(255.0)
            feats = features(crop, set(layers))
            for layer in layers:
                s = _stride(layer)
                f = feats[layer][
                    ..., (top - t0) // s : (top - t0 + step) // s, (left - l0) // s : (left - l0 + step) // s
                ]
                f = f.float()
                n = f.shape[-1] * f.shape[-2]
                if n == 0:
                    continue
                stats = statistics(f, None)
                parts = [stats[0] * n] + ([(stats[1] ** 2 + stats[0] ** 2) * n] if len(stats) == 3 else [])
                acc = sums.setdefault(layer, [torch.zeros_like(p) for p in parts])
                for a, p in zip(acc, parts, strict=True):
                    a.add_(p)
                total[layer] = total.get(layer, 0.0) + n
    out = {}
    for layer in layers:
        parts = [a / total[layer] for a in sums[layer]]
        if len(parts) == 1:  # Gram
            out[layer] = (parts[0], parts[0].pow(2).sum())
        else:  # mean, std from the second moment
            mean = parts[0]
            std = (parts[1] - mean**2).clamp_min(0).sqrt()
            out[layer] = (mean, std, mean.pow(2).mean() + std.pow(2).mean())
    return out
