"""The optimisation loop: targets once per scale, coarse-to-fine schedule, L-BFGS/Adam, events.

The engine takes PIL images and a ``Settings`` value and returns a ``StylizeResult``. It never prints,
reads argv or writes files: progress goes out as typed events to a callback, and a ``StopToken`` (set
from any thread or a signal handler) makes ``run`` return the best image so far.

Seams for the faces built on it (grid, video, batch, explain): extra ``LossTerm``s join the objective,
an init image can start any scale of the schedule, a ``TargetCache`` shares targets between runs, and
one ``StopToken`` can end several runs.
"""

from __future__ import annotations

import functools
import math
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import torch
import torch.nn.functional as F
from PIL import Image

from . import hardware, tiles
from .errors import PainterlyError
from .hardware import LBFGS_HISTORY, resolve_device, resolve_precision
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
from .losses import STYLE_LOSSES, ContentLoss, SlicedWassersteinLoss, StyleLoss, tv_loss
from .network import VGG19Features, Weights, load_weights
from .settings import Settings
from .targets import TargetCache, fingerprint
from .tiles import TileStarted

# --- events --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ScaleStarted:
    index: int  # 0-based
    count: int
    width: int
    height: int
    iterations: int


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


# --- seams -------------------------------------------------------------------------------------


