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


Event = ScaleStarted | Iteration | Preview | TileStarted
