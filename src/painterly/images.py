"""Image I/O and colour helpers: loading with limits, built-in styles, atomic saving with settings embedded.

Knows nothing of the network; tensors here are plain (1, 3, H, W) RGB in [0, 1].
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image, ImageOps, PngImagePlugin

from .errors import PainterlyError
from .files import atomic_path

ImageSource = str | os.PathLike | Image.Image | np.ndarray
MAX_INPUT_PIXELS = 100_000_000  # beyond this PIL's decompression-bomb guard fires anyway
METADATA_KEY = "painterly"
SAVE_FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP"}
# The only decoders painterly lets Pillow use on any input (CLI, web uploads, records): plain raster
# formats. Others (EPS starts Ghostscript, and rarely used plugins carry more parser risk) are refused.
READ_FORMATS = ("JPEG", "PNG", "WEBP", "GIF", "BMP", "TIFF")


def builtin_styles() -> dict[str, Path]:
    """Public-domain paintings shipped with the package, by name."""
    folder = resources.files("painterly") / "data" / "styles"
    return {Path(str(p)).stem: Path(str(p)) for p in folder.iterdir() if str(p).endswith(".jpg")}


def demo_content() -> Path:
    """NASA's public-domain portrait of astronaut Eileen Collins (from scikit-image's sample data)."""
    return Path(str(resources.files("painterly") / "data" / "astronaut.jpg"))


def resolve(source: str) -> str:
    """A path as given, or the file of a built-in style when the name is one and no such file exists."""
    if not os.path.exists(source):
        styles = builtin_styles()
        if source in styles:
            return str(styles[source])
    return source


def load_image(source: ImageSource, what: str = "image") -> Image.Image:
    """Load a path, PIL image or array as an RGB PIL image, honouring EXIF orientation."""
    if isinstance(source, Image.Image):
        image = source
    elif isinstance(source, np.ndarray):
        array = source
        if (
            array.ndim not in (2, 3)
            or (array.ndim == 3 and array.shape[2] not in (1, 3, 4))
            or not array.size
        ):
            raise PainterlyError(f"{what} array must be HxW, HxWx1, HxWx3 or HxWx4, not shape {array.shape}")
        if np.issubdtype(array.dtype, np.floating):  # floats are 0-1 intensities
            array = np.clip(np.nan_to_num(array.astype(np.float64)), 0, 1) * 255 + 0.5
        elif array.dtype != np.uint8:  # other integers are 0-255 intensities
            array = np.clip(array, 0, 255)
        array = array.astype(np.uint8)
        image = Image.fromarray(array[..., 0] if array.ndim == 3 and array.shape[2] == 1 else array)
    else:
        path = resolve(os.fspath(source))
        if not os.path.exists(path):
            hint = (
                f" (built-in styles: {', '.join(sorted(builtin_styles()))})" if what == "style image" else ""
            )
            raise PainterlyError(f"{what} not found: {path}{hint}")
        if os.path.isdir(path):
            raise PainterlyError(f"{what} is a folder, not an image: {path}")
        try:
            with open_image(path, what) as opened:
                if opened.width * opened.height > MAX_INPUT_PIXELS:
                    raise PainterlyError(
                        f"{what} {path} is too large ({opened.width}x{opened.height}); "
                        f"at most {MAX_INPUT_PIXELS // 1_000_000} megapixels"
                    )
                opened.load()
                image = ImageOps.exif_transpose(opened)
        except PainterlyError:
            raise
        except (OSError, ValueError, SyntaxError):
            raise PainterlyError(f"{what} {path} is not a readable image") from None
    if image.width < 1 or image.height < 1:
        raise PainterlyError(f"{what} is empty")
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        background = Image.new("RGB", image.size, (255, 255, 255))
        background.paste(image.convert("RGBA"), mask=image.convert("RGBA").getchannel("A"))
        return background
    return image.convert("RGB")


def open_image(path: str | os.PathLike, what: str = "image") -> Image.Image:
    """``Image.open`` limited to ``READ_FORMATS``; reads the header only. PainterlyError for a missing or
    unreadable file and for a decompression bomb, OSError for other formats or damaged files."""
    try:
        return Image.open(path, formats=READ_FORMATS)
    except FileNotFoundError:
        raise PainterlyError(f"{what} not found: {path}") from None
    except PermissionError:
        raise PainterlyError(f"cannot read {what} {path}: permission denied") from None
    except Image.DecompressionBombError:
        raise PainterlyError(f"{what} {path} is too large (decompression bomb guard)") from None


def fitted_size(size: tuple[int, int], longest: int) -> tuple[int, int]:
    """(width, height) scaled so the longer side is ``longest``, both at least 1 px."""
    scale = longest / max(size)
    return max(1, round(size[0] * scale)), max(1, round(size[1] * scale))


def scale_sizes(
    source: tuple[int, int], width: int, height: int, fractions: Sequence[float]
) -> list[tuple[int, int]]:
    """Each scale's (width, height) for an output of ``width`` x ``height``: a fraction of its longest
    side, at ``source``'s aspect ratio; the last scale is the output itself."""
    sizes = [fitted_size(source, max(1, round(max(width, height) * f))) for f in fractions]
    sizes[-1] = (width, height)
    return sizes


