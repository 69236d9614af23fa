"""The settings form of the web page, generated from ``Settings``' field metadata (the one home).

A field appears on the page when its metadata names a ``form`` section; its default, help text, choices
and bounds come from the same ``painterly.options`` declarations the CLI and batch manifests read. A path
field (``settings.path_fields``) takes only the names its ``Paths`` allows (the init image's start kinds)
and is left off when it allows none: the server reads no path a client names.
"""

from __future__ import annotations

import math
from typing import Any

from .. import settings
from ..errors import PainterlyError
from ..options import Option, options

DEFAULT_PREVIEW_EVERY = 5


def form_fields() -> dict[str, Option]:
    """The options the page may set, by name, in Settings' order (``Settings`` looked up when called, as
    ``path_fields`` does, so a test's extra field reaches the form)."""
    paths = settings.path_fields()
    return {
        opt.name: opt
        for opt in options(settings.Settings)
        if opt.form and (opt.name not in paths or paths[opt.name].names)
    }


def form_choices(opt: Option) -> tuple[str, ...]:
    """The values the page may send for ``opt``: a path field's names, else its choices (none: any)."""
    paths = settings.path_fields().get(opt.name)
    return paths.names if paths else opt.choices


def settings_schema() -> list[dict[str, Any]]:
    """Each settable field as the page renders it: default, help, type, choices, bounds."""
    return [
        {
            "name": opt.name,
            "label": opt.name.replace("_", " "),
            "help": opt.help,
            "type": "choice"
            if form_choices(opt) or opt.kind is bool
            else "text"
            if opt.kind is str or opt.words
            else ("int" if opt.kind is int else "float"),
            "words": [word for word, _ in opt.words],  # e.g. a size may be "auto"
            "choices": list(form_choices(opt)) or (["true", "false"] if opt.kind is bool else None),
            "default": opt.format(opt.default) if opt.kind is bool else opt.default,
            "min": opt.bounds[0] if opt.bounds else None,
            "max": opt.bounds[1] if opt.bounds else None,
            "advanced": opt.form == "advanced",
        }
        for opt in form_fields().values()
    ]


def coerce_form(raw: Any) -> dict[str, Any]:
    """The client's settings, restricted to the form's fields and converted to the type of each default."""
    if not isinstance(raw, dict):
        raise PainterlyError("settings must be an object")
    allowed = form_fields()
    form: dict[str, Any] = {}
    for name, value in raw.items():
        if name not in allowed:
            raise PainterlyError(f"setting {str(name)[:40]!r} cannot be set from the web page")
        if value is None or value == "":
            continue  # the default
        label, opt = name.replace("_", " "), allowed[name]
        if opt.kind is bool:
            form[name] = opt.parse(str(value)) if not isinstance(value, bool) else value
            continue
        if opt.words and isinstance(value, str):
            form[name] = opt.parse(value)
        else:
            form[name] = str(value) if opt.kind is str else number(value, label, whole=opt.kind is int)
        choices = form_choices(opt)
        if choices and form[name] not in choices:
            raise PainterlyError(f"{label} must be one of {', '.join(choices)}")
    return form


def number(value: Any, label: str, *, whole: bool = False) -> float | int:
    """A finite number (a whole one when ``whole``) from JSON or form text, else PainterlyError."""
    try:
        if isinstance(value, bool | dict | list):
            raise ValueError
        result = float(value)
        if not math.isfinite(result) or (whole and not result.is_integer()):
            raise ValueError
    except (TypeError, ValueError, OverflowError):
        kind = " (a whole one)" if whole else ""
        raise PainterlyError(f"{label} must be a number{kind}, not {str(value)[:40]!r}") from None
    return int(result) if whole else result


def preview_every(value: Any) -> int:
    """How often a submitted job sends a preview: 0 (never) to MAX_ITERATIONS iterations."""
    every = number(DEFAULT_PREVIEW_EVERY if value is None else value, "preview every", whole=True)
    if not 0 <= every <= settings.MAX_ITERATIONS:
        raise PainterlyError(f"preview every must be between 0 and {settings.MAX_ITERATIONS}")
    return int(every)


# --- steering: the settings a running job takes from the page that submitted it --------------------


def steerable() -> dict[str, Option]:
    """The settings a painting run may change (``state.STEERABLE``, those ``Settings`` declares), by
    name. Imports the engine's state (and torch): only asked about while a run paints."""
    from ..state import STEERABLE

    known = {opt.name: opt for opt in options(settings.Settings)}
    return {name: known[name] for name in STEERABLE if name in known}


def steer_schema() -> list[dict[str, Any]]:
    """Each steerable field as the page draws its slider: ``type`` (a number: float or int; the page
    draws no slider for another), ``many`` (one weight per style image), bounds (``max`` None: a weight,
    drawn on a log scale), default and help."""
    return [
        {
            "name": opt.name,
            "label": opt.name.replace("_", " "),
            "help": opt.help,
            "type": "float" if opt.kind is float else "int" if opt.kind is int else "other",
            "many": opt.many,
            "default": list(opt.default) if opt.many else opt.default,
            "min": opt.bounds[0] if opt.bounds else 0,
            "max": opt.bounds[1] if opt.bounds else None,
        }
        for opt in steerable().values()
    ]


def steer_values(raw: Any, current: settings.Settings) -> dict[str, Any]:
    """The changes a page asks of a running job, as ``Settings`` holds them: names from ``steerable``,
    types as ``Settings.from_dict`` checks a record's (a number, not "5"; a list of numbers), values as
    ``validated`` checks them against ``current``. PainterlyError (one line, HTTP 400) otherwise."""
    if not isinstance(raw, dict):
        raise PainterlyError('send the settings to change as a JSON object, e.g. {"style_weight": 20}')
    allowed = steerable()
    unknown = [str(name) for name in raw if name not in allowed]
    if unknown:
        raise PainterlyError(
            f"setting {unknown[0][:40]!r} cannot be changed while a run paints; only {', '.join(allowed)}"
        )
    try:
        typed = settings.Settings.from_dict(raw)
    except OverflowError:  # an integer too large for a float
        raise PainterlyError("a setting's number is too large") from None
    changes = {name: getattr(typed, name) for name in raw}
    current.with_(**changes).validated()
    return changes
