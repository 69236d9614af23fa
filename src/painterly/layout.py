"""A print keeps the layout of its 512 px run: after each finer scale, the canvas's coarse
frequencies are set back to that run's image, so the finer scales add strokes, not a new composition.

Without it the finer scales, each optimising its own tiles, drifted the picture: downsampled to 512 px,
a 2048 px draft scored 1.471 on the objective at 512 px, kept after every finer scale 1.179 (after all
but the last 1.306; the lock at 430 px 1.175, at 512 px 1.202 and softer at full size). By
``benchmarks/tiles.py``, against its 512 px draft's 1.109: 4096 px 1.141, 8192 px 1.098; 4096 px
1.096 once the scales between 512 px and the final one had 4 iterations each (``schedule``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

# The lock holds what a 512 px image one sqrt(2) step smaller shows: the layout and colour the coarse
# scales settled, leaving the 512 px scale's finest strokes, and all finer ones, to the print.
LOCK_FRACTION = 2**-0.5
# Downsampling an upsampled correction loses a little of it: a second round takes in the rest (a
# 256 px print of a 128 px layout: 0.003 off it, mean of [0, 1], against 0.019 without the lock).
ROUNDS = 2


@torch.no_grad()
def keep(x: torch.Tensor, layout: torch.Tensor) -> torch.Tensor:
    """``x`` (1, 3, H, W in [0, 1]) with its frequencies below ``layout``'s (a smaller image of the same
    picture) one step down replaced by ``layout``'s; changed in place and returned."""
    h, w = layout.shape[-2:]
    size = (max(1, round(h * LOCK_FRACTION)), max(1, round(w * LOCK_FRACTION)))
    target = _down(layout.to(x.device, x.dtype), size)
    for _ in range(ROUNDS):
        correction = target - _down(x, size)
        x.add_(F.interpolate(correction, size=x.shape[-2:], mode="bicubic", align_corners=False))
    return x.clamp_(0, 1)


def _down(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    return F.interpolate(x, size=size, mode="bicubic", antialias=True, align_corners=False)