def fit(image: Image.Image, longest: int) -> Image.Image:
    """Resize so the longer side is ``longest`` (both sides at least 1 px), keeping the aspect ratio."""
    size = fitted_size(image.size, longest)
    return image if size == image.size else image.resize(size, Image.LANCZOS)


def to_bytes(image: Image.Image) -> torch.Tensor:
    """(1, 3, H, W) uint8: an image in a quarter of a float tensor's memory."""
    return torch.from_numpy(np.array(image.convert("RGB"))).permute(2, 0, 1).unsqueeze(0).contiguous()


def to_tensor(image: Image.Image) -> torch.Tensor:
    """(1, 3, H, W) float32 in [0, 1], made through bytes: only the result is a full-size float array
    (dividing a float numpy array, then reordering it, held three: 1.8 GB at 8192x6144)."""
    return to_bytes(image).float().div_(255.0)


def to_image(tensor: torch.Tensor) -> Image.Image:
    array = tensor.detach().float().clamp(0, 1).squeeze(0).permute(1, 2, 0).cpu().numpy()
    return Image.fromarray((array * 255 + 0.5).astype(np.uint8))


# --- colour -------------------------------------------------------------------------------------

_RGB_TO_YIQ = np.array([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]])


def keep_colors(stylized: Image.Image, content: Image.Image, strength: float = 1.0) -> Image.Image:
    """Luminance of the stylised image with the content's chrominance (YIQ), blended by ``strength``."""
    out = np.asarray(stylized, dtype=np.float64) / 255
    src = np.asarray(content.resize(stylized.size, Image.LANCZOS), dtype=np.float64) / 255
    yiq_out, yiq_src = out @ _RGB_TO_YIQ.T, src @ _RGB_TO_YIQ.T
    mixed = np.concatenate([yiq_out[..., :1], yiq_src[..., 1:]], axis=-1) @ np.linalg.inv(_RGB_TO_YIQ).T
    result = (1 - strength) * out + strength * mixed
    return Image.fromarray((np.clip(result, 0, 1) * 255 + 0.5).astype(np.uint8))


def match_colors(style: Image.Image, content: Image.Image) -> Image.Image:
    """Recolour ``style`` so its colour mean and covariance equal the content's (linear transfer)."""

    def stats(image: Image.Image) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        pixels = np.asarray(image, dtype=np.float64).reshape(-1, 3) / 255
        mean = pixels.mean(0)
        cov = np.cov(pixels - mean, rowvar=False) + np.eye(3) * 1e-5
        return pixels, mean, cov

    def sqrtm(matrix: np.ndarray, inverse: bool = False) -> np.ndarray:
        values, vectors = np.linalg.eigh(matrix)
        values = np.clip(values, 1e-8, None) ** (-0.5 if inverse else 0.5)
        return (vectors * values) @ vectors.T

    pixels, mean_s, cov_s = stats(style)
    _, mean_c, cov_c = stats(content)
    transform = sqrtm(cov_c) @ sqrtm(cov_s, inverse=True)
    out = (pixels - mean_s) @ transform.T + mean_c
    return Image.fromarray(
        (np.clip(out, 0, 1) * 255 + 0.5).astype(np.uint8).reshape(style.height, style.width, 3)
    )


def _srgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    """(..., 3) sRGB in [0, 1] -> CIE Lab (D65)."""
    linear = np.where(rgb > 0.04045, ((rgb + 0.055) / 1.055) ** 2.4, rgb / 12.92)
    xyz = linear @ _RGB_TO_XYZ.T / _WHITE
    f = np.where(xyz > (6 / 29) ** 3, np.cbrt(xyz), xyz / (3 * (6 / 29) ** 2) + 4 / 29)
    return np.stack([116 * f[..., 1] - 16, 500 * (f[..., 0] - f[..., 1]), 200 * (f[..., 1] - f[..., 2])], -1)


def _lab_to_srgb(lab: np.ndarray) -> np.ndarray:
    fy = (lab[..., 0] + 16) / 116
    f = np.stack([fy + lab[..., 1] / 500, fy, fy - lab[..., 2] / 200], -1)
    xyz = np.where(f > 6 / 29, f**3, 3 * (6 / 29) ** 2 * (f - 4 / 29)) * _WHITE
    linear = np.clip(xyz @ np.linalg.inv(_RGB_TO_XYZ).T, 0, 1)
    return np.where(linear > 0.0031308, 1.055 * linear ** (1 / 2.4) - 0.055, linear * 12.92)


