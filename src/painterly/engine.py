"""The optimisation loop: targets once per scale, coarse-to-fine schedule, L-BFGS/Adam, events.

The engine takes PIL images and a ``Settings`` value and returns a ``StylizeResult``. It never prints,
reads argv or writes files: progress goes out as typed events to a callback, and ``stop()`` (from any
thread or a signal handler) makes ``run`` return the best image so far.
"""

from __future__ import annotations

import functools
import math
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from PIL import Image

from .errors import PainterlyError
from .images import fit, fitted_size, keep_colors, match_colors, to_image, to_tensor
from .losses import STYLE_LOSSES, ContentLoss, SlicedWassersteinLoss, tv_loss
from .network import LAYERS, VGG19Features, Weights, load_weights
from .settings import Settings

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
    losses: dict[str, float]  # content, style, tv, total (weighted)
    elapsed: float


@dataclass(frozen=True)
class Preview:
    iteration: int
    image: Image.Image


Event = ScaleStarted | Iteration | Preview


@dataclass
class StylizeResult:
    image: Image.Image
    settings: Settings
    iterations: int
    elapsed: float
    interrupted: bool
    losses: dict[str, float]
    history: list[tuple[float, float]] = field(default_factory=list)  # (seconds, total loss) per iteration
    weights_sha256: str = ""
    device: str = "cpu"
    precision: str = "fp32"


# --- hardware -----------------------------------------------------------------------------------


def resolve_device(name: str) -> torch.device:
    if name == "cuda" or (name == "auto" and torch.cuda.is_available()):
        if not torch.cuda.is_available():
            raise PainterlyError("device cuda was asked for but no CUDA GPU is available; use --device cpu")
        return torch.device("cuda")
    return torch.device("cpu")


@functools.cache
def cpu_has_fast_bf16() -> bool:
    """bf16 only pays on CPUs with native bf16 dot products; on AVX2 it is ~10x slower than fp32."""
    try:
        with open("/proc/cpuinfo") as f:
            flags = next((line for line in f if line.startswith("flags")), "")
    except OSError:
        return False
    return any(flag in flags.split() for flag in ("avx512_bf16", "amx_bf16"))


def resolve_precision(name: str, device: torch.device) -> str:
    if name != "auto":
        return name
    if device.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp32"
    return "bf16" if cpu_has_fast_bf16() else "fp32"


def bytes_per_pixel(precision: str) -> float:
    """Peak memory per output pixel for one iteration (activations kept for backward, to relu5_1).

    Measured: 1024 px fp32 peaks near 2.6 GB above the start-up footprint.
    """
    return 2600.0 if precision == "fp32" else 1500.0


def available_memory(device: torch.device) -> int:
    if device.type == "cuda":
        return torch.cuda.mem_get_info(device)[0]
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 1 << 62


