"""One scale of a run, painted: a ``WholeScale`` (one objective over the image) or a ``TiledScale``
(tiles against the whole scale's style targets), both through ``paint(canvas, scaled)``.

``Run`` is what the scales of one run share (its ``RunState``, where events and checkpoints go, the
stop and steering it answers to) and makes each scale's painter (``Run.step``), whose optimizer
(``painterly.optimize``) spends the scale's share of a time budget. ``start`` and ``resized`` give a
scale its canvas: the run's start image, or the previous scale's canvas at the new size.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import torch
import torch.nn.functional as F
from PIL import Image

from . import hardware, tiles
from .errors import PainterlyError
from .events import Event, Iteration
from .images import to_tensor
from .objective import Objective, ObjectiveBuilder
from .optimize import ScaleOptimizer
from .planning import ScalePlan
from .state import RunState

# Under a time budget the final scale may spend up to this many times its planned iterations when the
# run is ahead of its estimate (the budget, not the estimate, is what the user asked for).
FINAL_STRETCH = 4

Optimize = Callable[[torch.Tensor, Objective], torch.Tensor]


class Saver(Protocol):
    """Where a run's checkpoints go (``painterly.checkpoints.Checkpoints``): asked between steps."""

    def due(self) -> bool: ...

    def save(self, state: RunState) -> None: ...


class WholeScale:
    """A scale that fits in memory: one objective over the whole image."""

    def __init__(self, plan: ScalePlan, builder: ObjectiveBuilder, optimize: Optimize) -> None:
        self.plan, self.builder, self.optimize = plan, builder, optimize

    def paint(self, x: torch.Tensor, scaled: Image.Image) -> torch.Tensor:
        objective = self.builder.whole(scaled, self.plan.longest)
        x = self.optimize(x, objective)
        del objective  # its targets and activations go before the next scale builds its own
        hardware.release_memory(x.device)
        return x


class TiledScale:
    """A scale too large for one pass: tiles against the whole scale's style targets."""

    def __init__(
        self,
        plan: ScalePlan,
        builder: ObjectiveBuilder,
        optimize: Optimize,
        emit: Callable[[Event], None],
        stopped: Callable[[], bool],
        between: Callable[[torch.Tensor, dict[str, Any]], None],
        resume: dict[str, Any] | None,
    ) -> None:
        """``between(canvas, progress)`` follows every tile (checkpoints, stops); ``resume``: such a
        progress to continue from."""
        self.plan, self.builder, self.optimize, self.emit, self.stopped = (
            plan,
            builder,
            optimize,
            emit,
            stopped,
        )
        self.between, self.resume = between, resume

    def paint(self, x: torch.Tensor, scaled: Image.Image) -> torch.Tensor:
        assert self.plan.grid is not None
        objective_for = functools.partial(self.builder.tile, self.plan.size, self.plan.longest)
        return tiles.optimize(
            x, self.plan.grid, scaled, self.builder.mask, objective_for, self.optimize, self.emit,
            self.stopped, self.plan.index, self.between, self.resume,
        )  # fmt: skip


