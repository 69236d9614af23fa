"""What a run reports while it paints: typed events for progress bars, previews and logs."""

from __future__ import annotations

from dataclasses import dataclass

from PIL import Image


@dataclass(frozen=True)
class ScaleStarted:
    index: int  # 0-based
    count: int
    width: int
    height: int
    iterations: int


@dataclass(frozen=True)
class TileStarted:
    """A tile of a tiled scale begins (``index`` 0-based of ``count``); box = (left, top, right, bottom)."""

    scale: int
    index: int
    count: int
    box: tuple[int, int, int, int]


@dataclass(frozen=True)
class Iteration:
    iteration: int  # 1-based, over all scales
    total: int  # planned iterations over all scales
    scale: int
    losses: dict[str, float]  # content, style, tv, each extra term (unweighted), total (weighted)
    elapsed: float


@dataclass(frozen=True)
class Preview:
    iteration: int
    image: Image.Image


@dataclass(frozen=True)
class Resumed:
    """A run goes on from its checkpoint, ``done`` of its ``total`` evaluations already painted (the
    next ``Iteration`` is ``done + 1``), so a display starts its bar there, not at zero."""

    done: int
    total: int

    def __str__(self) -> str:
        share = self.done / self.total if self.total else 0.0
        return f"resuming at {share:.0%} ({self.done} of {self.total} iterations)"


Event = ScaleStarted | Iteration | Preview | TileStarted | Resumed
