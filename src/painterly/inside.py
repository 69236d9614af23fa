"""See inside (`painterly explain`): the method's own figures (Gatys et al. 2015, Figure 1) for any image.

Four rows of panels, each an image with a one-line caption: what each layer's content features keep
(images optimised from noise to match only them), what Gram matrices of growing sets of layers keep
(the same for style), the strongest feature maps, and the style's Gram matrices (plus, given a finished
stylisation, how well it matches each layer). A face over the engine: every reconstruction is an
ordinary run (``jobs.Job``, as every face makes them) with one loss switched off, and face
protection off: a panel shows what its layers alone keep.

The paper's layer names (conv1_2, ...) denote Caffe blobs that its in-place ReLUs overwrite, so its
figures show ReLU outputs: the defaults here are the matching ``relu`` layers, the kind the
stylisation itself uses.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from PIL import Image, ImageDraw

from .engine import Event, StopToken, Stylizer
from .errors import PainterlyError
from .images import ImageSource, fit, load_image, to_tensor
from .jobs import Job
from .layers import FIGURE1_CONTENT_LAYERS, check_layers
from .losses import GramLoss, gram_matrix
from .settings import DEFAULT_STYLE_LAYERS, Settings, check_panel_size
from .sheets import Panel, bar_chart, colormap, sized_font
from .targets import TargetCache

CHANNELS_SHOWN = 4  # strongest channels per feature-map mosaic (a 2x2 grid)
GRAM_CHANNELS = 64  # strongest channels per Gram heat map: more would be sub-pixel cells
# Reconstruction effort per mode: (iterations at the final scale, at the coarsest scale). From noise,
# coarse-to-fine finds the layout of deep layers at low resolution, where iterations are cheap.
EFFORT = {"full": (10, 40), "quick": (8, 24)}
DEFAULT_SIZE = {"full": 512, "quick": 256}

ROW_CONTENT = "content reconstructions"
ROW_STYLE = "style reconstructions"
ROW_FEATURES = "feature maps"
ROW_GRAMS = "style statistics"


@dataclass(frozen=True)
class PanelStarted:
    index: int  # 0-based
    count: int
    title: str


@dataclass(frozen=True)
class PanelDone:
    index: int
    count: int
    panel: Panel


def explain(
    content: ImageSource,
    style: ImageSource | None = None,
    *,
    size: int | None = None,
    layers: Sequence[str] = FIGURE1_CONTENT_LAYERS,
    style_layers: Sequence[str] = DEFAULT_STYLE_LAYERS,
    quick: bool = False,
    result: ImageSource | None = None,
    on_event: Callable[[Any], None] | None = None,
    stop: StopToken | None = None,
    seed: int = 0,
) -> list[Panel]:
    """The panels for ``content`` (and ``style``), in sheet order.

    ``size``: longest side of the reconstructions (default 512, or 256 with ``quick``, which also
    spends fewer iterations). ``layers``: content layers to reconstruct and show; ``style_layers``:
    the style layers, reconstructed cumulatively. ``result``: a finished stylisation of ``content``
    after ``style``, whose per-layer style loss becomes one more panel. Events: ``PanelStarted``,
    ``PanelDone`` and the engine's events during reconstructions. After ``stop.stop()`` the panels
    finished so far come back.
    """
    mode = "quick" if quick else "full"
    size = DEFAULT_SIZE[mode] if size is None else size
    check_panel_size(size)
    layers, style_layers = tuple(layers), tuple(style_layers)
    if not layers or not style_layers:
        raise PainterlyError("give at least one layer and one style layer")
    check_layers([*layers, *style_layers])
    photo = load_image(content, "content image")
    painting = load_image(style, "style image") if style is not None else None
    finished = load_image(result, "result image") if result is not None else None
    if finished is not None and painting is None:
        raise PainterlyError("--result needs the STYLE it was painted after, to measure its style loss")
    token, emit = stop or StopToken(), on_event or (lambda event: None)
    inputs = _Inputs(fit(photo, size), photo, painting, finished, _base(size, mode, seed), token, emit)
    plan = _plan(inputs, layers, style_layers)
    panels: list[Panel] = []
    for index, (title, make) in enumerate(plan):
        if token.stopped:
            break
        inputs.emit(PanelStarted(index, len(plan), title))
        panel = make()
        if token.stopped:  # a reconstruction cut short is not what its caption promises
            break
        panels.append(panel)
        inputs.emit(PanelDone(index, len(plan), panel))
    return panels


def _base(size: int, mode: str, seed: int) -> Settings:
    """The settings every reconstruction starts from: from noise, ``mode``'s effort, no face protection."""
    base = Settings(
        content="<content>",
        styles=("<content>",),
        size=size,
        init="noise",
        seed=seed,
        iterations=EFFORT[mode][0],
        coarse_iterations=EFFORT[mode][1],
        protect_faces=False,
    )
    if len(base.schedule()) == 1:  # small sizes run one scale: give it the coarse scale's budget
        return base.with_(iterations=EFFORT[mode][1])
    return base