class StopToken:
    """Asks runs to end early; one token can be shared by every run of a sweep, batch or video."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def stop(self) -> None:
        self._event.set()

    @property
    def stopped(self) -> bool:
        return self._event.is_set()


@runtime_checkable
class LossTerm(Protocol):
    """An extra term of the objective: ``weight * term(image, features)``.

    ``image`` is the current iterate (1, 3, h, w) in [0, 1] at the running scale; ``features`` holds
    the activations of ``layers`` (names from ``painterly.layers.LAYERS``) for it. A term that compares
    pixels resizes its own target to ``image``'s size, as the scales change. A term may also offer
    ``for_tile(box, size) -> LossTerm | None``, its part of one tile of a scale too large to run whole
    (``box`` in pixels of a ``size`` scale); terms without it sit out tiled scales.
    """

    name: str
    weight: float
    layers: tuple[str, ...]

    def __call__(self, image: torch.Tensor, features: Mapping[str, torch.Tensor]) -> torch.Tensor: ...


_BUILT_IN_TERMS = ("content", "style", "tv", "total")


@functools.cache
def _skip_dynamo_import() -> None:
    """Spare ~2 s of start-up: torch.optim imports torch._dynamo on the first optimiser only to mark
    ``add_param_group``/``zero_grad`` as never-compiled. painterly never compiles, so fill torch's own
    per-function cache (``__dynamo_disable``) with the plain function. Harmless if torch changes."""
    import sys

    if "torch._dynamo" in sys.modules:
        return
    for method in (torch.optim.Optimizer.add_param_group, torch.optim.Optimizer.zero_grad):
        raw = getattr(method, "__wrapped__", None)
        if raw is not None and getattr(raw, "__dynamo_disable", None) is None:
            raw.__dynamo_disable = raw


@functools.lru_cache(maxsize=4)
def _network(weights_spec: str, last: str, pooling: str, device: str) -> tuple[VGG19Features, Weights]:
    weights = load_weights(weights_spec)
    net = VGG19Features(weights, last, pooling).to(device)
    return net.to(memory_format=torch.channels_last), weights


# --- the engine ---------------------------------------------------------------------------------


class Stylizer:
    """Runs stylisations with one ``Settings``. Create, then ``run``; ``stop()`` ends a run early."""

    def __init__(
        self, settings: Settings, *, targets: TargetCache | None = None, stop: StopToken | None = None
    ) -> None:
        """``targets``: a cache shared by runs that reuse input images (a sweep of weights, a batch with
        one style, a video), so their targets are computed once. ``stop``: a token shared by runs that
        one request must end together."""
        self.settings = settings.validated()
        self.targets = targets if targets is not None else TargetCache()
        self.token = stop if stop is not None else StopToken()
        self._room: float | None = None
        self._canvas = 0.0  # bytes a tiled scale's whole-image canvas holds, beside its tiles
        self.device = resolve_device(settings.device)
        self.precision = resolve_precision(settings.precision, self.device)
        if self.device.type == "cuda":
            torch.backends.cuda.matmul.allow_tf32 = True
            torch.backends.cudnn.allow_tf32 = True
            torch.backends.cudnn.benchmark = True

    def stop(self) -> None:
        self.token.stop()

    @property
    def stopped(self) -> bool:
        return self.token.stopped

    def network(self, extra_layers: Sequence[str] = ()) -> tuple[VGG19Features, Weights]:
        s = self.settings
        deepest = max((*s.content_layers, *s.style_layers, *extra_layers), key=LAYERS.index)
        return _network(s.weights, deepest, s.pooling, str(self.device))

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
        s = self.settings
        if len(styles) != len(s.styles):
            raise PainterlyError(f"{len(s.styles)} style image(s) configured but {len(styles)} given")
        _check_terms(terms)
        emit = on_event or (lambda event: None)
        width, height = self.output_size(content)
        net, weights = self.network([layer for term in terms for layer in term.layers])
        self._room, self._canvas = None, 0.0
        self._room = room = self.memory_room()  # with the network in memory, and kept for this run
        self.check_fits(content, styles)
        if s.preserve_colors == "histogram":
            styles = [match_colors(style, content) for style in styles]
        torch.manual_seed(s.seed)
        generator = torch.Generator().manual_seed(s.seed)
        schedule = s.schedule()
        first = range(len(schedule))[start_scale]
        sizes = scale_sizes(content.size, width, height, [f for f, _ in schedule])
        if init is None and s.init == "style-colors" and mask is None:  # masks may leave regions unstyled
            # only the first scale starts from it: recolour at that size, not the photo's (prints)
            init = style_colors(content.resize(sizes[first], Image.LANCZOS), styles, s.blend())
        total = sum(
            iters * tiles.count(*sizes[i], self.precision, room, iters)
            for i, (_, iters) in enumerate(schedule)
            if i >= first
        )
        run = _Run(self, emit, preview_every, total)
        inputs = _Inputs(content, fingerprint(content), styles, [fingerprint(style) for style in styles])
        x: torch.Tensor | None = None
        for index in range(first, len(schedule)):
            fraction, iters = schedule[index]
            longest = max(1, round(max(width, height) * fraction))
            scaled = (
                fit(content, longest)
                if index < len(schedule) - 1
                else content.resize((width, height), Image.LANCZOS)
            )
            h, w = scaled.height, scaled.width
            if x is None:
                x = self._initial(scaled, init, generator)
            else:
                x = F.interpolate(x, size=(h, w), mode="bicubic", align_corners=False).clamp(0, 1)
            emit(ScaleStarted(index, len(schedule), w, h, iters))
            grid = tiles.plan(w, h, self.precision, room, iters)
            self._canvas = 0.0 if grid is None else w * h * tiles.CANVAS_BYTES_PER_PIXEL
            if grid is None:
                objective = self._objective(net, inputs, scaled, longest, mask, terms, generator)
                x = run.optimise(x, objective, iters, index)
                del objective  # its targets and activations go before the next scale builds its own
                hardware.release_memory(self.device)
            else:  # too large for one pass: tiles against the global style targets
                x = tiles.optimise(
                    x,
                    grid,
                    scaled,
                    mask,
                    functools.partial(self._tile_objective, net, inputs, (w, h), longest, terms, generator),
                    functools.partial(run.optimise, iterations=iters, scale=index),
                    emit,
                    lambda: self.stopped,
                    index,
                )
            if self.stopped:
                break
        assert x is not None
        self._canvas = 0.0
        if x.shape[-2:] != (height, width):
            x = F.interpolate(x, size=(height, width), mode="bicubic", align_corners=False).clamp(0, 1)
        image = to_image(x)
        if s.preserve_colors == "luminance":
            image = keep_colors(image, content, s.color_strength)
        return StylizeResult(
            image=image,
            tensor=x.detach().float().cpu(),
            settings=s,
            iterations=run.done,
            elapsed=time.perf_counter() - run.start,
            interrupted=self.stopped,
            losses=run.last_losses,
            weights_sha256=weights.sha256,
            device=self.device.type,
            precision=self.precision,
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
        _check_terms(terms)
        net, _ = self.network([layer for term in terms for layer in term.layers])
        inputs = _Inputs(content, fingerprint(content), list(styles), [fingerprint(s) for s in styles])
        generator = torch.Generator().manual_seed(self.settings.seed)
        return self._objective(net, inputs, content, max(content.size), mask, terms, generator)

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

    def _network_key(self) -> tuple:
        s = self.settings
        return (s.weights, s.pooling, str(self.device), self.precision)

    @torch.no_grad()
    def _objective(
        self,
        net: VGG19Features,
        inputs: _Inputs,
        scaled: Image.Image,
        longest: int,
        mask: Image.Image | None,
        terms: Sequence[LossTerm],
        generator: torch.Generator,
    ) -> Objective:
        s = self.settings
        content = to_tensor(scaled).to(self.device)
        content_key = (inputs.content_id, scaled.size, s.content_layers, *self._network_key())
        content_feats = self.targets.get(
            "content", content_key, lambda: self._features(net, content, set(s.content_layers))
        )
        content_losses = [ContentLoss(content_feats[name]) for name in s.content_layers]
        style_longest = max(1, round(longest * s.style_scale))
        loss_type = STYLE_LOSSES[s.style_loss]
        style_stats = [
            self.targets.get(
                "style",
                (style_id, style_longest, s.style_layers, s.style_loss, *self._network_key()),
                functools.partial(self._style_targets, net, style, style_longest, loss_type),
            )
            for style, style_id in zip(inputs.styles, inputs.style_ids, strict=True)
        ]
        extra = {"generator": generator} if loss_type is SlicedWassersteinLoss else {}
        style_losses = []
        regions = _regions(mask, content.shape[-1], content.shape[-2], s.mask_styles, len(inputs.styles))
        for layer, layer_weight in zip(s.style_layers, s.layer_weights(), strict=True):
            targets = [stats[layer] for stats in style_stats]
            if regions is None:
                style_losses.append((layer, layer_weight, loss_type(targets, s.blend(), **extra)))
                continue
            for style_index, region in regions:
                layer_h, layer_w = _layer_size(content, layer)
                region = region.to(self.device)
                layer_mask = F.interpolate(region, size=(layer_h, layer_w), mode="area")
                module = loss_type([targets[style_index]], [1.0], mask=layer_mask, **extra)
                style_losses.append((layer, layer_weight * float(region.mean()), module))
        return Objective(self, net, content_losses, style_losses, terms)

    def _tile_objective(
        self,
        net: VGG19Features,
        inputs: _Inputs,
        size: tuple[int, int],
        longest: int,
        terms: Sequence[LossTerm],
        generator: torch.Generator,
        crop: Image.Image,
        crop_mask: Image.Image | None,
        box: tuple[int, int, int, int],
    ) -> Objective:
        """A tile's objective: its crop's content targets, the whole scale's style targets, and the
        terms' parts of this tile (see ``LossTerm``)."""
        tile = _Inputs(crop, f"{inputs.content_id}@{size}{box}", inputs.styles, inputs.style_ids)
        parts = [getattr(term, "for_tile", lambda box, size: None)(box, size) for term in terms]
        return self._objective(
            net, tile, crop, longest, crop_mask, [p for p in parts if p is not None], generator
        )

    def _style_targets(
        self, net: VGG19Features, style: Image.Image, longest: int, loss_type: type[StyleLoss]
    ) -> dict[str, tuple]:
        image = to_tensor(fit(style, longest)).to(self.device)
        layers = self.settings.style_layers
        room = self.memory_room() - self._canvas  # a tiled scale's canvas is already held
        if tiles.check_style(
            image.shape[-1], image.shape[-2], self.precision, room, self.settings.style_loss
        ):
            side = tiles.style_tile_side(self.precision, room)
            features = functools.partial(self._features, net)
            return tiles.style_statistics(features, image, layers, loss_type.statistics, side)
        feats = self._features(net, image, set(layers))
        return {layer: loss_type.target(feats[layer]) for layer in self.settings.style_layers}


