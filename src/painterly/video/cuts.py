"""Scene cuts: where a clip jumps to another shot, so the next frame is painted afresh rather than
warped from a picture it does not continue.

A cut changes the colours (hue-saturation histogram distance) and leaves the flow nothing to follow
(share of pixels the consistency check rejects); a cut needs both, so a pan or a moving object (flow
fails locally, colours stay) and a change of light (colours shift, flow holds) are not cuts. Measured
by benchmarks/cuts.py on clips made from ../shared/images (README, Video).
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from .flow import Motion

HISTOGRAM_DISTANCE = 0.3  # Bhattacharyya; measured at 64-256 px: pans <= 0.114, cuts >= 0.464
UNRELIABLE_SHARE = 0.5  # pans <= 0.41 at 64 px (<= 0.12 at 96 px and up), cuts >= 0.75


def histogram_distance(previous: Image.Image, current: Image.Image) -> float:
    """Bhattacharyya distance (0: same colours, 1: none shared) of the frames' hue-saturation
    histograms; brightness is left out, so a change of exposure alone moves it little."""
    import cv2

    def histogram(image: Image.Image) -> np.ndarray:
        hsv = cv2.cvtColor(np.asarray(image.convert("RGB")), cv2.COLOR_RGB2HSV)
        return cv2.calcHist([hsv], [0, 1], None, [16, 8], [0, 180, 0, 256])

    return float(cv2.compareHist(histogram(previous), histogram(current), cv2.HISTCMP_BHATTACHARYYA))


def unreliable_share(moved: Motion) -> float:
    """The share of pixels whose flow the consistency check rejects."""
    return 1 - float(moved.reliable.mean())


def is_cut(previous: Image.Image, current: Image.Image, moved: Motion) -> bool:
    """Whether ``current`` starts another shot than ``previous`` (``moved``: the flow between them)."""
    return (
        histogram_distance(previous, current) > HISTOGRAM_DISTANCE
        and unreliable_share(moved) > UNRELIABLE_SHARE
    )
