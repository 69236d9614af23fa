"""The options a video adds to the image ones (no heavy imports: the CLI reads the defaults)."""

from __future__ import annotations

from dataclasses import dataclass

from ..declared import check_declared, described
from ..errors import PainterlyError


@dataclass(frozen=True)
class VideoOptions:
    """The options a video adds to the image ones."""

    # Measured by benchmarks/video.py (README, Video; 256 px, 12 frames): the warping error drops to
    # 0.13x that of independent frames (Farneback flow) at 1.03x their style loss, 1.8 s per later frame
    # on a 2-core CPU. The term is a pixel MSE (~1e-5 once a frame settles), hence the large weight.
    temporal_weight: float = described(
        "weight of the temporal loss that keeps each frame close to the previous one moved by the "
        "optical flow (0: independent frames)",
        default=1000.0,
        bounds=(0, None),
    )
    frame_iterations: int = described(
        "iterations for each frame after the first (which gets the image options' full schedule)",
        default=15,
        bounds=(1, None),
    )
    temporal_frames: int = described(
        "earlier frames each frame is held to: t-1, t-2, t-4, ... (1: the previous one only); "
        "paint hidden for a moment comes back as it was",
        default=3,
        bounds=(1, None),
    )
    start: float = described("first frame to paint, in seconds", default=0.0, bounds=(0, None))
    end: float = described("stop at this time, in seconds (0: the end)", default=0.0, bounds=(0, None))
    max_frames: int = described("paint at most N frames (0: all)", default=0, bounds=(0, None))

    def validated(self) -> VideoOptions:
        check_declared(self)
        if self.end and self.end <= self.start:
            raise PainterlyError("end must come after start")
        return self
