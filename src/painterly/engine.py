"""The run loop: a schedule of scales, each building its objective, optimising, handing its canvas on.

The engine takes PIL images and a ``Settings`` value and returns a ``StylizeResult``. It never prints,
reads argv or writes files: progress goes out as typed events (``painterly.events``) to a callback,
and a ``StopToken`` (set from any thread or a signal handler) makes ``run`` return the best image so far.

A run's parts: ``Stylizer.plan`` gives one ``ScalePlan`` per scale (size, iterations, tiles or not);
a ``WholeScale`` or ``TiledScale`` step paints it, through one interface, with objectives from an
``ObjectiveBuilder`` (``painterly.objective``) and a ``ScaleOptimiser`` (``painterly.optimise``) that
keeps the ``RunState``.

Seams for the faces built on it (grid, video, batch, explain): extra ``LossTerm``s join the objective,
an init image can start any scale of the schedule, a ``TargetCache`` shares targets between runs, and
one ``StopToken`` can end several runs.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from PIL import Image

from . import hardware, tiles
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
from .objective import Inputs, LossTerm, Objective, ObjectiveBuilder, check_terms
from .optimise import RunState, ScaleOptimiser
from .settings import Settings
from .targets import TargetCache

__all__ = [
    "STEERABLE",
    "Change",
    "Event",
    "Iteration",
    "LossTerm",
    "Objective",
    "Preview",
    "ScaleStarted",
    "StopToken",
    "StylizeResult",
    "Stylizer",
    "TileStarted",
]


# Settings a run takes while it paints (``Stylizer.update``): weights of the objective and colour
# strength (applied at the end). Layers, sizes and schedules would invalidate targets and plans.
STEERABLE = ("content_weight", "style_weight", "tv_weight", "style_blend", "color_strength")


@dataclass(frozen=True)
class Change:
    """A setting changed while a run painted, before evaluation ``iteration`` (0: before the first)."""

    iteration: int
    field: str
    value: Any


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


Optimise = Callable[[torch.Tensor, Objective], torch.Tensor]


class WholeScale:
    """A scale that fits in memory: one objective over the whole image."""

    def __init__(self, plan: ScalePlan, builder: ObjectiveBuilder, optimise: Optimise) -> None:
        self.plan, self.builder, self.optimise = plan, builder, optimise

    def paint(self, x: torch.Tensor, scaled: Image.Image) -> torch.Tensor:
        objective = self.builder.whole(scaled, self.plan.longest)
        x = self.optimise(x, objective)
        del objective  # its targets and activations go before the next scale builds its own
        hardware.release_memory(x.device)
        return x


class TiledScale:
    """A scale too large for one pass: tiles against the whole scale's style targets."""

    def __init__(
        self,
        plan: ScalePlan,
        builder: ObjectiveBuilder,
        optimise: Optimise,
        emit: Callable[[Event], None],
        stopped: Callable[[], bool],
    ) -> None:
        self.plan, self.builder, self.optimise, self.emit, self.stopped = (
            plan,
            builder,
            optimise,
            emit,
            stopped,
        )

    def paint(self, x: torch.Tensor, scaled: Image.Image) -> torch.Tensor:
        assert self.plan.grid is not None
        objective_for = functools.partial(self.builder.tile, self.plan.size, self.plan.longest)
        return tiles.optimise(
            x, self.plan.grid, scaled, self.builder.mask, objective_for, self.optimise, self.emit,
            self.stopped, self.plan.index,
        )  # fmt: skip


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
        (a steered run's ``StylizeResult.changes``), so a rerun repeats it."""
        self.settings = self.start_settings = settings.validated()
        self._lock = threading.Lock()
        self._pending: list[tuple[str, Any]] = []
        self.steering = sorted(steering, key=lambda change: change.iteration)
        self._due: list[Change] = []
        self.changes: list[Change] = []
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

    def stop(self) -> None:
        self.token.stop()

    @property
    def stopped(self) -> bool:
        return self.token.stopped

    def update(self, **changes: Any) -> None:
        """Steer a run while it paints (from any thread): ``update(style_weight=20)``.

        Only ``STEERABLE`` settings; checked like ``Settings`` here, in the caller's thread. They apply
        before the next evaluation, where the optimiser starts afresh (its history describes the old
        objective), and are recorded in the result's ``changes``."""
        unknown = sorted(set(changes) - set(STEERABLE))
        if unknown:
            raise PainterlyError(
                f"cannot change {', '.join(unknown)} while a run paints; only {', '.join(STEERABLE)}"
            )
        changes = {k: tuple(v) if isinstance(v, list) else v for k, v in changes.items()}  # JSON lists
        with self._lock:
            self.settings.with_(**changes).validated()
            self._pending.extend(changes.items())

    def steer(self, done: int) -> bool:
        """Apply the changes due before evaluation ``done + 1``; True when the objective changed."""
        with self._lock:
            due = [(c.field, c.value) for c in self._due if c.iteration <= done]
            self._due = [c for c in self._due if c.iteration > done]
            due, self._pending = due + self._pending, []
            for name, value in due:
                self.settings = self.settings.with_(**{name: value}).validated()
                self.changes.append(Change(done, name, value))
        return any(name != "color_strength" for name, _ in due)

    def network(self, extra_layers: Sequence[str] = ()) -> tuple[VGG19Features, Weights]:
        s = self.settings
        deepest = max((*s.content_layers, *s.style_layers, *extra_layers), key=LAYERS.index)
        return _network(s.weights, deepest, s.pooling, str(self.device))

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

    def plan(self, content: Image.Image, start_scale: int = 0) -> list[ScalePlan]:
        """The scales a run of ``content`` paints, from schedule index ``start_scale`` (-1: the final)."""
        schedule = self.settings.schedule()
        width, height = self.output_size(content)
        sizes = scale_sizes(content.size, width, height, [f for f, _ in schedule])
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
    ) -> StylizeResult:
        """Stylise ``content`` with ``styles`` (blended by the settings' weights) and return the result.

        ``init`` (an image, or a (1, 3, h, w) tensor in [0, 1]) is the start, whatever the settings'
        ``init`` says; without it the settings decide (content, noise, or an image path needs ``init``).
        ``start_scale`` is the schedule index the run starts at (-1: only the final scale, as for a
        warped previous video frame); earlier scales are skipped. ``terms`` join the objective.
        ``mask`` assigns regions to styles. Events go to ``on_event``; a Preview every
        ``preview_every`` iterations (0: never).
        """
        with self._lock:  # updates meant for an earlier run do not leak into this one
            s = self.settings = self.start_settings
            self.changes, self._due, self._pending = [], list(self.steering), []
        if len(styles) != len(s.styles):
            raise PainterlyError(f"{len(s.styles)} style image(s) configured but {len(styles)} given")
        check_terms(terms)
        emit = on_event or (lambda event: None)
        net, weights = self.network([layer for term in terms for layer in term.layers])
        self._room, self.canvas_bytes = None, 0.0
        self._room = self.memory_room()  # with the network in memory, and kept for this run
        self.check_fits(content, styles)
        if s.preserve_colors == "histogram":
            styles = [match_colors(style, content) for style in styles]
        torch.manual_seed(s.seed)
        generator = torch.Generator().manual_seed(s.seed)
        plans = self.plan(content, start_scale)
        if init is None and s.init == "style-colors" and mask is None:  # masks may leave regions unstyled
            # only the first scale starts from it: recolour at that size, not the photo's (prints)
            init = style_colors(content.resize(plans[0].size, Image.LANCZOS), styles, s.blend())
        state = RunState(total=sum(plan.work for plan in plans))
        builder = ObjectiveBuilder(self, net, Inputs.of(content, styles), mask, terms, generator)
        x: torch.Tensor | None = None
        for plan in plans:
            scaled = (
                fit(content, plan.longest) if not plan.final else content.resize(plan.size, Image.LANCZOS)
            )
            x = self._initial(scaled, init, generator) if x is None else _resized(x, plan.size)
            state.scale, state.canvas = plan.index, x
            emit(ScaleStarted(plan.index, plan.count, *plan.size, plan.iterations))
            x = state.canvas = self._step(plan, builder, state, emit, preview_every).paint(x, scaled)
            if self.stopped:
                break
        assert x is not None
        return self._result(content, _resized(x, self.output_size(content)), state, weights)

    def _step(
        self,
        plan: ScalePlan,
        builder: ObjectiveBuilder,
        state: RunState,
        emit: Callable[[Event], None],
        preview_every: int,
    ) -> WholeScale | TiledScale:
        def optimise(x: torch.Tensor, objective: Objective) -> torch.Tensor:
            stopped = lambda: self.stopped  # noqa: E731
            return ScaleOptimiser(
                self.settings, state, objective, plan.iterations, emit, preview_every, stopped, self.steer
            ).run(x)

        w, h = plan.size
        self.canvas_bytes = 0.0 if plan.grid is None else w * h * tiles.CANVAS_BYTES_PER_PIXEL
        if plan.grid is None:
            return WholeScale(plan, builder, optimise)
        return TiledScale(plan, builder, optimise, emit, lambda: self.stopped)

    def _result(
        self, content: Image.Image, x: torch.Tensor, state: RunState, weights: Weights
    ) -> StylizeResult:
        self.canvas_bytes = 0.0
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
            changes=tuple(self.changes),
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
        net, _ = self.network([layer for term in terms for layer in term.layers])
        generator = torch.Generator().manual_seed(self.settings.seed)
        builder = ObjectiveBuilder(self, net, Inputs.of(content, styles), mask, terms, generator)
        return builder.whole(content, max(content.size))

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


def _resized(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """``x`` at (width, height) ``size``: the warm start of the next scale (bicubic, clamped)."""
    if x.shape[-2:] == (size[1], size[0]):
        return x
    return F.interpolate(x, size=(size[1], size[0]), mode="bicubic", align_corners=False).clamp(0, 1)
