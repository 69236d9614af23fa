"""The run loop: a schedule of scales, each building its objective, optimising, handing its canvas on.

The engine takes PIL images and a ``Settings`` value and returns a ``StylizeResult``. It never prints,
reads argv or writes files: progress goes out as typed events (``painterly.events``) to a callback,
and a ``StopToken`` (set from any thread or a signal handler) makes ``run`` return the best image so far.

A run's parts: ``Stylizer.plan`` gives one ``ScalePlan`` per scale (size, iterations, tiles or not);
a ``WholeScale`` or ``TiledScale`` step paints it, through one interface, with objectives from an
``ObjectiveBuilder`` (``painterly.objective``) and a ``ScaleOptimizer`` (``painterly.optimize``). The
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
from typing import Any, Protocol

import torch
import torch.nn.functional as F
from PIL import Image

from . import cost, hardware, tiles
from .errors import PainterlyError
from .events import Event, Iteration, Preview, ScaleStarted, TileStarted
from .hardware import resolve_device, resolve_precision
from .images import (
    fit,
    fitted_size,
    keep_colors,
    match_colors,
    scale_sizes,
    style_colors,
    to_image,
    to_tensor,
)
from .layers import LAYERS
from .network import VGG19Features, Weights, load_weights
from .objective import Context, Inputs, LossTerm, Objective, ObjectiveBuilder, check_terms
from .optimize import ScaleOptimizer
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
    timings: tuple[tuple[float, float, int, float], ...] = ()  # per finished scale: see ``_timing``


class Saver(Protocol):
    """Where a run's checkpoints go (``painterly.checkpoints.Checkpoints``): asked between steps."""

    def due(self) -> bool: ...

    def save(self, state: RunState) -> None: ...


# Under a time budget the final scale may spend up to this many times its planned iterations when the
# run is ahead of its estimate (the budget, not the estimate, is what the user asked for).
FINAL_STRETCH = 4


class StopToken:
    """Asks runs to end early; one token can be shared by every run of a sweep, batch or video."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def stop(self) -> None:
        self._event.set()

    @property
    def stopped(self) -> bool:
        return self._event.is_set()


@functools.lru_cache(maxsize=4)
def _network(weights_spec: str, last: str, pooling: str, device: str) -> tuple[VGG19Features, Weights]:
    weights = load_weights(weights_spec)
    net = VGG19Features(weights, last, pooling).to(device)
    return net.to(memory_format=torch.channels_last), weights


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
        """Pixels one evaluation optimises: the scale's, or a tile's (overlaps included)."""
        if self.grid is None:
            return self.size[0] * self.size[1]
        boxes = self.grid.boxes()
        return sum((r - left) * (b - top) for left, top, r, b in boxes) / len(boxes)

    def seconds(self, evaluation: cost.Rate, setup: cost.Rate) -> float:
        """The scale's evaluations and its set-ups (targets, first kernels: once per tile)."""
        setups = 1 if self.grid is None else len(self.grid.boxes())
        return self.work * evaluation.evaluation(self.pixels) + setups * setup.evaluation(self.pixels)