@dataclass
class _Inputs:
    """A run's images with their fingerprints (computed once, used in every scale's cache keys)."""

    content: Image.Image
    content_id: str
    styles: Sequence[Image.Image]
    style_ids: list[str]


def _check_terms(terms: Sequence[LossTerm]) -> None:
    names = [term.name for term in terms]
    clash = set(names) & set(_BUILT_IN_TERMS) or {n for n in names if names.count(n) > 1}
    if clash:
        raise PainterlyError(f"loss term name(s) already taken: {', '.join(sorted(clash))}")
    for term in terms:
        if not isinstance(term, LossTerm):
            raise TypeError(f"{term!r} is not a LossTerm (name, weight, layers, __call__)")


def _layer_size(content: torch.Tensor, layer: str) -> tuple[int, int]:
    h, w = content.shape[-2:]
    for name in LAYERS[: LAYERS.index(layer) + 1]:
        if name.startswith("pool"):
            h, w = math.ceil(h / 2), math.ceil(w / 2)
    return h, w


def _regions(
    mask: Image.Image | None, width: int, height: int, mapping: tuple[int, ...], n_styles: int
) -> list[tuple[int, torch.Tensor]] | None:
    """Per styled region: (style index, (1, 1, H, W) float mask). Colours count in order of first appearance."""
    if mask is None:
        return None
    import numpy as np

    pixels = np.asarray(mask.convert("RGB").resize((width, height), Image.NEAREST)).reshape(-1, 3)
    codes = pixels[:, 0].astype(np.int64) << 16 | pixels[:, 1].astype(np.int64) << 8 | pixels[:, 2]
    colours, first = np.unique(codes, return_index=True)
    colours = colours[np.argsort(first)]
    out = []
    for i, colour in enumerate(colours):
        style = mapping[i] if i < len(mapping) else (i if i < n_styles else -1)
        if style < 0:
            continue
        out.append(
            (style, torch.from_numpy((codes == colour).reshape(1, 1, height, width).astype(np.float32)))
        )
    return out