@dataclass
class _Inputs:
    photo: Image.Image  # the content at the reconstructions' size
    source: Image.Image  # the content as loaded, to compare with a result of any size
    painting: Image.Image | None
    finished: Image.Image | None
    base: Settings
    token: StopToken
    emit: Callable[[Event | PanelStarted | PanelDone], None]
    targets: TargetCache = field(default_factory=TargetCache)  # shared by the reconstructions


def _plan(inputs: _Inputs, layers: tuple[str, ...], style_layers: tuple[str, ...]) -> list:
    """(title, make panel) in sheet order, so progress knows the count before any work."""
    plan: list[tuple[str, Callable[[], Panel]]] = [
        (
            "content",
            lambda: Panel(
                "content", "the photo every reconstruction below tries to match", inputs.photo, ROW_CONTENT
            ),
        )
    ]
    plan += [(f"content {layer}", lambda layer=layer: _content_panel(inputs, layer)) for layer in layers]
    if inputs.painting is not None:
        plan.append(("style", lambda: _style_input_panel(inputs)))
        plan += [
            (
                f"style {'+'.join(style_layers[: k + 1])}",
                lambda k=k: _style_panel(inputs, style_layers[: k + 1]),
            )
            for k in range(len(style_layers))
        ]
    plan += [(f"features {layer}", lambda layer=layer: _features_panel(inputs, layer)) for layer in layers]
    if inputs.painting is not None:
        plan += [(f"gram {layer}", lambda layer=layer: _gram_panel(inputs, layer)) for layer in style_layers]
        if inputs.finished is not None:
            plan.append(("style loss per layer", lambda: _loss_panel(inputs, style_layers)))
    return plan


# --- reconstructions ------------------------------------------------------------------------------


def _reconstruct(inputs: _Inputs, settings: Settings, style: Image.Image) -> Image.Image:
    job = Job(settings, targets=inputs.targets, stop=inputs.token)
    return job.stylize(inputs.emit, inputs=(inputs.photo, [style], None, None)).image


def _content_panel(inputs: _Inputs, layer: str) -> Panel:
    # Settings need a style layer: the cheapest one, weighted 0, against the photo itself.
    settings = inputs.base.with_(content_layers=(layer,), style_layers=("relu1_1",), style_weight=0.0)
    image = _reconstruct(inputs, settings, inputs.photo)
    return Panel(
        f"content from {layer}",
        f"from noise, matching only {layer}'s features of the photo: {_depth_note(layer)}",
        image,
        ROW_CONTENT,
    )


def _depth_note(layer: str) -> str:
    block = int(layer[4])  # conv3_2, relu3_2, pool3 -> 3
    if block <= 2:
        return "pixels almost exact"
    if block == 3:
        return "detail kept, colours start to drift"
    return "the arrangement survives, the exact pixels do not"


def _style_input_panel(inputs: _Inputs) -> Panel:
    assert inputs.painting is not None
    image = fit(inputs.painting, max(inputs.photo.size))
    return Panel("style", "the painting whose Gram matrices the reconstructions match", image, ROW_STYLE)


def _style_panel(inputs: _Inputs, layers: tuple[str, ...]) -> Panel:
    assert inputs.painting is not None
    settings = inputs.base.with_(content_layers=(), style_layers=layers, content_weight=0.0, style_weight=1.0)
    image = _reconstruct(inputs, settings, inputs.painting)
    span = layers[0] if len(layers) == 1 else f"{layers[0]} to {layers[-1]}"
    return Panel(
        f"style from {span}",
        f"from noise, matching only the Gram matrices of {', '.join(layers)}: texture at a growing scale",
        image,
        ROW_STYLE,
    )