Optimize = Callable[[torch.Tensor, Objective], torch.Tensor]


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
class _Run:
    """What the scales of one run share: its state, where events and checkpoints go."""

    builder: ObjectiveBuilder
    state: RunState
    sink: Callable[[Event], None]
    preview_every: int
    checkpoints: Saver | None
    first: float | None = None  # when the running scale's first evaluation ended (its set-up's end)

    def emit(self, event: Event) -> None:
        if self.first is None and isinstance(event, Iteration):
            self.first = time.perf_counter()
        self.sink(event)

    def checkpoint(self, canvas: torch.Tensor, *, optimizer: Any = None, tiles: Any = None) -> None:
        """Save the state with this position inside the scale, if one is due."""
        if self.checkpoints is None or not self.checkpoints.due():
            return
        self.hold(canvas, optimizer=optimizer, tiles=tiles)
        self.checkpoints.save(self.state)
        self.state.optimizer = self.state.tiles = None  # the live run does not keep the copies

    def hold(self, canvas: torch.Tensor, *, optimizer: Any = None, tiles: Any = None) -> None:
        """Put this position inside the running scale into the state (a stop keeps it there)."""
        self.state.canvas, self.state.optimizer, self.state.tiles = canvas, optimizer, tiles


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
        if self.device.type == "cpu":
            # Shallow layers' gradients underflow into denormals, which x86 computes ~20x slower:
            # relu1_x's threshold backward took 50 ms of a 0.5 s iteration at 512 px, 4 ms flushed.
            torch.set_flush_denormal(True)
        if self.device.type == "cuda":
            torch.backends.cuda.matmul.allow_tf32 = True
            torch.backends.cudnn.allow_tf32 = True
            torch.backends.cudnn.benchmark = True
            # bf16 Gram products sum over every pixel: keep cuBLAS's split-K partial sums in float32.
            torch.backends.cuda.matmul.allow_bf16_reduced_precision_reduction = False

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
        return any(name != "color_strength" for name, _ in due)

    def network(self, extra_layers: Sequence[str] = ()) -> tuple[VGG19Features, Weights]:
        s = self.settings
        deepest = max((*s.content_layers, *s.style_layers, *extra_layers), key=LAYERS.index)
        return _network(s.weights, deepest, s.pooling, str(self.device))

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
        width, height = self.output_size(content)
        room = self.memory_room()
        note = tiles.budget_note(self.settings.memory_budget, self.device)
        tiles.check(width, height, self.precision, room, self.device, note, self.settings.schedule()[-1][1])
        longest = max(1, round(max(width, height) * self.settings.style_scale))
        for style in styles:
            try:
                tiles.check_style(
                    *fitted_size(style.size, longest), self.precision, room, self.settings.style_loss
                )
            except PainterlyError as exc:
                raise PainterlyError(
                    f"style image at style-scale {self.settings.style_scale:g}: {exc}"
                ) from None

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
        plans = self.plan(content)
        w, h = plans[-1].size
        rates, fixed = self.rates(), cost.overhead(self.machine())
        return sum(plan.seconds(*rates) for plan in plans) + cost.WRITE_PER_MPX * w * h / 1e6 + fixed

    def calibrate(self, content: Image.Image, styles: Sequence[Image.Image]) -> None:
        """Paint a few evaluations at two sizes as a scale does (targets, first kernels and all) and
        remember them, until this machine's samples span sizes (about 2-8 s, once): a first estimate
        from this machine's own figures rather than a prior."""
        key = self.machine()
        if cost.spans(cost.samples(key)):
            return
        evaluations, setups = [], []
        for longest in (256, 512):
            started = time.perf_counter()
            small = fit(content, longest)
            objective = self.objective(small, [fit(style, longest) for style in styles])
            x = to_tensor(small).to(self.device).requires_grad_(True)
            objective(x)[0].backward()  # the scale's set-up: targets, then a first pass that builds kernels
            first = time.perf_counter()
            for _ in range(3):
                objective(x)[0].backward()
            steady = (time.perf_counter() - first) / 3
            evaluations.append([small.width * small.height, steady])
            setups.append([small.width * small.height, max(0.0, first - started - steady)])
        cost.remember(key, evaluations, setups=setups)

    def plan(self, content: Image.Image | tuple[int, int], start_scale: int = 0) -> list[ScalePlan]:
        """The scales a run of ``content`` (or of an image of that size) paints, from schedule index
        ``start_scale`` (-1: the final)."""
        schedule = self.settings.schedule()
        original = content if isinstance(content, tuple) else content.size
        width, height = fitted_size(original, self.settings.size)
        sizes = scale_sizes(original, width, height, [f for f, _ in schedule])
        room = self.memory_room()
        return [
            ScalePlan(
                index,
                len(schedule),
                iters,
                max(1, round(max(width, height) * fraction)),
                sizes[index],
                tiles.plan(*sizes[index], self.precision, room, iters),
            )  # fmt: skip
            for index, (fraction, iters) in enumerate(schedule)
            if index >= range(len(schedule))[start_scale]
        ]

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
                # only the first scale starts from it: recolour at that size, not the photo's (prints)
                init = style_colors(content.resize(plans[0].size, Image.LANCZOS), styles, s.blend())
        else:
            plans = self.plan(content, state.scale) if state.scale < len(s.schedule()) else []
            if state.rng is not None:
                torch.set_rng_state(state.rng)
            state.started = time.perf_counter()  # ``earlier`` holds what it painted before
        with self._lock:  # updates that came before the run apply before its first evaluation
            self.state = state
        context = Context(
            functools.partial(self._features, net), self.targets, self.device, self.precision,
            self.network_key(), lambda: self.memory_room() - self.canvas_bytes,
        )  # fmt: skip
        builder = ObjectiveBuilder(context, state, Inputs.of(content, styles), mask, terms)
        run = _Run(builder, state, on_event or (lambda event: None), preview_every, checkpoints)
        x = None if state.canvas is None else state.canvas.to(self.device)
        rates = self.rates()
        for number, plan in enumerate(plans):
            scaled = (
                fit(content, plan.longest) if not plan.final else content.resize(plan.size, Image.LANCZOS)
            )
            x = self._initial(scaled, init, state.generator) if x is None else _resized(x, plan.size)
            state.scale, state.canvas = plan.index, x
            run.emit(ScaleStarted(plan.index, plan.count, *plan.size, plan.iterations))
            share = plan.seconds(*rates) / sum(p.seconds(*rates) for p in plans[number:])
            started, before, run.first = time.perf_counter(), state.done, None
            x = self._step(plan, run, share).paint(x, scaled)
            if state.optimizer is None and state.tiles is None:  # the scale is finished
                state.scale, state.canvas = plan.index + 1, x
                if state.done - before >= 3:
                    state.timings.append(_timing(plan, state.done - before, started, run.first))
            if self.stopped:
                break
        assert x is not None
        return self._result(content, _resized(x, self.output_size(content)), state, weights)

    def _step(self, plan: ScalePlan, run: _Run, share: float) -> WholeScale | TiledScale:
        """The scale's painter; with a deadline it may spend ``share`` of the time left."""
        state = run.state
        resume, tiled = (state.optimizer, state.tiles), plan.grid is not None
        state.optimizer = state.tiles = None  # consumed by this scale, put back where a stop leaves it
        end = None if state.deadline is None else state.elapsed + share * (state.deadline - state.elapsed)
        tiles_left = [0 if plan.grid is None else len(plan.grid.boxes()) - (resume[1] or {}).get("next", 0)]
        iterations = plan.iterations
        if end is not None and plan.final and resume == (None, None):
            # Ahead of the estimate, the final scale (where strokes form) paints on to the budget.
            iterations *= FINAL_STRETCH
            state.total += plan.work * (FINAL_STRETCH - 1)

        def optimize(x: torch.Tensor, objective: Objective) -> torch.Tensor:
            expires = end
            if end is not None and tiled:  # a tile's part of the scale's time left
                expires = state.elapsed + (end - state.elapsed) / max(1, tiles_left[0])
                tiles_left[0] -= 1
            optimizer = ScaleOptimizer(
                state, objective, iterations, run.emit, run.preview_every, lambda: self.stopped,
                self.steer, (lambda o: None) if tiled else lambda o: run.checkpoint(o.x, optimizer=o.state_dict()),
                expires, plan.iterations,
            )  # fmt: skip
            x = optimizer.run(x, None if tiled else resume[0])
            if self.stopped and not tiled:
                saved = optimizer.after_stop()  # the best image so far, the scale's budget left
                run.hold(saved["x"], optimizer=saved)
            return x

        w, h = plan.size
        self.canvas_bytes = 0.0 if plan.grid is None else w * h * tiles.CANVAS_BYTES_PER_PIXEL
        if plan.grid is None:
            return WholeScale(plan, builder=run.builder, optimize=optimize)

        def between_tiles(canvas: torch.Tensor, progress: dict[str, Any]) -> None:
            if self.stopped:
                run.hold(canvas, tiles=progress)
            elif progress["next"] < len(plan.grid.boxes()):
                run.checkpoint(canvas, tiles=progress)

        return TiledScale(
            plan, run.builder, optimize, run.emit, lambda: self.stopped, between_tiles, resume[1]
        )

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
            timings=tuple((p, s, int(n), setup) for p, s, n, setup in state.timings),
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
        context = Context(
            functools.partial(self._features, net), self.targets, self.device, self.precision,
            self.network_key(), self.memory_room,
        )  # fmt: skip
        return ObjectiveBuilder(context, state, Inputs.of(content, styles), mask, terms).whole(
            content, max(content.size)
        )

    def _initial(
        self, scaled: Image.Image, init: Image.Image | torch.Tensor | None, generator: torch.Generator
    ) -> torch.Tensor:
        size = (scaled.height, scaled.width)
        if isinstance(init, torch.Tensor):
            start = init.detach().float().reshape(1, 3, *init.shape[-2:])
            if start.shape[-2:] != size:
                start = F.interpolate(start, size=size, mode="bicubic", align_corners=False)
            return start.clamp(0, 1).to(self.device)
        if init is not None:
            return to_tensor(init.convert("RGB").resize((size[1], size[0]), Image.LANCZOS)).to(self.device)
        kind = self.settings.init
        if kind in ("content", "style-colors"):  # style-colors arrives as ``init`` unless a mask is set
            return to_tensor(scaled).to(self.device)
        if kind == "noise":
            return torch.rand((1, 3, *size), generator=generator).to(self.device)
        raise PainterlyError(f"init {kind!r} needs an init image")

    def _features(self, net: VGG19Features, image: torch.Tensor, wanted: set[str]) -> dict[str, torch.Tensor]:
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.precision == "bf16"):
            return net(image.contiguous(memory_format=torch.channels_last), wanted)


def _timing(plan: ScalePlan, evaluations: int, started: float, first: float | None) -> list[float]:
    """A finished scale as the cost model learns from it: pixels per evaluation, seconds per steady
    evaluation, evaluations, and the set-up before them (targets, first kernels). A tiled scale's
    set-ups recur per tile and stay inside its per-evaluation figure."""
    total = time.perf_counter() - started
    if plan.grid is not None or first is None:
        return [plan.pixels, total / evaluations, evaluations, 0.0]
    steady = (total - (first - started)) / (evaluations - 1)
    return [plan.pixels, steady, evaluations, max(0.0, first - started - steady)]


def _resized(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """``x`` at (width, height) ``size``: the warm start of the next scale (bicubic, clamped)."""
    if x.shape[-2:] == (size[1], size[0]):
        return x
    return F.interpolate(x, size=(size[1], size[0]), mode="bicubic", align_corners=False).clamp(0, 1)
