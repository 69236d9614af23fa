"""A run's plan and its price: one ``ScalePlan`` per scale of the schedule (size, iterations, tile grid
or none), the seconds such a plan takes on this machine (``painterly.cost``'s rates), and what the cost
model learns from: a short calibration, and each finished scale's timing.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from PIL import Image

from . import cost, style_tiles, tiles
from .errors import PainterlyError
from .images import fit, fitted_size, scale_sizes, to_tensor
from .objective import Objective
from .settings import Settings


@dataclass(frozen=True)
class ScalePlan:
    """One scale of a run's schedule: where it sits, its size, its iterations, its tiles (or None)."""

    index: int
    count: int  # scales in the whole schedule
    iterations: int
    longest: int
    size: tuple[int, int]  # (width, height)
    grid: tiles.Grid | None

    @property
    def final(self) -> bool:
        return self.index == self.count - 1

    @property
    def work(self) -> int:
        """Evaluations the scale costs: its iterations once per tile."""
        return self.iterations * (1 if self.grid is None else len(self.grid.boxes()))

    @property
    def pixels(self) -> float:
        """Pixels one evaluation optimizes: the scale's, or a tile's (overlaps included)."""
        if self.grid is None:
            return self.size[0] * self.size[1]
        boxes = self.grid.boxes()
        return sum((r - left) * (b - top) for left, top, r, b in boxes) / len(boxes)

    def seconds(self, evaluation: cost.Rate, setup: cost.Rate) -> float:
        """The scale's evaluations and its set-ups (targets, first kernels: once per tile)."""
        setups = 1 if self.grid is None else len(self.grid.boxes())
        return self.work * evaluation.evaluation(self.pixels) + setups * setup.evaluation(self.pixels)


def plan_scales(
    schedule: list[tuple[float, int]],
    original: tuple[int, int],
    size: int,
    precision: str,
    room: float,
    device: str,
    start_scale: int = 0,
) -> list[ScalePlan]:
    """The scales of ``schedule`` that a run of an ``original``-sized image at ``size`` px paints, from
    schedule index ``start_scale`` (-1: the final), tiled where a scale does not fit ``room`` bytes
    (in the tiles that paint fastest on a ``device`` of that type)."""
    width, height = fitted_size(original, size)
    sizes = scale_sizes(original, width, height, [f for f, _ in schedule])
    return [
        ScalePlan(
            index,
            len(schedule),
            iters,
            max(1, round(max(width, height) * fraction)),
            sizes[index],
            tiles.plan(*sizes[index], precision, room, iters, device),
        )  # fmt: skip
        for index, (fraction, iters) in enumerate(schedule)
        if index >= range(len(schedule))[start_scale]
    ]


def check_fits(
    settings: Settings,
    size: tuple[int, int],
    styles: Sequence[Image.Image],
    precision: str,
    room: float,
    device: torch.device,
) -> None:
    """Raise PainterlyError (naming the largest size that fits) if a run of output ``size`` would
    exhaust ``room`` bytes even in tiles; ``styles`` too, at their size for the final scale
    (``style_scale`` can make them the larger)."""
    (width, height), s = size, settings
    note = tiles.budget_note(s.memory_budget, device)
    tiles.check(width, height, precision, room, device, note, s.schedule()[-1][1])
    longest = max(1, round(max(width, height) * s.style_scale))
    for style in styles:
        try:
            style_tiles.check_style(*fitted_size(style.size, longest), precision, room, s.style_loss)
        except PainterlyError as exc:
            raise PainterlyError(f"style image at style-scale {s.style_scale:g}: {exc}") from None


def estimate(plans: Sequence[ScalePlan], rates: tuple[cost.Rate, cost.Rate], machine: str) -> float:
    """Seconds ``plans`` take at ``rates`` on ``machine``: every scale and tile, and writing the output."""
    w, h = plans[-1].size
    return (
        sum(plan.seconds(*rates) for plan in plans)
        + cost.WRITE_PER_MPX * w * h / 1e6
        + cost.overhead(machine)
    )


def calibrate(
    machine: str,
    objective_at: Callable[[Image.Image, list[Image.Image]], Objective],
    device: torch.device,
    content: Image.Image,
    styles: Sequence[Image.Image],
) -> None:
    """Paint a few evaluations at two sizes as a scale does (targets, first kernels and all) and
    remember them, until ``machine``'s samples span sizes (about 2-8 s, once): a first estimate from
    this machine's own figures rather than a prior. ``objective_at(content, styles)``: one scale's
    objective at ``content``'s size."""
    if cost.spans(cost.samples(machine)):
        return
    evaluations, setups = [], []
    for longest in (256, 512):
        started = time.perf_counter()
        small = fit(content, longest)
        objective = objective_at(small, [fit(style, longest) for style in styles])
        x = to_tensor(small).to(device).requires_grad_(True)
        objective(x)[0].backward()  # the scale's set-up: targets, then a first pass that builds kernels
        first = time.perf_counter()
        for _ in range(3):
            objective(x)[0].backward()
        steady = (time.perf_counter() - first) / 3
        evaluations.append([small.width * small.height, steady])
        setups.append([small.width * small.height, max(0.0, first - started - steady)])
    cost.remember(machine, evaluations, setups=setups)


def scale_timing(
    plan: ScalePlan, evaluations: int, started: float, first: float | None, setup: cost.Rate
) -> list[float]:
    """A finished scale as the cost model learns from it: pixels per evaluation, seconds per steady
    evaluation, evaluations, the set-up (targets, first kernels) per tile, and tiles. A tiled scale's
    set-ups recur per tile inside its time: they are taken out at the rate ``setup`` prices them (an
    estimate counts them apart; left in, a 4096 px estimate counted them twice and said +29 %)."""
    total = time.perf_counter() - started
    if plan.grid is not None:
        count = len(plan.grid.boxes())
        steady = max(0.5 * total / evaluations, (total - count * setup.evaluation(plan.pixels)) / evaluations)
        return [plan.pixels, steady, evaluations, (total - steady * evaluations) / count, count]
    if first is None:
        return [plan.pixels, total / evaluations, evaluations, 0.0, 1]
    steady = (total - (first - started)) / (evaluations - 1)
    return [plan.pixels, steady, evaluations, max(0.0, first - started - steady), 1]