_RGB_TO_XYZ = np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]])
_WHITE = np.array([0.9505, 1.0, 1.089])


# Share of the start's chroma taken from the painting's colour at the same lightness (the rest keeps
# the photo's own hues, moved to the painting's Lab mean and spread). Measured on the five classic
# pairs at 384 px (balanced preset of the time, 16/30): 0.75 gave the lowest objective on four of them and The Scream's orange sky;
# 0 (mean/spread only) kept Tubingen's sky blue, 1 turned the Golden Gate's red bridge blue.
PALETTE_SHARE = 0.75
_QUANTILES = np.linspace(0.0, 1.0, 257)
_LIGHTNESS_BANDS = 32


def style_colors(content: Image.Image, styles: list[Image.Image], blend: list[float]) -> Image.Image:
    """``content`` repainted in the styles' palette, keeping its structure.

    Lightness is histogram-matched to the (blend-weighted) paintings'. Chroma is mostly the colour the
    paintings give that lightness (a bright sky becomes The Scream's orange, not its blue), partly the
    photo's own hue moved to the paintings' Lab mean and spread (Reinhard et al. 2001), so a red bridge
    stays reddish. Large smooth regions then start near the painting's colours: the optimiser shapes
    strokes instead of dragging a sky across colour space."""
    total = sum(blend)
    palettes = [(w / total, _palette(_lab_sample(style))) for w, style in zip(blend, styles, strict=True)]

    def mix(value: Callable[[_Palette], np.ndarray]) -> np.ndarray:
        return sum(w * value(p) for w, p in palettes)

    sample = _lab_sample(content)
    spread = np.maximum(sample[:, 1:].std(0), _MIN_CHROMA_SPREAD)  # grey photos: do not blow up noise

    def recolor(rgb: np.ndarray) -> np.ndarray:
        source = _srgb_to_lab(rgb.astype(np.float64) / 255)
        out = np.empty_like(source)
        out[..., 0] = np.interp(_ranks(source[..., 0], sample[:, 0]), _QUANTILES, mix(lambda p: p.lightness))
        own = (source[..., 1:] - sample[:, 1:].mean(0)) / spread * mix(lambda p: p.std[1:]) + mix(
            lambda p: p.mean[1:]
        )
        for c in (0, 1):
            usual = mix(lambda p: np.interp(out[..., 0], p.band_lightness, p.band_chroma[:, c]))  # noqa: B023
            out[..., c + 1] = PALETTE_SHARE * usual + (1 - PALETTE_SHARE) * own[..., c]
        return (np.clip(_lab_to_srgb(out), 0, 1) * 255 + 0.5).astype(np.uint8)

    # In strips of ~1 Mpx: a print-size photo's float64 Lab copies would take GBs all at once.
    rgb = np.asarray(content.convert("RGB"))
    rows = max(1, 2**20 // max(1, rgb.shape[1]))
    return Image.fromarray(np.concatenate([recolor(rgb[y : y + rows]) for y in range(0, len(rgb), rows)]))


# A chroma spread below this (Lab units) is a grey photo's JPEG noise, not its colours.
_MIN_CHROMA_SPREAD = 3.0


@dataclass(frozen=True)
class _Palette:
    """A painting's colours by lightness. Equal-count bands: every band averages enough pixels to
    give a stable colour, and crowded lightness ranges (a dark painting's shadows) get more bands."""

    lightness: np.ndarray  # L at each of _QUANTILES
    band_lightness: np.ndarray  # mean L of each equal-count lightness band, ascending
    band_chroma: np.ndarray  # mean (a, b) of each band
    mean: np.ndarray
    std: np.ndarray


def _lab_sample(image: Image.Image) -> np.ndarray:
    """Lab pixels of a thumbnail: statistics only, a thumbnail gives the same distribution."""
    small = image.convert("RGB")
    small.thumbnail((512, 512))
    return _srgb_to_lab(np.asarray(small, dtype=np.float64) / 255).reshape(-1, 3)


def _palette(lab: np.ndarray) -> _Palette:
    bands = np.array_split(lab[np.argsort(lab[:, 0], kind="stable")], min(_LIGHTNESS_BANDS, len(lab)))
    means = np.stack([band.mean(0) for band in bands])
    band_lightness = np.maximum.accumulate(means[:, 0])  # np.interp needs it ascending
    return _Palette(np.quantile(lab[:, 0], _QUANTILES), band_lightness, means[:, 1:], lab.mean(0), lab.std(0))


def _ranks(values: np.ndarray, sample: np.ndarray) -> np.ndarray:
    """Each value's quantile in ``sample``; a value many pixels share (a clipped sky, a black
    background) takes the middle of its range, not its top."""
    table = np.quantile(sample, _QUANTILES)
    top = np.interp(values, table, _QUANTILES)
    bottom = 1 - np.interp(-values, -table[::-1], _QUANTILES)
    return (top + bottom) / 2


# --- saving -------------------------------------------------------------------------------------


def check_output(
    path: str | os.PathLike, inputs: list[str] = (), *, formats: Sequence[str] = (), what: str = "output"
) -> Path:
    """Fail early (before any work) if ``path`` cannot be written or would overwrite an input.

    ``formats``: the allowed suffixes (default: the image formats painterly saves)."""
    out = Path(path).expanduser()
    formats = formats or tuple(SAVE_FORMATS)
    if out.suffix.lower() not in formats:
        raise PainterlyError(f"{what} must end in one of {', '.join(formats)}: {out}")
    if not out.parent.is_dir():
        raise PainterlyError(f"output folder does not exist: {out.parent}")
    if out.is_dir():
        raise PainterlyError(f"output is a folder: {out}")
    resolved = out.resolve()
    for source in inputs:
        if source and os.path.exists(source) and Path(source).resolve() == resolved:
            raise PainterlyError(f"output would overwrite the input {source}")
    if not os.access(out.parent, os.W_OK):
        raise PainterlyError(f"output folder is not writable: {out.parent}")
    return out


def save_image(image: Image.Image, path: str | os.PathLike, metadata: dict[str, Any] | None = None) -> Path:
    """Write atomically (temp file in the same folder, then rename); PNGs carry ``metadata`` as JSON."""
    out = Path(path)
    fmt = SAVE_FORMATS.get(out.suffix.lower())
    if fmt is None:
        raise PainterlyError(f"output must end in one of {', '.join(SAVE_FORMATS)}: {out}")
    options: dict[str, Any] = {}
    if metadata is not None:
        if fmt == "PNG":
            info = PngImagePlugin.PngInfo()
            info.add_itxt(METADATA_KEY, json.dumps(metadata, sort_keys=True))
            options["pnginfo"] = info
        else:
            # JPEG/WebP: the same JSON in the EXIF ImageDescription tag.
            exif = Image.Exif()
            exif[0x010E] = json.dumps(metadata, sort_keys=True)
            options["exif"] = exif.tobytes()
    if fmt in ("JPEG", "WEBP"):
        options["quality"] = 95
    if fmt == "PNG":
        # A painted image hardly compresses: a 4096 px result took 2.0 s at the default level 6 and
        # 0.83 s at level 1, for a file 6 % larger (22.2 -> 23.6 MiB); level 3: 1.05 s, 23.4 MiB.
        options["compress_level"] = 1
    try:
        with atomic_path(out) as tmp:
            image.save(tmp, format=fmt, **options)
    except OSError as exc:
        raise PainterlyError(f"cannot write {out}: {exc.strerror or exc}") from exc  # disk_full reads it
    return out


def read_metadata(path: str | os.PathLike) -> dict[str, Any]:
    """The settings JSON that ``save_image`` embedded, or PainterlyError if the file has none.

    Reads the header only (``save_image`` puts the JSON before the pixels): never decodes a pixel, so a
    huge or hostile image costs nothing."""
    try:
        with open_image(path) as image:
            text = image.info.get(METADATA_KEY) or image.getexif().get(0x010E)
    except (OSError, ValueError, SyntaxError):
        raise PainterlyError(f"{path} is not a readable image") from None
    if not text:
        raise PainterlyError(f"{path} carries no painterly settings")
    try:
        data = json.loads(text)
    except (json.JSONDecodeError, RecursionError):
        raise PainterlyError(f"{path} has damaged painterly settings") from None
    if not isinstance(data, dict):
        raise PainterlyError(f"{path} has damaged painterly settings")
    return data


def contact_sheet(tiles: list[Image.Image], labels: list[str], columns: int) -> Image.Image:
    """Tiles in a grid, each with its label underneath on a white strip."""
    from PIL import ImageDraw, ImageFont

    width = max(t.width for t in tiles)
    height = max(t.height for t in tiles)
    font = ImageFont.load_default(size=max(12, width // 24))
    strip = int(font.size * 1.8)
    rows = -(-len(tiles) // columns)
    gap = 4
    sheet = Image.new("RGB", (columns * (width + gap) + gap, rows * (height + strip + gap) + gap), "white")
    draw = ImageDraw.Draw(sheet)
    for i, (tile, label) in enumerate(zip(tiles, labels, strict=True)):
        x = gap + (i % columns) * (width + gap)
        y = gap + (i // columns) * (height + strip + gap)
        sheet.paste(tile, (x, y))
        draw.text((x + 4, y + height + strip // 6), label, fill="black", font=font)
    return sheet
