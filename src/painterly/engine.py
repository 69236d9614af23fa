"""The run loop: a schedule of scales, each building its objective, optimising, handing its canvas on.

The engine takes PIL images and a ``Settings`` value and returns a ``StylizeResult``. It never prints,
reads argv or writes files: progress goes out as typed events (``painterly.events``) to a callback,
and a ``StopToken`` (set from any thread or a signal handler) makes ``run`` return the best image so far.

A run's parts: ``Stylizer.plan`` gives one ``ScalePlan`` per scale (``painterly.planning``: size,
iterations, tiles or not); a ``WholeScale`` or ``TiledScale`` step (``painterly.scales``) paints it with
objectives from an ``ObjectiveBuilder`` (``painterly.objective``) and a ``ScaleOptimizer``. The
run itself is one value, a ``RunState`` (``painterly.state``): a stopped run returns it, checkpoints
save it, and ``run(..., state=...)`` continues from it without repeating a finished scale or tile.

Seams for the faces built on it (grid, video, batch, explain): extra ``LossTerm``s join the objective,
an init image can start any scale of the schedule, a ``TargetCache`` shares targets between runs, and
one ``StopToken`` can end several runs.
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from PIL import Image

from . import cost, layout, planning, scales, tiles
from .errors import PainterlyError
from .events import Event, Iteration, Preview, ScaleStarted, TileStarted
from .hardware import configure, resolve_device, resolve_precision
from .images import fit, keep_colors, match_colors, style_colors, to_image
from .layers import LAYERS
from .network import VGG19Features, Weights, cached_network
from .objective import Context, Inputs, LossTerm, Objective, ObjectiveBuilder, check_terms
from .planning import ScalePlan
from .scales import Run, Saver, resized
from .schedule import layout_scales
from .settings import Settings
from .state import STEERABLE, Change, RunState, checked_steering, steered
from .targets import TargetCache

__all__ = [
    "STEERABLE",
    "Change",
    "Event",
    "Iteration",
    "LossTerm",
    "Objective",
    "Preview",
    "RunState",
    "ScaleStarted",
    "StopToken",
    "StylizeResult",
    "Stylizer",
    "TileStarted",
]


@dataclass
class StylizeResult:
    image: Image.Image
    tensor: torch.Tensor  # (1, 3, H, W) in [0, 1] on the CPU, as optimised (before colour preservation)
    settings: Settings
    iterations: int
    elapsed: float
    interrupted: bool
    losses: dict[str, float]
    weights_sha256: str = ""
    device: str = "cpu"
    precision: str = "fp32"
    changes: tuple[Change, ...] = field(default=())  # steering, in order; ``settings`` is the start
    state: RunState | None = None  # a stopped run's: ``Stylizer.run(..., state=)`` continues it
    stop_reason: str = ""  # "time budget" where a deadline ended a scale early
    timings: tuple[tuple[float, float, int, float, int], ...] = ()  # per scale: ``planning.scale_timing``


class StopToken:
    """Asks runs to end early; one token can be shared by every run of a sweep, batch or video."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def stop(self) -> None:
        self._event.set()

    @property
    def stopped(self) -> bool:
        return self._event.is_set()


