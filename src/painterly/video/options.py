"""The options a video adds to the image ones (no heavy imports: the CLI reads the defaults)."""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..errors import PainterlyError


@dataclass(frozen=True)
class VideoOptions:
    """The options a video adds to the image ones."""

    # Measured by benchmarks/video.py (README, Video; 256 px, 24 frames): the warping error drops to
    # 0.11x that of independent frames (Farneback flow) at 1.08x their style loss, ~5 s per later frame
    # on a 2-core CPU. The term is a pixel MSE (~1e-5 once a frame settles), hence the large weight.
    temporal_weight: float = 1000.0
    frame_iterations: int = 20
    start: float = 0.0  # seconds
    end: float = 0.0  # seconds; 0: to the end
    max_frames: int = 0  # 0: all

    def validated(self) -> VideoOptions:
        if not math.isfinite(self.temporal_weight) or self.temporal_weight < 0:
            raise PainterlyError(f"temporal-weight must be a finite number >= 0, not {self.temporal_weight}")
        if self.frame_iterations < 1:
            raise PainterlyError("frame-iterations must be at least 1")
        if not (math.isfinite(self.start) and math.isfinite(self.end)) or self.start < 0 or self.end < 0:
            raise PainterlyError("start and end are seconds >= 0")
        if self.end and self.end <= self.start:
            raise PainterlyError("end must come after start")
        if self.max_frames < 0:
            raise PainterlyError("max-frames must be >= 0")
        return self
