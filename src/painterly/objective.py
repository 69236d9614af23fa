"""A scale's objective: targets from the shared cache, the loss modules, the extra terms.

``ObjectiveBuilder`` holds what a run's objectives share (a ``Context``: the network's features,
the target cache, device and memory; the inputs, mask, terms and the run's state) and builds one per
scale (``whole``) or per tile of a tiled scale (``tile``). An ``Objective`` reads its weights from the
run's ``RunState`` at every call, so a weight changed while a run paints takes effect at the next
evaluation. Nothing here knows the engine that drives it.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import torch
import torch.nn.functional as F
from PIL import Image

from . import style_tiles
from .errors import PainterlyError
from .images import fit, to_bytes, to_tensor
from .layers import LAYERS
from .losses import STYLE_LOSSES, ContentLoss, SlicedWassersteinLoss, StyleLoss, tv_loss
from .state import RunState
from .targets import TargetCache, fingerprint

Features = Callable[[torch.Tensor, set[str]], dict[str, torch.Tensor]]

BUILT_IN_TERMS = ("content", "style", "tv", "total")


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


def check_terms(terms: Sequence[LossTerm]) -> None:
    names = [term.name for term in terms]
    clash = set(names) & set(BUILT_IN_TERMS) or {n for n in names if names.count(n) > 1}
    if clash:
        raise PainterlyError(f"loss term name(s) already taken: {', '.join(sorted(clash))}")
    for term in terms:
        if not isinstance(term, LossTerm):
            raise TypeError(f"{term!r} is not a LossTerm (name, weight, layers, __call__)")


@dataclass
class Inputs:
    """A run's images with their fingerprints (computed once, used in every scale's cache keys)."""

    content: Image.Image
    content_id: str
    styles: Sequence[Image.Image]
    style_ids: list[str]

    @classmethod
    def of(cls, content: Image.Image, styles: Sequence[Image.Image]) -> Inputs:
        return cls(content, fingerprint(content), list(styles), [fingerprint(s) for s in styles])


@dataclass(frozen=True)
class Context:
    """What a run's objectives need from the engine that drives them, and nothing more."""

    features: Features  # the network's activations of the named layers, at the run's precision
    targets: TargetCache
    device: torch.device
    precision: str
    key: tuple  # what targets depend on besides the images (weights, pooling, device, precision)
    room: Callable[[], float]  # bytes style statistics may take now (beside a tiled scale's canvas)


