"""What a later frame is held to: the long-term temporal consistency of Ruder et al. 2016 (sec. 3.3),
several earlier stylised frames moved to frame t, merged into one target and mask.

Arrays are numpy as in ``flow``: images (H, W, 3), masks (H, W), float32.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def offsets(count: int) -> list[int]:
    """The earlier frames (t minus these) a frame is held to: 1, 2, 4, ... as Ruder et al. chose, so
    a few frames reach back far at the cost of a few flows."""
    return [2**k for k in range(count)]


def merged(warped: Sequence[np.ndarray], reliable: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """One target and mask from earlier frames moved to frame t, the closest first.

    An earlier frame counts only where no closer one is trusted (``max(c_j - sum of closer c, 0)``):
    a pixel follows the most recent paint that saw it, and paint hidden for a frame or two (behind a
    moving object) comes back as it was instead of being repainted. As ``sum c_j (x - w_j)^2`` is
    ``(sum c_j) (x - their c-weighted mean)^2`` plus a constant, one ``TemporalLoss`` on that mean
    with mask ``sum c_j`` is the same term at the cost of one.
    """
    seen = np.zeros_like(reliable[0])
    weight = np.zeros_like(reliable[0])
    total = np.zeros_like(warped[0])
    for image, mask in zip(warped, reliable, strict=True):
        own = np.maximum(mask - seen, 0)
        seen += mask
        weight += own
        total += own[..., None] * image
    target = np.where(weight[..., None] > 0, total / np.maximum(weight, 1e-6)[..., None], warped[0])
    return target.astype(np.float32), np.minimum(weight, 1).astype(np.float32)
