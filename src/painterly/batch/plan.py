"""Expand CONTENT.../--style/--zip into job specs with stable, predictable output names."""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..errors import PainterlyError
from ..images import builtin_styles
from ..settings import Settings

# What a folder's images are recognised by (anything PIL reads that people keep photos and paintings in).
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff", ".gif"})


@dataclass(frozen=True)
class JobSpec:
    """One job of a batch: its output file name inside OUTDIR and its settings (absolute paths)."""

    name: str
    settings: Settings

    @property
    def label(self) -> str:
        return self.name.removesuffix(".png")

    def settings_dict(self) -> dict:
        """The settings as the job's output record carries them (what resume compares)."""
        return json.loads(self.settings.to_json())


def expand(sources: Iterable[str], what: str) -> list[str]:
    """Files as given, folders as their images (sorted by name), built-in style names for styles."""
    found: list[str] = []
    for source in sources:
        path = Path(source).expanduser()
        if path.is_dir():
            images = sorted(
                str(p)
                for p in path.iterdir()
                if p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith(".") and p.is_file()
            )
            if not images:
                raise PainterlyError(f"no images in the {what} folder {source}")
            found += images
        elif path.exists() or (what == "style" and source in builtin_styles()):
            found.append(source)
        else:
            raise PainterlyError(f"{what} image not found: {source}")
    return found


def pairs(contents: Sequence[str], styles: Sequence[str], zip_: bool) -> list[tuple[str, str]]:
    """Every content x style combination, or with ``zip_`` the i-th content with the i-th style."""
    if zip_:
        if len(contents) != len(styles):
            raise PainterlyError(
                f"--zip pairs in order: {len(contents)} content(s) but {len(styles)} style(s)"
            )
        return list(zip(contents, styles, strict=True))
    return [(c, s) for c in contents for s in styles]


def specs(settings: Iterable[Settings]) -> list[JobSpec]:
    """Name each job ``<content>__<style>.png``; where names collide, each gets a short settings hash.

    Identical settings are one job (listed once). The hash depends only on the settings, so a name stays
    the same from one run of the batch to the next (what makes resuming work).
    """
    from ..jobs import absolute

    unique = list(dict.fromkeys(absolute(s.validated()) for s in settings))
    bases = [f"{_stem(s.content)}__{'+'.join(_stem(style) for style in s.styles)}" for s in unique]
    taken = {base: bases.count(base) for base in bases}
    return [
        JobSpec(f"{base}__{_digest(s)}.png" if taken[base] > 1 else f"{base}.png", s)
        for base, s in zip(bases, unique, strict=True)
    ]


def _stem(source: str) -> str:
    return re.sub(r"[^\w.+-]", "_", Path(source).stem) or "image"


def _digest(settings: Settings) -> str:
    return hashlib.sha256(settings.to_json().encode()).hexdigest()[:8]


def resolve_relative(value: str, folder: str | os.PathLike) -> str:
    """``value`` relative to ``folder`` when that names a file, else as given (e.g. a built-in style)."""
    candidate = Path(folder) / Path(value).expanduser()
    return str(candidate) if value and candidate.exists() else value