def check_memory(width: int, height: int, precision: str, device: torch.device) -> None:
    need = width * height * bytes_per_pixel(precision)
    free = available_memory(device) * 0.85
    if need > free:
        aspect = max(width, height) / min(width, height)
        largest = int(math.sqrt(free / bytes_per_pixel(precision) * aspect))
        raise PainterlyError(
            f"{width}x{height} needs about {need / 2**30:.1f} GiB but {free / 2**30:.1f} GiB is free on "
            f"{device.type}; the largest size that fits is about {largest} px"
        )


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
    """Runs one stylisation. Create, then ``run``; call ``stop()`` from elsewhere to end early."""

    def __init__(self, settings: Settings, *, targets: dict | None = None) -> None:
        """``targets``: a dict shared by Stylizers that run on the same input images (e.g. a sweep of
        weights), so feature targets are computed once per scale for all of them."""
        self.settings = settings.validated()
        self._targets = targets if targets is not None else {}
        self.device = resolve_device(settings.device)
        self.precision = resolve_precision(settings.precision, self.device)
        self._stop = threading.Event()
        if self.device.type == "cuda":
            torch.backends.cuda.matmul.allow_tf32 = True
            torch.backends.cudnn.allow_tf32 = True
            torch.backends.cudnn.benchmark = True

    def stop(self) -> None:
        self._stop.set()

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()

    def network(self) -> tuple[VGG19Features, Weights]:
        s = self.settings
        deepest = max(s.content_layers + s.style_layers, key=LAYERS.index)
        return _network(s.weights, deepest, s.pooling, str(self.device))

    def output_size(self, content: Image.Image) -> tuple[int, int]:
        return fit(content, self.settings.size).size

    def check_fits(self, content: Image.Image, styles: Sequence[Image.Image] = ()) -> None:
        """Raise PainterlyError (naming the largest size that fits) if the run would exhaust memory;
        ``styles`` too, at their size for the final scale (``style_scale`` can make them the larger)."""
        width, height = self.output_size(content)
        check_memory(width, height, self.precision, self.device)
        longest = max(1, round(max(width, height) * self.settings.style_scale))
        for style in styles:
            try:
                check_memory(*fitted_size(style.size, longest), self.precision, self.device)
            except PainterlyError as exc:
                raise PainterlyError(
                    f"style image at style-scale {self.settings.style_scale:g}: {exc}"
                ) from None

    def run(
        self,
        content: Image.Image,
        styles: list[Image.Image],
        *,
        mask: Image.Image | None = None,
        init: Image.Image | None = None,
        on_event: Callable[[Event], None] | None = None,
        preview_every: int = 0,
    ) -> StylizeResult:
        """Stylise ``content`` with ``styles`` (blended by the settings' weights) and return the result.

        ``init`` is the start image when the settings say an image path; ``mask`` assigns regions to
        styles. Events go to ``on_event``; a Preview every ``preview_every`` iterations (0: never).
        """
        s = self.settings
        if len(styles) != len(s.styles):
            raise PainterlyError(f"{len(s.styles)} style image(s) configured but {len(styles)} given")
        emit = on_event or (lambda event: None)
        width, height = self.output_size(content)
        self.check_fits(content)
        if s.preserve_colors == "histogram":
            styles = [match_colors(style, content) for style in styles]
        net, weights = self.network()
        torch.manual_seed(s.seed)
        generator = torch.Generator().manual_seed(s.seed)
        schedule = s.schedule()
        total = sum(iters for _, iters in schedule)
        run = _Run(self, emit, preview_every, total)
        x: torch.Tensor | None = None
        for index, (fraction, iters) in enumerate(schedule):
            longest = max(1, round(max(width, height) * fraction))
            scaled = (
                fit(content, longest)
                if index < len(schedule) - 1
                else content.resize((width, height), Image.LANCZOS)
            )
            target = to_tensor(scaled).to(self.device)
            h, w = target.shape[-2:]
            if x is None:
                x = self._initial(target, init, generator)
            else:
                x = F.interpolate(x, size=(h, w), mode="bicubic", align_corners=False).clamp(0, 1)
            emit(ScaleStarted(index, len(schedule), w, h, iters))
            objective = self._objective(net, target, styles, longest, mask, generator)
            x = run.optimise(x, objective, iters, index)
            if self.stopped:
                break
        assert x is not None
        if x.shape[-2:] != (height, width):
            x = F.interpolate(x, size=(height, width), mode="bicubic", align_corners=False)
        image = to_image(x)
        if s.preserve_colors == "luminance":
            image = keep_colors(image, content, s.color_strength)
        return StylizeResult(
            image=image,
            settings=s,
            iterations=run.done,
            elapsed=time.perf_counter() - run.start,
            interrupted=self.stopped,
            losses=run.last_losses,
            history=run.history,
            weights_sha256=weights.sha256,
            device=self.device.type,
            precision=self.precision,
        )

    def _initial(
        self, target: torch.Tensor, init: Image.Image | None, generator: torch.Generator
    ) -> torch.Tensor:
        kind = self.settings.init
        if kind == "content":
            return target.clone()
        if kind == "noise":
            return torch.rand(target.shape, generator=generator).to(self.device)
        if init is None:
            raise PainterlyError(f"init {kind!r} needs an init image")
        return to_tensor(init.resize((target.shape[-1], target.shape[-2]), Image.LANCZOS)).to(self.device)

    def _features(self, net: VGG19Features, image: torch.Tensor, wanted: set[str]) -> dict[str, torch.Tensor]:
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.precision == "bf16"):
            return net(image.contiguous(memory_format=torch.channels_last), wanted)

    @torch.no_grad()
    def _objective(
        self,
        net: VGG19Features,
        content: torch.Tensor,
        styles: list[Image.Image],
        longest: int,
        mask: Image.Image | None,
        generator: torch.Generator,
    ) -> _Objective:
        s = self.settings
        wanted = set(s.content_layers) | set(s.style_layers)
        key = (longest, s.style_scale, s.content_layers, s.style_layers, s.style_layer_weights, s.style_loss)
        key += (
            s.pooling,
            s.weights,
            s.style_blend,
            s.mask_styles,
            s.preserve_colors,
            s.seed,
            str(self.device),
        )
        # Sliced-Wasserstein losses draw from the run's own generator: sharing them would make a sweep's
        # tiles differ from single runs with the same seed, so only deterministic targets are shared.
        shareable = s.style_loss != "sliced-wasserstein"
        if shareable and key in self._targets:
            content_losses, style_losses = self._targets[key]
            return _Objective(self, net, wanted, content_losses, style_losses)
        content_feats = self._features(net, content, set(s.content_layers))
        content_losses = [ContentLoss(content_feats[name]) for name in s.content_layers]
        style_longest = max(1, round(longest * s.style_scale))
        style_feats = [
            self._features(net, to_tensor(fit(style, style_longest)).to(self.device), set(s.style_layers))
            for style in styles
        ]
        loss_type = STYLE_LOSSES[s.style_loss]
        extra = {"generator": generator} if loss_type is SlicedWassersteinLoss else {}
        style_losses = []
        regions = _regions(
            mask, content.shape[-1], content.shape[-2], s.mask_styles, len(styles), self.device
        )
        for layer, layer_weight in zip(s.style_layers, s.layer_weights(), strict=True):
            targets = [feats[layer] for feats in style_feats]
            if regions is None:
                style_losses.append((layer, layer_weight, loss_type(targets, s.blend(), **extra)))
                continue
            for style_index, region in regions:
                layer_h, layer_w = _layer_size(content, layer)
                layer_mask = F.interpolate(region, size=(layer_h, layer_w), mode="area")
                area = float(region.mean())
                module = loss_type([targets[style_index]], [1.0], mask=layer_mask, **extra)
                style_losses.append((layer, layer_weight * area, module))
        if shareable:
            self._targets[key] = content_losses, style_losses
        return _Objective(self, net, wanted, content_losses, style_losses)