# --- feature maps, Gram matrices, per-layer loss -------------------------------------------------------


def _features(inputs: _Inputs, image: Image.Image, layers: Sequence[str]) -> dict[str, torch.Tensor]:
    """Activations of ``layers`` for ``image`` at its own size, on the engine's network and device."""
    stylizer = Stylizer(inputs.base.with_(content_layers=tuple(layers), style_layers=("relu1_1",)))
    net, _ = stylizer.network()
    with torch.no_grad():
        out = net(to_tensor(image).to(stylizer.device), set(layers))
    return {name: value.detach().float().cpu() for name, value in out.items()}


def _features_panel(inputs: _Inputs, layer: str) -> Panel:
    feats = _features(inputs, inputs.photo, [layer])[layer][0]  # (C, h, w)
    strongest = feats.mean(dim=(1, 2)).argsort(descending=True)[:CHANNELS_SHOWN].tolist()
    width, height = inputs.photo.size
    cell = (width // 2, height // 2)
    mosaic = Image.new("RGB", (cell[0] * 2, cell[1] * 2), "white")
    draw = ImageDraw.Draw(mosaic)
    font = sized_font(max(10, cell[0] // 12))
    for i, channel in enumerate(strongest):
        values = feats[channel].numpy()
        values = values / values.max() if values.max() > 0 else values
        tile = Image.fromarray(colormap(values)).resize(cell, Image.NEAREST)
        x, y = (i % 2) * cell[0], (i // 2) * cell[1]
        mosaic.paste(tile, (x, y))
        draw.text((x + 3, y + 2), f"#{channel}", fill="white", font=font, stroke_width=2, stroke_fill="black")
    h, w = feats.shape[1:]
    return Panel(
        f"{layer} feature maps",
        f"{len(strongest)} of {feats.shape[0]} channels ({w}x{h}) strongest on the photo, bright = active",
        mosaic,
        ROW_FEATURES,
    )


def _gram_panel(inputs: _Inputs, layer: str) -> Panel:
    assert inputs.painting is not None
    painting = fit(inputs.painting, max(inputs.photo.size))
    gram = gram_matrix(_features(inputs, painting, [layer])[layer]).numpy()
    n = gram.shape[0]
    # The strongest channels first, and only as many as stay legible; log scale, because a few channel
    # pairs dominate and the rest of the structure is orders of magnitude smaller.
    order = np.argsort(-np.diag(gram))[:GRAM_CHANNELS]
    shown = gram[np.ix_(order, order)]
    logs = np.log10(np.maximum(shown, 1e-4 * float(shown.max())) + 1e-30)
    side = min(inputs.photo.size)
    image = Image.fromarray(colormap((logs - logs.min()) / max(float(logs.max() - logs.min()), 1e-12)))
    image = image.resize((side, side), Image.NEAREST)
    return Panel(
        f"Gram matrix {layer}",
        f"{len(order)} strongest of {n} channels, co-activation on the painting (log): what the style loss sees",
        image,
        ROW_GRAMS,
    )


def _loss_panel(inputs: _Inputs, layers: tuple[str, ...]) -> Panel:
    """Per-layer Gram loss of the finished stylisation, beside the photo's own (where the run started)."""
    assert inputs.finished is not None and inputs.painting is not None
    finished = inputs.finished
    photo = inputs.source.resize(finished.size, Image.LANCZOS)
    painting = fit(inputs.painting, max(finished.size))
    ours, theirs, target = (_features(inputs, image, layers) for image in (finished, photo, painting))
    rows = []
    for layer in layers:
        loss = GramLoss([GramLoss.target(target[layer])], [1.0])
        rows.append((layer, float(loss(theirs[layer])), float(loss(ours[layer]))))
    image = bar_chart(rows, inputs.photo.size, ("photo", "result"))
    return Panel(
        "style loss per layer",
        "Gram loss of the photo (grey) and the result (colour): a short bar = that layer is matched",
        image,
        ROW_GRAMS,
    )