class Objective:
    """Weighted total loss of an image against fixed targets, with its parts for reporting.

    Calling it on an image (1, 3, h, w) at the objective's scale returns ``(total, parts)``: the
    weighted total to minimise and each unweighted part by name (content, style, tv, extra terms).
    ``style_losses`` holds (layer, weight, loss, style): ``style`` None for a loss over every style
    (blended inside it), else the one style of a masked region's loss.
    """

    def __init__(self, features: Features, state: RunState, content_losses, style_losses, terms=()) -> None:
        s = state.settings
        self.features, self.state, self.terms = features, state, tuple(terms)
        self.content_losses, self.style_losses = content_losses, style_losses
        self._blend: tuple[float, ...] | None = None  # the blend the weights below were made for
        self._weights: list[float] = []
        self.wanted = set(s.content_layers) | set(s.style_layers) | {name for t in terms for name in t.layers}
        # Whether an evaluation may be captured as a CUDA graph (``painterly.graphs``): no host reads
        # (a masked loss sums its mask), no random draws (sliced Wasserstein), no user code (terms).
        self.capturable = not self.terms and all(
            style is None and loss.mask is None and not isinstance(loss, SlicedWassersteinLoss)
            for _, _, loss, style in style_losses
        )

    def _weigh(self, blend: list[float]) -> None:
        """Weigh the styles by ``blend`` (the settings' in force): a loss over every style re-blends
        its targets; a masked region's counts its style's share against an equal share (1 when equal),
        so a blend changed while a masked run paints moves it too."""
        self._weights = []
        for _, weight, loss, style in self.style_losses:
            if style is None:
                loss.reblend(blend)
            self._weights.append(weight if style is None else weight * len(blend) * blend[style])

    def __call__(self, x: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        s = self.state.settings
        if s.style_blend != self._blend:  # the first call, or steered while the run paints
            self._blend = s.style_blend
            self._weigh(s.blend())
        feats = self.features(x, self.wanted)
        content = sum(
            (loss(feats[name]) for name, loss in zip(s.content_layers, self.content_losses, strict=True)),
            x.new_zeros(()),
        )
        content = content / max(1, len(self.content_losses))
        style = sum(
            (
                weight * loss(feats[layer])
                for weight, (layer, _, loss, _) in zip(self._weights, self.style_losses, strict=True)
            ),
            x.new_zeros(()),
        )
        tv = tv_loss(x) if s.tv_weight else x.new_zeros(())
        parts = {"content": content, "style": style, "tv": tv}
        total = s.content_weight * content + s.style_weight * style + s.tv_weight * tv
        for term in self.terms:
            parts[term.name] = term(x, feats)
            total = total + term.weight * parts[term.name]
        return total, parts


class ObjectiveBuilder:
    """Builds each scale's (or tile's) objective of one run from the shared target cache."""

    def __init__(
        self,
        context: Context,
        state: RunState,
        inputs: Inputs,
        mask: Image.Image | None,
        terms: Sequence[LossTerm],
    ) -> None:
        self.context, self.state, self.inputs = context, state, inputs
        self.mask, self.terms = mask, tuple(terms)

    def whole(self, scaled: Image.Image, longest: int) -> Objective:
        """The objective of a scale that runs whole: ``scaled`` is the content at that scale."""
        return self._build(self.inputs, scaled, longest, self.mask, self.terms)

    @torch.no_grad()
    def prepare_tiles(self, longest: int) -> None:
        """Compute a tiled scale's style statistics into the target cache before its canvas is made,
        so their peak does not stack on the canvas and its unpainted copy (the 8192 px draft's peak)."""
        self._style_stats(self.inputs, max(1, round(longest * self.state.settings.style_scale)))

    def tile(
        self,
        size: tuple[int, int],
        longest: int,
        crop: Image.Image,
        crop_mask: Image.Image | None,
        box: tuple[int, int, int, int],
    ) -> Objective:
        """A tile's objective: its crop's content targets, the whole scale's style targets, and the
        terms' parts of this tile (see ``LossTerm``)."""
        inputs = self.inputs
        tile = Inputs(crop, f"{inputs.content_id}@{size}{box}", inputs.styles, inputs.style_ids)
        parts = [getattr(term, "for_tile", lambda box, size: None)(box, size) for term in self.terms]
        # Not cached: a print's tiles mostly outnumber the cache's eight content entries (an 8192 px
        # draft paints 89), so a later run of a sweep seldom found one, and the last eight held ~200 MB
        # into the next scale (5793 px tiles).
        return self._build(tile, crop, longest, crop_mask, [p for p in parts if p is not None], cache=False)

    @torch.no_grad()
    def _build(
        self,
        inputs: Inputs,
        scaled: Image.Image,
        longest: int,
        mask: Image.Image | None,
        terms: Sequence[LossTerm],
        cache: bool = True,
    ) -> Objective:
        ctx, s = self.context, self.state.settings
        content = to_tensor(scaled).to(ctx.device)
        content_key = (inputs.content_id, scaled.size, s.content_layers, *ctx.key)
        make = lambda: ctx.features(content, set(s.content_layers))  # noqa: E731
        content_feats = ctx.targets.get("content", content_key, make) if cache else make()
        content_losses = [ContentLoss(content_feats[name]) for name in s.content_layers]
        style_stats = self._style_stats(inputs, max(1, round(longest * s.style_scale)))
        loss_type = STYLE_LOSSES[s.style_loss]
        extra = {"generator": self.state.generator} if loss_type is SlicedWassersteinLoss else {}
        style_losses = []
        regions = _regions(mask, content.shape[-1], content.shape[-2], s.mask_styles, len(inputs.styles))
        for layer, layer_weight in zip(s.style_layers, s.layer_weights(), strict=True):
            targets = [stats[layer] for stats in style_stats]
            if regions is None:
                style_losses.append((layer, layer_weight, loss_type(targets, s.blend(), **extra), None))
                continue
            layer_size = _layer_size(content, layer)
            for style_index, region in regions:
                region = region.to(ctx.device)
                layer_mask = F.interpolate(region, size=layer_size, mode="area")
                module = loss_type([targets[style_index]], [1.0], mask=layer_mask, **extra)
                style_losses.append((layer, layer_weight * float(region.mean()), module, style_index))
        return Objective(ctx.features, self.state, content_losses, style_losses, terms)

    def _style_stats(self, inputs: Inputs, style_longest: int) -> list[dict[str, tuple]]:
        ctx, s = self.context, self.state.settings
        loss_type = STYLE_LOSSES[s.style_loss]
        return [
            ctx.targets.get(
                "style",
                (style_id, style_longest, s.style_layers, s.style_loss, *ctx.key),
                functools.partial(self.style_targets, style, style_longest, loss_type),
            )
            for style, style_id in zip(inputs.styles, inputs.style_ids, strict=True)
        ]

    def style_targets(self, style: Image.Image, longest: int, loss_type: type[StyleLoss]) -> dict[str, tuple]:
        """A style image's statistics at ``longest`` px, summed over tiles when it is too large."""
        ctx, s = self.context, self.state.settings
        fitted = fit(style, longest)
        layers = s.style_layers
        room = ctx.room()
        if style_tiles.check_style(*fitted.size, ctx.precision, room, s.style_loss):
            side = style_tiles.style_tile_side(ctx.precision, room)
            image = to_bytes(fitted).to(ctx.device)  # its tiles become floats one at a time
            return style_tiles.style_statistics(ctx.features, image, layers, loss_type.statistics, side)
        feats = ctx.features(to_tensor(fitted).to(ctx.device), set(layers))
        return {layer: loss_type.target(feats[layer]) for layer in layers}


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
    colors, first = np.unique(codes, return_index=True)
    colors = colors[np.argsort(first)]
    out = []
    for i, color in enumerate(colors):
        style = mapping[i] if i < len(mapping) else (i if i < n_styles else -1)
        if style < 0:
            continue
        out.append(
            (style, torch.from_numpy((codes == color).reshape(1, 1, height, width).astype(np.float32)))
        )
    return out
