"""Motion between consecutive frames: OpenCV's DIS optical flow, the forward-backward consistency check
and motion boundaries of Ruder et al. 2016 (sec. 3.2), and warping along the flow.

Arrays here are numpy: images (H, W, 3) float32 in [0, 1], flows (H, W, 2) in pixels.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from PIL import Image


@dataclass(frozen=True)
class Motion:
    """How frame t relates to frame t-1.

    ``backward[y, x]`` is where pixel (x, y) of frame t was in frame t-1 (an offset); ``reliable`` is 1
    where that can be trusted and 0 where the consistency check fails (occluded or disoccluded pixels),
    at motion boundaries and where the source lies outside the frame.
    """

    backward: np.ndarray
    reliable: np.ndarray

    def warp(self, previous: np.ndarray) -> np.ndarray:
        """Frame t-1 content (e.g. its stylised version) moved to where it is in frame t."""
        return warp(previous, self.backward)

    def then(self, earlier: Motion) -> Motion:
        """Frame t back to frame t-2 through t-1, ``earlier`` being t-1's own motion: where each pixel
        was two frames ago, trusted where both steps are."""
        backward = self.backward + warp(earlier.backward, self.backward)
        return Motion(backward, self.reliable * (warp(earlier.reliable, self.backward) > 0.999))


def as_array(image: Image.Image) -> np.ndarray:
    return np.asarray(image.convert("RGB"), dtype=np.float32) / 255


def dis_flow(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Flow from one grey uint8 frame to another: OpenCV's DIS (Kroeger et al. 2016), fast on a CPU."""
    import cv2

    return cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM).calc(source, target, None)


def farneback_flow(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Farneback's polynomial-expansion flow: an independent estimate to measure results with."""
    import cv2

    return cv2.calcOpticalFlowFarneback(source, target, None, 0.5, 4, 15, 3, 5, 1.2, 0)


def motion(
    previous: Image.Image,
    current: Image.Image,
    estimate: Callable[[np.ndarray, np.ndarray], np.ndarray] = dis_flow,
) -> Motion:
    """Dense flow both ways between two frames of equal size, and where it is reliable."""
    import cv2

    gray_prev = cv2.cvtColor(np.asarray(previous.convert("RGB")), cv2.COLOR_RGB2GRAY)
    gray_cur = cv2.cvtColor(np.asarray(current.convert("RGB")), cv2.COLOR_RGB2GRAY)
    backward = estimate(gray_cur, gray_prev)
    forward = estimate(gray_prev, gray_cur)
    # Consistency: following the backward flow and then the forward flow must come back (Sundaram et
    # al. 2010 as used by Ruder et al.): |w + w^|^2 <= 0.01 (|w|^2 + |w^|^2) + 0.5.
    forward_there = warp(forward, backward)
    round_trip = np.sum((backward + forward_there) ** 2, axis=-1)
    magnitude = np.sum(backward**2, axis=-1) + np.sum(forward_there**2, axis=-1)
    consistent = round_trip <= 0.01 * magnitude + 0.5
    # Motion boundaries: |grad u|^2 + |grad v|^2 <= 0.01 |w^|^2 + 0.002.
    grads = sum(np.sum(np.stack(np.gradient(backward[..., c]), -1) ** 2, axis=-1) for c in range(2))
    smooth = grads <= 0.01 * np.sum(backward**2, axis=-1) + 0.002
    h, w = gray_cur.shape
    xs, ys = np.meshgrid(np.arange(w), np.arange(h))
    inside = (
        (xs + backward[..., 0] >= 0)
        & (xs + backward[..., 0] <= w - 1)
        & (ys + backward[..., 1] >= 0)
        & (ys + backward[..., 1] <= h - 1)
    )
    return Motion(backward, (consistent & smooth & inside).astype(np.float32))


def warp(array: np.ndarray, flow: np.ndarray) -> np.ndarray:
    """Sample ``array`` at each pixel plus ``flow`` (bilinear; edges replicated)."""
    import cv2

    h, w = flow.shape[:2]
    xs, ys = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    return cv2.remap(
        np.ascontiguousarray(array, dtype=np.float32),
        xs + flow[..., 0],
        ys + flow[..., 1],
        interpolation=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_REPLICATE,
    )


def warping_error(previous: Image.Image, current: Image.Image, moved: Motion) -> float:
    """Mean squared difference between ``current`` and ``previous`` warped by ``moved``, over the pixels
    the consistency check trusts: the temporal (in)stability measure of Ruder et al."""
    diff = (as_array(current) - moved.warp(as_array(previous))) ** 2
    weight = moved.reliable[..., None]
    return float(np.sum(diff * weight) / max(1.0, 3 * float(np.sum(weight))))