class Stylizer:
    """Runs stylisations with one ``Settings``. Create, then ``run``; ``stop()`` ends a run early."""

    def __init__(
        self,
        settings: Settings,
        *,
        targets: TargetCache | None = None,
        stop: StopToken | None = None,
        steering: Sequence[Change] = (),
    ) -> None:
        """``targets``: a cache shared by runs that reuse input images (a sweep of weights, a batch with
        one style, a video), so their targets are computed once. ``stop``: a token shared by runs that
        one request must end together. ``steering``: recorded changes to replay at their iterations
        (a steered run's ``StylizeResult.changes``), so a rerun repeats it; checked here, like
        ``update``'s."""
        self.start_settings = settings.validated()
        self._lock = threading.Lock()
        self._pending: list[tuple[str, Any]] = []  # updates not yet applied to a run's state
        self.steering = checked_steering(self.start_settings, steering)
        self.state: RunState | None = None  # the latest run's, live while it paints
        self.targets = targets if targets is not None else TargetCache()
        self.token = stop if stop is not None else StopToken()
        self._room: float | None = None
        self.canvas_bytes = 0.0  # bytes a tiled scale's whole-image canvas holds, beside its tiles
        self.device = resolve_device(settings.device)
        self.precision = resolve_precision(settings.precision, self.device)
        configure(self.device)

    @property
    def settings(self) -> Settings:
        """The settings in force: the latest run's (steering included), else the start settings."""
        return self.state.settings if self.state is not None else self.start_settings

    def stop(self) -> None:
        self.token.stop()

    @property
    def stopped(self) -> bool:
        return self.token.stopped

    def update(self, **changes: Any) -> None:
        """Steer a run while it paints (from any thread): ``update(style_weight=20)``.

        Only ``STEERABLE`` settings, typed and checked as a record's ``Settings`` are (PainterlyError)
        here, in the caller's thread. They apply before the next evaluation, where the optimiser
        starts afresh (its history describes the old objective), and are recorded in the result's
        ``changes``; one that comes between runs goes to the next run, before its first evaluation,
        and one after a run's last evaluation still counts for it (colour strength)."""
        with self._lock:
            settings, typed = self.settings, []
            for name, value in changes.items():
                settings, value = steered(settings, name, value)
                typed.append((name, value))
            self._pending.extend(typed)

    def steer(self, done: int) -> bool:
        """Apply the changes due before evaluation ``done + 1``; True when the objective changed."""
        state = self.state
        assert state is not None
        with self._lock:
            due = [(c.field, c.value) for c in state.due if c.iteration <= done]
            state.due = [c for c in state.due if c.iteration > done]
            due, self._pending = due + self._pending, []
            for name, value in due:
                state.settings = state.settings.with_(**{name: value}).validated()
                state.changes.append(Change(done, name, value))
        changed = any(name != "color_strength" for name, _ in due)
        if changed:  # the objective is not the one that made the layout: the finer scales may move it
            state.layout = None
        return changed

    def network(self, extra_layers: Sequence[str] = ()) -> tuple[VGG19Features, Weights]:
        s = self.settings
        deepest = max((*s.content_layers, *s.style_layers, *extra_layers), key=LAYERS.index)
        return cached_network(s.weights, deepest, s.pooling, str(self.device))

    def features(self, image: torch.Tensor, wanted: set[str]) -> dict[str, torch.Tensor]:
        """The activations of the ``wanted`` layers for ``image``, as a run's objective sees them."""
        net, _ = self.network(tuple(wanted))
        return self._features(net, image, wanted)

    def network_key(self) -> tuple:
        """What targets computed by this stylizer's network depend on (part of every cache key)."""
        s = self.settings
        return (s.weights, s.pooling, str(self.device), self.precision)

    def output_size(self, content: Image.Image) -> tuple[int, int]:
        return fit(content, self.settings.size).size

    def check_fits(self, content: Image.Image, styles: Sequence[Image.Image] = ()) -> None:
        """Raise PainterlyError (naming the largest size that fits) if the run would exhaust memory even
        in tiles; ``styles`` too, at their size for the final scale (``style_scale`` can make them the
        larger)."""
        size, room = self.output_size(content), self.memory_room()
        planning.check_fits(self.settings, size, styles, self.precision, room, self.device)

    def memory_room(self) -> float:
        """Bytes a run may use: the ``memory_budget`` setting, else what fits in free memory now.

        A run reads it once, after loading the network, and keeps it: the process's own footprint
        (which an explicit budget includes) grows as it runs, and a plan made at the first scale
        must not be refused at a later one."""
        if self._room is not None:
            return self._room
        return tiles.budget(self.settings.memory_budget, self.device)

    def machine(self) -> str:
        """The key this machine's speed is remembered under (device, precision, threads, processor)."""
        return cost.machine_key(self.device.type, self.precision, torch.get_num_threads())

    def rates(self) -> tuple[cost.Rate, cost.Rate]:
        """Seconds per evaluation and per scale's set-up here: remembered (calibration, earlier runs),
        else cautious priors."""
        return cost.rates(self.machine(), self.device.type)

    def estimate(self, content: Image.Image | tuple[int, int]) -> float:
        """Seconds a run of ``content`` (or of an image of that size) takes from here: its scales and
        tiles as planned, at this machine's rate, and writing the output."""
        return planning.estimate(self.plan(content), self.rates(), self.machine())

    def calibrate(self, content: Image.Image, styles: Sequence[Image.Image]) -> None:
        """Time a few evaluations at two sizes, once per machine (``planning.calibrate``)."""
        planning.calibrate(self.machine(), self.objective, self.device, content, styles)

    def plan(self, content: Image.Image | tuple[int, int], start_scale: int = 0) -> list[ScalePlan]:
        """The scales a run of ``content`` (or of an image of that size) paints, from schedule index
        ``start_scale`` (-1: the final)."""
        original = content if isinstance(content, tuple) else content.size
        schedule, room, device = self.settings.schedule(), self.memory_room(), self.device.type
        return planning.plan_scales(
            schedule, original, self.settings.size, self.precision, room, device, start_scale
        )

    def run(
        self,
        content: Image.Image,
        styles: Sequence[Image.Image],
        *,
        mask: Image.Image | None = None,
        init: Image.Image | torch.Tensor | None = None,
        start_scale: int = 0,
        terms: Sequence[LossTerm] = (),
        on_event: Callable[[Event], None] | None = None,
        preview_every: int = 0,
        state: RunState | None = None,
        checkpoints: Saver | None = None,
        deadline: float | None = None,
    ) -> StylizeResult:
        """Stylise ``content`` with ``styles`` (blended by the settings' weights) and return the result.

        ``init`` (an image, or a (1, 3, h, w) tensor in [0, 1]) is the start, whatever the settings'
        ``init`` says; without it the settings decide (content, noise, or an image path needs ``init``).
        ``start_scale`` is the schedule index the run starts at (-1: only the final scale, as for a
        warped previous video frame); earlier scales are skipped. ``terms`` join the objective.
        ``mask`` assigns regions to styles. Events go to ``on_event``; a Preview every
        ``preview_every`` iterations (0: never). ``checkpoints`` is handed the run's state between
        steps when it wants one. ``state`` (a stopped run's ``result.state``, or a checkpoint's, with
        the same inputs and arguments) continues that run where it stood: ``init`` and
        ``start_scale`` are then its own, and no finished scale or tile is painted again.
        ``deadline``: seconds from now by which the run ends (a time budget): each scale gets its share
        of what is left, by its planned cost, and ends when that is spent (the reason is recorded).
        """
        called, s = time.perf_counter(), self.start_settings
        if len(styles) != len(s.styles):
            raise PainterlyError(f"{len(s.styles)} style image(s) configured but {len(styles)} given")
        check_terms(terms)
        net, weights = self.network([layer for term in terms for layer in term.layers])
        self.canvas_bytes = 0.0
        self._room = None if state is None else state.room
        self._room = self.memory_room()  # with the network in memory, and kept for this run
        self.check_fits(content, styles)
        if s.preserve_colors == "histogram":
            styles = [match_colors(style, content) for style in styles]
        if state is None:
            state, plans, init = self._fresh(content, styles, mask, init, start_scale, deadline, called)
        else:
            plans = self.plan(content, state.scale) if state.scale < len(s.schedule()) else []
            if state.rng is not None:
                torch.set_rng_state(state.rng)
            state.started = time.perf_counter()  # ``earlier`` holds what it painted before
        with self._lock:  # updates that came before the run apply before its first evaluation
            self.state = state
        context = self._context(net, lambda: self.memory_room() - self.canvas_bytes)
        builder = ObjectiveBuilder(context, state, Inputs.of(content, styles), mask, terms)
        sink = on_event or (lambda event: None)
        run = Run(builder, state, sink, preview_every, checkpoints, lambda: self.stopped, self.steer)
        x = self._paint(run, plans, content, init)
        return self._result(content, resized(x, self.output_size(content)), state, weights)

    def _fresh(
        self,
        content: Image.Image,
        styles: Sequence[Image.Image],
        mask: Image.Image | None,
        init: Image.Image | torch.Tensor | None,
        start_scale: int,
        deadline: float | None,
        called: float,
    ) -> tuple[RunState, list[ScalePlan], Image.Image | torch.Tensor | None]:
        """A new run's state, its plans and its start image (by default the content in the styles'
        palette); ``deadline`` counts from ``called``."""
        s = self.start_settings
        torch.manual_seed(s.seed)
        plans = self.plan(content, start_scale)
        state = RunState(
            total=sum(plan.work for plan in plans),
            settings=s,
            due=list(self.steering),
            generator=torch.Generator().manual_seed(s.seed),
            room=self._room,
            deadline=None if deadline is None else deadline - (time.perf_counter() - called),
        )
        if init is None and s.init == "style-colors" and mask is None:  # masks may leave regions unstyled
            # only the first scale starts from it: recolor at that size, not the photo's (prints)
            init = style_colors(content.resize(plans[0].size, Image.LANCZOS), styles, s.blend())
        return state, plans, init

    def _paint(
        self,
        run: Run,
        plans: list[ScalePlan],
        content: Image.Image,
        init: Image.Image | torch.Tensor | None,
    ) -> torch.Tensor:
        """Paint ``plans`` in turn, each scale from the previous one's canvas, until done or stopped."""
        state = run.state
        x = None if state.canvas is None else state.canvas.to(self.device)
        rates = self.rates()
        for number, plan in enumerate(plans):
            scaled = (
                fit(content, plan.longest) if not plan.final else content.resize(plan.size, Image.LANCZOS)
            )
            w, h = plan.size
            self.canvas_bytes = 0.0 if plan.grid is None else w * h * tiles.CANVAS_BYTES_PER_PIXEL
            started, before, run.first = time.perf_counter(), state.done, None
            # before a tiled scale's style statistics, which take a minute at 8192 px with no other event
            run.emit(ScaleStarted(plan.index, plan.count, *plan.size, plan.iterations))
            if plan.grid is not None:
                run.builder.prepare_tiles(plan.longest)
            if x is None:
                x = scales.start(scaled, init, self.settings.init, state.generator, self.device)
            else:
                x = resized(x, plan.size)
            state.scale, state.canvas = plan.index, x
            share = plan.seconds(*rates) / sum(p.seconds(*rates) for p in plans[number:])
            x = run.step(plan, share).paint(x, scaled)
            if state.optimizer is None and state.tiles is None:  # the scale is finished
                if state.done - before >= 3:
                    state.timings.append(
                        planning.scale_timing(plan, state.done - before, started, run.first, rates[1])
                    )
                x = self._keep_layout(plan, x)  # not painting time: kept out of the cost model's samples
                state.scale, state.canvas = plan.index + 1, x
            if self.stopped:
                break
        assert x is not None
        return x

    def _keep_layout(self, plan: ScalePlan, x: torch.Tensor) -> torch.Tensor:
        """A print's finished scale: the layout scale's image is kept, and every finer scale keeps its
        layout (``painterly.layout``), unless the objective was steered since."""
        state, s = self.state, self.start_settings
        assert state is not None
        head = layout_scales(s.size, s.scales)
        if not s.keep_layout or not head:
            return x
        if plan.index == head - 1:
            state.layout = x.detach().cpu().clone()
        elif plan.index >= head and state.layout is not None:
            x = layout.keep(x, state.layout)
        return x

    def _result(
        self, content: Image.Image, x: torch.Tensor, state: RunState, weights: Weights
    ) -> StylizeResult:
        self.canvas_bytes = 0.0
        self.steer(state.done)  # what came after the last evaluation: colour strength still applies
        if self.stopped:  # a state handed back later does not count the time it waited
            state.earlier, state.started = state.elapsed, time.perf_counter()
        s = self.settings
        image = to_image(x)
        if s.preserve_colors == "luminance":
            image = keep_colors(image, content, s.color_strength)
        return StylizeResult(
            image=image,
            tensor=x.detach().float().cpu(),
            settings=self.start_settings,
            iterations=state.done,
            elapsed=state.elapsed,
            interrupted=self.stopped,
            losses=state.losses,
            weights_sha256=weights.sha256,
            device=self.device.type,
            precision=self.precision,
            changes=tuple(state.changes),
            state=state if self.stopped else None,
            stop_reason=state.stop_reason,
            timings=tuple((p, s, int(n), setup, int(t)) for p, s, n, setup, t in state.timings),
        )

    def objective(
        self,
        content: Image.Image,
        styles: Sequence[Image.Image],
        *,
        mask: Image.Image | None = None,
        terms: Sequence[LossTerm] = (),
    ) -> Objective:
        """The objective at ``content``'s own size (one scale), e.g. to time or inspect evaluations."""
        check_terms(terms)
        s = self.settings
        net, _ = self.network([layer for term in terms for layer in term.layers])
        state = RunState(total=0, settings=s, generator=torch.Generator().manual_seed(s.seed))
        context = self._context(net, self.memory_room)
        return ObjectiveBuilder(context, state, Inputs.of(content, styles), mask, terms).whole(
            content, max(content.size)
        )

    def _context(self, net: VGG19Features, room: Callable[[], float]) -> Context:
        """What this stylizer's objectives need: ``net``'s features, the targets, ``room()`` bytes."""
        features = functools.partial(self._features, net)
        return Context(features, self.targets, self.device, self.precision, self.network_key(), room)

    def _features(self, net: VGG19Features, image: torch.Tensor, wanted: set[str]) -> dict[str, torch.Tensor]:
        # No cast cache (defensive: it keeps only casts of weights that train, and none do here): a
        # CUDA graph (``graphs``) must not replay casts made outside its capture.
        bf16 = self.precision == "bf16"
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=bf16, cache_enabled=False):
            return net(image.contiguous(memory_format=torch.channels_last), wanted)