def _layer_size(content: torch.Tensor, layer: str) -> tuple[int, int]:
    h, w = content.shape[-2:]
    for name in LAYERS[: LAYERS.index(layer) + 1]:
        if name.startswith("pool"):
            h, w = math.ceil(h / 2), math.ceil(w / 2)
    return h, w


def _regions(
    mask: Image.Image | None, width: int, height: int, mapping: tuple[int, ...], n_styles: int, device
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
        region = torch.from_numpy((codes == colour).reshape(1, 1, height, width).astype(np.float32))
        out.append((style, region.to(device)))
    return out


class _Objective:
    """Weighted total loss of an image against fixed targets, with its parts for reporting."""

    def __init__(self, stylizer: Stylizer, net, wanted, content_losses, style_losses) -> None:
        self.stylizer, self.net, self.wanted = stylizer, net, wanted
        self.content_losses, self.style_losses = content_losses, style_losses

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
        total = s.content_weight * content + s.style_weight * style + s.tv_weight * tv
        return total, {"content": content, "style": style, "tv": tv}


class _Run:
    """State of one run across scales: counters, loss history, the event sink."""

    def __init__(self, stylizer: Stylizer, emit, preview_every: int, total: int) -> None:
        self.stylizer, self.emit, self.preview_every, self.total = stylizer, emit, preview_every, total
        self.done = 0
        self.start = time.perf_counter()
        self.history: list[tuple[float, float]] = []
        self.last_losses: dict[str, float] = {}

    def optimise(self, x: torch.Tensor, objective: _Objective, iterations: int, scale: int) -> torch.Tensor:
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
            self.history.append((elapsed, value))
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
                history_size=50,
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
