"""See inside's panels and what becomes of them: drawn (a colour map, log-scale bars, the labelled
sheet of every panel) and kept in a folder beside a gallery entry. Nothing here computes a panel
(``painterly.inside`` does).
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from .errors import PainterlyError
from .files import write_text_atomic
from .images import load_image, save_image


@dataclass(frozen=True)
class Panel:
    """One figure of the sheet: a short title, a one-line caption that says what it shows, the image."""

    title: str
    caption: str
    image: Image.Image
    row: str


# --- drawing ---------------------------------------------------------------------------------------

# Viridis at five stops: perceptually ordered, readable in greyscale, no matplotlib needed.
_VIRIDIS = np.array([[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]], float)


def colormap(values: np.ndarray) -> np.ndarray:
    """Values in [0, 1] (any shape) -> uint8 RGB through a viridis-like colour map."""
    position = np.clip(np.nan_to_num(values), 0, 1) * (len(_VIRIDIS) - 1)
    low = np.minimum(position.astype(int), len(_VIRIDIS) - 2)
    t = (position - low)[..., None]
    return (_VIRIDIS[low] * (1 - t) + _VIRIDIS[low + 1] * t + 0.5).astype(np.uint8)


def sized_font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=size)


def bar_chart(
    rows: Sequence[tuple[str, float, float]], size: tuple[int, int], names: tuple[str, str]
) -> Image.Image:
    """Horizontal log-scale bars, two per row (``names``: grey, then colour), values written beside."""
    width, height = size
    image = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(image)
    font = sized_font(max(10, height // (3 * len(rows) + 2)))
    values = [v for _, a, b in rows for v in (a, b) if v > 0]
    low = np.log10(min(values, default=1e-3)) - 0.5
    high = np.log10(max(values, default=1.0)) + 0.1
    label_w = int(draw.textlength("relu5_1 ", font=font)) + 4
    value_w = int(draw.textlength("0.000e+00", font=font)) + 6
    span = max(10, width - label_w - value_w - 8)
    band = height / (len(rows) + 0.8)
    for i, (label, gray, color) in enumerate(rows):
        top = band * (i + 0.4)
        draw.text((4, top + band * 0.2), label, fill="black", font=font)
        for j, (value, fill) in enumerate(((gray, (170, 170, 170)), (color, tuple(_VIRIDIS[1].astype(int))))):
            y = top + j * band * 0.42
            length = span * (np.log10(max(value, 10**low)) - low) / (high - low)
            draw.rectangle([label_w, y, label_w + length, y + band * 0.36], fill=fill)
            draw.text((label_w + length + 4, y), f"{value:.3g}", fill="black", font=font)
    draw.text((4, height - band * 0.4), f"{names[0]} / {names[1]}, log scale", fill="grey", font=font)
    return image


def render_sheet(panels: Sequence[Panel], heading: str = "") -> Image.Image:
    """One labelled image: a titled row per kind of panel, each panel with its title and caption below."""
    if not panels:
        raise PainterlyError("nothing to draw")
    box_w = max(p.image.width for p in panels)
    box_h = max(p.image.height for p in panels)
    title_font, text_font = sized_font(max(13, box_w // 26)), sized_font(max(11, box_w // 34))
    row_font = sized_font(max(16, box_w // 20))
    measure = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    lines = {id(p): _wrap(p.caption, text_font, box_w - 4, measure) for p in panels}
    line_h = int(text_font.size * 1.25)
    strip = int(title_font.size * 1.5) + line_h * max(len(v) for v in lines.values()) + 6
    rows: dict[str, list[Panel]] = {}
    for panel in panels:
        rows.setdefault(panel.row, []).append(panel)
    columns = max(len(r) for r in rows.values())
    gap, row_title = 10, int(row_font.size * 1.8)
    top = row_title if heading else 0
    width = gap + columns * (box_w + gap)
    height = top + len(rows) * (row_title + box_h + strip + gap) + gap
    sheet = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(sheet)
    if heading:
        draw.text((gap, gap // 2), heading, fill="black", font=row_font)
    y = top
    for name, members in rows.items():
        draw.text((gap, y + row_title * 0.2), name, fill=(40, 40, 120), font=row_font)
        y += row_title
        for i, panel in enumerate(members):
            x = gap + i * (box_w + gap)
            image = panel.image
            sheet.paste(image, (x + (box_w - image.width) // 2, y + (box_h - image.height) // 2))
            ty = y + box_h + 3
            draw.text((x + 2, ty), panel.title, fill="black", font=title_font)
            ty += int(title_font.size * 1.5)
            for line in lines[id(panel)]:
                draw.text((x + 2, ty), line, fill=(70, 70, 70), font=text_font)
                ty += line_h
        y += box_h + strip + gap
    return sheet


def _wrap(text: str, font, width: int, draw: ImageDraw.ImageDraw) -> list[str]:
    lines: list[str] = []
    for word in text.split():
        if lines and draw.textlength(f"{lines[-1]} {word}", font=font) <= width:
            lines[-1] += f" {word}"
        else:
            lines.append(word)
    return lines


# --- a folder of panels (for a cache beside a gallery entry) ---------------------------------------

MANIFEST = "panels.json"


def save_panels(panels: Sequence[Panel], folder: str | os.PathLike) -> Path:
    """Write each panel as ``panel-NN.png`` and, last, ``panels.json`` (titles, captions, rows, files).

    Every file is written atomically and the manifest only after the images, so a reader that finds a
    manifest finds every image it names (the web app can cache an entry's panels this way)."""
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    entries = []
    for i, panel in enumerate(panels):
        name = f"panel-{i:02d}.png"
        save_image(panel.image, out / name)
        entries.append({"title": panel.title, "caption": panel.caption, "row": panel.row, "file": name})
    write_text_atomic(out / MANIFEST, json.dumps(entries, indent=1))
    return out / MANIFEST


def load_panels(folder: str | os.PathLike) -> list[Panel] | None:
    """The panels ``save_panels`` wrote into ``folder``, or None when there are none (not computed yet)."""
    manifest = Path(folder) / MANIFEST
    if not manifest.is_file():
        return None
    try:
        entries = json.loads(manifest.read_text())
        return [
            Panel(e["title"], e["caption"], load_image(manifest.parent / e["file"], "panel"), e["row"])
            for e in entries
        ]
    except (json.JSONDecodeError, KeyError, TypeError):
        raise PainterlyError(f"damaged panel cache: {manifest}") from None
