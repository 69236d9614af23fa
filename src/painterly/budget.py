"""Fitting a run to a time budget and to the machine: ``--time`` and ``--size auto``.

Both read the engine's own estimate (``Stylizer.estimate``: its scales and tiles at this machine's
calibrated rate), so what is chosen is what will run. ``--time`` picks the iterations per scale (a
ladder around the presets) whose estimate fills the budget; the engine then ends each scale at its
share of the time left, so a slower machine still finishes by the budget (``RunState.deadline``).
``--size auto`` takes the largest size that fits memory and, with a budget, at which the draft
preset's schedule fits it (a larger print painted in fewer strokes looks unfinished): at most the
photo's own size (more pixels than the photo has add no detail).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

from PIL import Image

from .engine import Stylizer
from .errors import PainterlyError
from .schedule import PRESETS, START_SIZE
from .settings import MAX_SIZE, Settings

# Iterations per scale as multiples of the draft preset (final, coarse), smallest first: the ladder
# a budget climbs. The top rung is well past "best" for budgets of hours.
LADDER = (0.2, 0.3, 0.4, 0.6, 0.8, 1.0, 1.4, 2.0, 2.8, 4.0, 5.6, 8.0, 11.0, 16.0, 22.0, 32.0, 45.0)
# Share of the budget a plan may fill: the deadline ends a run that the estimate undercounted, and a
# plan that fills the whole budget would be cut at its final scale every time it ran a little slow.
FILL = 0.92
SIZE_STEP = 32


def rungs() -> list[tuple[int, int]]:
    final, coarse = PRESETS["draft"]
    return [(max(2, round(final * k)), max(2, round(coarse * k))) for k in LADDER]


def fit_to_budget(
    settings: Settings,
    content: Image.Image,
    styles: Sequence[Image.Image],
    stylizer_for: Callable[[Settings], Stylizer],
    available: float | None,
) -> tuple[Settings, list[str]]:
    """``settings`` with ``size`` (when auto) and the iterations (under a budget the user left to
    the preset) chosen for ``available`` seconds; and what was chosen, in words."""
    notes = []
    if settings.size == 0:
        settings, note = _auto_size(settings, content, styles, stylizer_for, available)
        notes.append(note)
    if available is not None and not settings.iterations and not settings.coarse_iterations:
        settings, note = _fill(settings, content, stylizer_for, available)
        notes.append(note)
    return settings, notes


def _with_rung(settings: Settings, rung: tuple[int, int]) -> Settings:
    return settings.with_(iterations=rung[0], coarse_iterations=rung[1])


def _fill(
    settings: Settings, content: Image.Image, stylizer_for: Callable[[Settings], Stylizer], available: float
) -> tuple[Settings, str]:
    chosen = None
    for rung in rungs():
        candidate = _with_rung(settings, rung)
        seconds = stylizer_for(candidate).estimate(content)
        if seconds > available * FILL:
            break
        chosen = (candidate, seconds)
    if chosen is None:
        shortest = stylizer_for(_with_rung(settings, rungs()[0])).estimate(content)
        need = math.ceil(shortest / FILL + _spent(available, settings))
        raise PainterlyError(
            f"--time {settings.time_budget}: even the shortest schedule at {settings.size} px takes about "
            f"{shortest:.0f} s on this machine; give --time {need}s or more, or a smaller --size"
        )
    candidate, seconds = chosen
    final, coarse = candidate.iterations, candidate.coarse_iterations
    return candidate, (
        f"--time {settings.time_budget}: {len(candidate.schedule())} scale(s), {final} iterations at the final "
        f"scale and {coarse} at the coarse ones (estimated {seconds:.0f} s of {available:.0f} s left)"
    )


def _spent(available: float, settings: Settings) -> float:
    """Seconds of the budget already gone (start-up) when ``available`` was left."""
    total = settings.budget_seconds()
    return 0.0 if total is None else max(0.0, total - available)


def _auto_size(
    settings: Settings,
    content: Image.Image,
    styles: Sequence[Image.Image],
    stylizer_for: Callable[[Settings], Stylizer],
    available: float | None,
) -> tuple[Settings, str]:
    own = min(MAX_SIZE, max(content.size))
    memory_note = ""
    for size in range(own, START_SIZE - 1, -SIZE_STEP) if own > START_SIZE else [own]:
        candidate = settings.with_(size=size)
        stylizer = stylizer_for(candidate)
        try:
            stylizer.check_fits(content, styles)
        except PainterlyError:
            memory_note = memory_note or f"{size + SIZE_STEP} px and up do not fit in memory; "
            continue
        if available is None:
            why = "the photo's own size" if size == own else f"{memory_note}the largest that fits"
            return candidate, f"size auto: {size} px ({why})"
        draft = stylizer_for(_with_rung(candidate, rungs()[LADDER.index(1.0)])).estimate(content)
        if draft <= available * FILL:
            why = "the photo's own size" if size == own else "the largest at which a draft fits the time"
            return candidate, f"size auto: {size} px ({memory_note}{why})"
    raise PainterlyError(
        f"--size auto: not even {START_SIZE} px fits"
        + (f" in --time {settings.time_budget}" if available is not None else " in memory")
    )