@dataclass
class Run:
    """What the scales of one run share: its state, where events and checkpoints go, its stop and
    steering (``stopped()``; ``steer(done)``: apply the changes due, True when the objective changed)."""

    builder: ObjectiveBuilder
    state: RunState
    sink: Callable[[Event], None]
    preview_every: int
    checkpoints: Saver | None
    stopped: Callable[[], bool]
    steer: Callable[[int], bool]
    first: float | None = None  # when the running scale's first evaluation ended (its set-up's end)

    def emit(self, event: Event) -> None:
        if self.first is None and isinstance(event, Iteration):
            self.first = time.perf_counter()
        self.sink(event)

    def checkpoint(
        self, canvas: torch.Tensor, *, optimizer: Callable[[], Any] | None = None, tiles: Any = None
    ) -> None:
        """Save the state with this position inside the scale, if one is due. ``optimizer`` makes the
        optimizer's state only then: it copies L-BFGS's whole history (~100 images) to the CPU, which
        made every step of a CUDA run wait on a copy (512 px: 78 ms an evaluation)."""
        if self.checkpoints is None or not self.checkpoints.due():
            return
        self.hold(canvas, optimizer=None if optimizer is None else optimizer(), tiles=tiles)
        self.checkpoints.save(self.state)
        self.state.optimizer = self.state.tiles = None  # the live run does not keep the copies

    def hold(self, canvas: torch.Tensor, *, optimizer: Any = None, tiles: Any = None) -> None:
        """Put this position inside the running scale into the state (a stop keeps it there)."""
        self.state.canvas, self.state.optimizer, self.state.tiles = canvas, optimizer, tiles

    def step(self, plan: ScalePlan, share: float) -> WholeScale | TiledScale:
        """The scale's painter; with a deadline it may spend ``share`` of the time left."""
        state = self.state
        resume = (state.optimizer, state.tiles)
        state.optimizer = state.tiles = None  # consumed by this scale, put back where a stop leaves it
        end = None if state.deadline is None else state.elapsed + share * (state.deadline - state.elapsed)
        iterations = plan.iterations
        if end is not None and plan.final and resume == (None, None):
            # Ahead of the estimate, the final scale (where strokes form) paints on to the budget.
            iterations *= FINAL_STRETCH
            state.total += plan.work * (FINAL_STRETCH - 1)
        if plan.grid is None:
            return WholeScale(plan, self.builder, self._optimize(plan, iterations, end, resume[0]))
        tiles_left = len(plan.grid.boxes()) - (resume[1] or {}).get("next", 0)

        def between_tiles(canvas: torch.Tensor, progress: dict[str, Any]) -> None:
            if self.stopped():
                self.hold(canvas, tiles=progress)
            elif progress["next"] < len(plan.grid.boxes()):
                self.checkpoint(canvas, tiles=progress)

        optimize = self._optimize(plan, iterations, end, None, tiles_left)
        return TiledScale(plan, self.builder, optimize, self.emit, self.stopped, between_tiles, resume[1])

    def _optimize(
        self, plan: ScalePlan, iterations: int, end: float | None, resume: Any, tiles_left: int | None = None
    ) -> Optimize:
        """One whole scale's optimization (``tiles_left`` None), or each of a tiled scale's tiles in turn,
        each given its part of the scale's time left."""
        state, tiled, left = self.state, tiles_left is not None, [tiles_left or 0]

        def optimize(x: torch.Tensor, objective: Objective) -> torch.Tensor:
            expires = end
            if end is not None and tiled:  # a tile's part of the scale's time left
                expires = state.elapsed + (end - state.elapsed) / max(1, left[0])
                left[0] -= 1
            optimizer = ScaleOptimizer(
                state, objective, iterations, self.emit, self.preview_every, self.stopped, self.steer,
                (lambda o: None) if tiled else lambda o: self.checkpoint(o.x, optimizer=o.state_dict),
                expires, plan.iterations,
            )  # fmt: skip
            x = optimizer.run(x, resume)
            if self.stopped() and not tiled:
                saved = optimizer.after_stop()  # the best image so far, the scale's budget left
                self.hold(saved["x"], optimizer=saved)
            return x

        return optimize


def start(
    scaled: Image.Image,
    init: Image.Image | torch.Tensor | None,
    kind: str,
    generator: torch.Generator,
    device: torch.device,
) -> torch.Tensor:
    """The first scale's canvas at ``scaled``'s size: ``init`` (an image or a tensor), else what the
    settings' ``init`` ``kind`` makes of the content."""
    size = (scaled.height, scaled.width)
    if isinstance(init, torch.Tensor):
        first = init.detach().float().reshape(1, 3, *init.shape[-2:])
        if first.shape[-2:] != size:
            first = F.interpolate(first, size=size, mode="bicubic", align_corners=False)
        return first.clamp(0, 1).to(device)
    if init is not None:
        return to_tensor(init.convert("RGB").resize((size[1], size[0]), Image.LANCZOS)).to(device)
    if kind in ("content", "style-colors"):  # style-colors arrives as ``init`` unless a mask is set
        return to_tensor(scaled).to(device)
    if kind == "noise":
        return torch.rand((1, 3, *size), generator=generator).to(device)
    raise PainterlyError(f"init {kind!r} needs an init image")


def resized(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """``x`` at (width, height) ``size``: the warm start of the next scale (bicubic, clamped)."""
    if x.shape[-2:] == (size[1], size[0]):
        return x
    return F.interpolate(x, size=(size[1], size[0]), mode="bicubic", align_corners=False).clamp(0, 1)