class Objective:
    """Weighted total loss of an image against fixed targets, with its parts for reporting.

    Calling it on an image (1, 3, h, w) at the objective's scale returns ``(total, parts)``: the
    weighted total to minimise and each unweighted part by name (content, style, tv, extra terms).
    """

    def __init__(self, stylizer: Stylizer, net, content_losses, style_losses, terms=()) -> None:
        s = stylizer.settings
        self.stylizer, self.net, self.terms = stylizer, net, tuple(terms)
        self.content_losses, self.style_losses = content_losses, style_losses
        self.wanted = set(s.content_layers) | set(s.style_layers) | {name for t in terms for name in t.layers}

    def __call__(self, x: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        s = self.stylizer.settings
        feats = self.stylizer._features(self.net, x, self.wanted)
        content = sum(
            (loss(feats[name]) for name, loss in zip(s.content_layers, self.content_losses, strict=True)),
            x.new_zeros(()),
        )
        content = content / max(1, len(self.content_losses))
        style = sum(
            (weight * loss(feats[layer]) for layer, weight, loss in self.style_losses), x.new_zeros(())
        )
        tv = tv_loss(x) if s.tv_weight else x.new_zeros(())
        parts = {"content": content, "style": style, "tv": tv}
        total = s.content_weight * content + s.style_weight * style + s.tv_weight * tv
        for term in self.terms:
            parts[term.name] = term(x, feats)
            total = total + term.weight * parts[term.name]
        return total, parts


class _Run:
    """State of one run across scales: counters, the latest losses, the event sink."""

    def __init__(self, stylizer: Stylizer, emit, preview_every: int, total: int) -> None:
        self.stylizer, self.emit, self.preview_every, self.total = stylizer, emit, preview_every, total
        self.done = 0
        self.start = time.perf_counter()
        self.last_losses: dict[str, float] = {}

    def optimise(self, x: torch.Tensor, objective: Objective, iterations: int, scale: int) -> torch.Tensor:
        """Spend ``iterations`` objective evaluations from ``x``; return the best iterate (or the EMA).

        L-BFGS runs with a strong-Wolfe line search, so it never accepts a step that raises the
        objective (a fixed step overshoots after a change of scale); each evaluation counts as one
        iteration, so costs are what the progress bar shows.
        """
        s = self.stylizer.settings
        x = x.detach().clone().requires_grad_(True)
        best: list = [math.inf, x.detach().clone()]
        decay = s.ema_decay()
        ema = x.detach().clone() if decay else None
        budget = [iterations]

        def closure() -> torch.Tensor:
            if self.stylizer.stopped or budget[0] <= 0:
                raise _Stop
            budget[0] -= 1
            optimizer.zero_grad(set_to_none=True)
            total, parts = objective(x)
            total.backward()
            value = float(total.detach())
            losses = {k: float(v.detach()) for k, v in parts.items()} | {"total": value}
            if value < best[0]:
                best[0], best[1] = value, x.detach().clone()
            if ema is not None:
                ema.mul_(decay).add_(x.detach(), alpha=1 - decay)
            self.done += 1
            elapsed = time.perf_counter() - self.start
            self.last_losses = losses
            self.emit(Iteration(self.done, self.total, scale, losses, elapsed))
            if self.preview_every and self.done % self.preview_every == 0:
                self.emit(Preview(self.done, to_image(x)))
            return total

        _skip_dynamo_import()
        if s.optimizer == "adam":
            optimizer: torch.optim.Optimizer = torch.optim.Adam([x], lr=s.learning_rate or 0.02)
        else:
            optimizer = torch.optim.LBFGS(
                [x],
                lr=s.learning_rate or 1.0,
                max_iter=iterations,
                max_eval=iterations,
                history_size=LBFGS_HISTORY,
                tolerance_grad=0.0,
                tolerance_change=0.0,
                line_search_fn="strong_wolfe",
            )
        try:
            while budget[0] > 0:
                optimizer.step(closure)
        except _Stop:
            pass
        if ema is not None:
            # Asked-for averaging is the output: it trades a little objective for less noise.
            return ema.clamp(0, 1)
        # The last accepted step may not have been evaluated: score it against the best seen.
        with torch.no_grad():
            if float(objective(x.detach())[0]) < best[0]:
                best[1] = x.detach().clone()
        return best[1].clamp(0, 1)


class _Stop(Exception):
    """Raised inside the optimiser's closure to end a scale (budget spent or stop requested)."""
