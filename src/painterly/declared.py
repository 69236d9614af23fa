"""Declared option fields: each field's help text and kind (bounds, choices, the files it names,
whether a web visitor sees it, where the web form shows it), and the checks that metadata drives.

``Settings`` and a face's own options (video's) declare their fields with ``described``; options.py
turns the same metadata into CLI options, web form fields and manifest columns.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from typing import Any

from .errors import PainterlyError


@dataclass(frozen=True)
class Paths:
    """What makes a field path-valued: each face reads this instead of keeping its own list, so a new
    path option is resolved (jobs), taken relative to a manifest, shipped to a cluster worker, hidden
    from web visitors and refused by ``rerun`` without a change there."""

    names: tuple[str, ...] = ()  # values that name no file (start kinds, built-in weights)
    builtin_styles: bool = False  # built-in style names are files painterly ships: safe to follow
    per_job: bool = True  # a cluster worker gets the bytes with every job; False: once per batch
    label: str = "image"  # what the file is, for messages and help


def described(
    text: str,
    *,
    bounds: tuple[float, float | None] | None = None,
    choices: tuple[str, ...] = (),
    path: Paths | None = None,
    public: bool | None = None,
    form: str | None = None,
    aliases: tuple[str, ...] = (),
    words: dict[str, Any] | None = None,
    **kw: Any,
) -> Any:
    """A field with its help text and its kind: options.py turns it into the CLI option (plus
    ``aliases``, extra spellings), the web form field and the manifest column.

    ``bounds`` (inclusive; no upper one when None) and ``choices`` are checked by ``validated``;
    ``{choices}`` in ``text`` lists them (or a path's ``names``). ``path``: the value names files.
    ``public``: whether a web visitor sees the value (default: unless it is a path, whose file name
    alone is shown). ``form`` ("main" or "advanced") puts it on the web page (a path field: only its
    ``Paths``' names). ``words``: text a user may type for a value (``auto`` for a size of 0)."""
    listed = choices or (path.names if path else ())
    meta = {
        "help": text.format(choices=spoken(listed)) if listed else text,
        "bounds": bounds,
        "choices": choices,
        "path": path,
        "public": path is None if public is None else public,
        "form": form,
        "aliases": aliases,
        "words": words or {},
    }
    return field(metadata=meta, **kw)


def spoken(values: tuple[str, ...]) -> str:
    """``a, b or c``."""
    return f"{', '.join(values[:-1])} or {values[-1]}" if len(values) > 1 else "".join(values)


def check_declared(options: Any) -> None:
    """Raise PainterlyError naming the first field of ``options`` (a dataclass of ``described``
    fields: Settings, a face's own options) outside its declared bounds or choices."""
    for f in fields(options):
        bounds, choices, value = f.metadata.get("bounds"), f.metadata.get("choices"), getattr(options, f.name)
        label = f.name.replace("_", "-")
        if bounds and bounds[1] is None and not (math.isfinite(value) and value >= bounds[0]):
            raise PainterlyError(f"{label} must be a finite number >= {bounds[0]:g}, not {value}")
        if bounds and bounds[1] is not None:
            check_between(label, value, *bounds, unit=" pixels" if f.name == "size" else "")
        if choices and value not in choices:
            raise PainterlyError(f"{label} must be one of {', '.join(choices)}")


def check_between(label: str, value: float, low: float, high: float, *, unit: str = "") -> None:
    """The one wording of an out-of-range number, wherever a range is checked."""
    if not (math.isfinite(value) and low <= value <= high):
        raise PainterlyError(f"{label} must be between {low:g} and {high:g}{unit}, not {value}")


def typed_value(name: str, value: Any, kind: type) -> Any:
    """``value`` as ``kind`` (an int is a float too; a bool is never a number), else PainterlyError."""
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if type(value) is not kind:
        raise PainterlyError(f"setting {name} must be of type {kind.__name__}, not {str(value)[:40]!r}")
    return value
