"""A print keeps the layout of its 512 px run: after each finer scale, the canvas's coarse
frequencies are set back to that run's image, so the finer scales add strokes, not a new composition.

Without it the finer scales, each optimising its own tiles, drifted the picture: an 8192 px draft
downsampled to 512 px scored 1.442 on the objective at 512 px against the 512 px draft's 1.216.
Locking that finished print's frequencies below 362 px (one step under the 512 px scale) to the 512
px image, post hoc, scored 1.177 (below 256 px: 1.219; below 512 px: 1.202, and its full-size crops were soft
where the 512 px image's own strokes came back blurred). ``benchmarks/tiles.py`` measures a print's
look against the 512 px run's.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

# The lock holds what a 512 px image one sqrt(2) step smaller shows: the layout and colour the coarse
# scales settled, leaving the 512 px scale's finest strokes, and all finer ones, to the print.
LOCK_FRACTION = 2**-0.5
# Downsampling an upsampled correction loses a little of it: a second round brings the print's coarse
# frequencies within ~1 % of the layout's.
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
