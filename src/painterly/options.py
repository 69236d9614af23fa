"""Settings' fields as user-facing options: the one declaration the CLI, the web form and batch
manifests are generated from.

Each ``Settings`` field becomes an ``Option`` carrying its flag, type, choices, default and help, and
parses the text a user typed (a command-line value, a CSV cell, a form field) into the typed value, or
raises a one-line ``PainterlyError``. A new option is one field in ``settings.py``.
"""

from __future__ import annotations

import functools
import math
import typing
from dataclasses import dataclass, fields, replace
from typing import Any

from .errors import PainterlyError
from .settings import Settings

# Fields that are inputs of a run, given positionally by each face rather than as options.
INPUTS = ("content", "styles")


@dataclass(frozen=True)
class Option:
    name: str  # the Settings field
    kind: type  # int, float, str or bool; for lists, the element type
    many: bool  # a comma-separated list (tuple field)
    default: Any
    help: str
    choices: tuple[str, ...] = ()
    aliases: tuple[str, ...] = ()  # extra command-line spellings, e.g. "-s"
    bounds: tuple[float, float | None] | None = None  # inclusive (None: no upper), checked by validated
    form: str | None = None  # web page section ("main", "advanced"), None: not on the page
    words: tuple[tuple[str, Any], ...] = ()  # text standing for a value, e.g. ("auto", 0)

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    def parse(self, text: str) -> Any:
        """The typed value of ``text``; empty text is the default (an empty list for lists)."""
        text = text.strip()
        if self.many:
            return tuple(self._one(part.strip()) for part in text.split(",") if part.strip())
        if not text:
            return self.default
        return self._one(text)

    def format(self, value: Any) -> str:
        """The text ``parse`` turns back into ``value`` (for defaults shown and manifests written)."""
        if self.many:
            return ",".join(map(str, value))
        return str(value).lower() if self.kind is bool else str(value)

    def with_many(self) -> Option:
        """The list form of a single-valued option (a sweep over its values)."""
        return replace(self, many=True)

    def _one(self, text: str) -> Any:
        label = self.flag.removeprefix("--")
        if self.kind is bool:
            lowered = text.lower()
            if lowered in ("1", "true", "yes", "on"):
                return True
            if lowered in ("0", "false", "no", "off"):
                return False
            raise PainterlyError(f"{label} must be true or false, not {text!r}")
        if text.lower() in dict(self.words):
            return dict(self.words)[text.lower()]
        if self.choices and text not in self.choices:
            raise PainterlyError(f"{label} must be one of {', '.join(self.choices)}, not {text!r}")
        try:
            value = self.kind(text)
        except ValueError:
            kind = {int: "an integer", float: "a number"}.get(self.kind, "text")
            kind += "".join(f" or {word}" for word, _ in self.words)
            raise PainterlyError(f"{label} must be {kind}, not {text!r}") from None
        if self.kind is float and not math.isfinite(value):
            raise PainterlyError(f"{label} must be a finite number, not {text!r}")
        return value


@functools.cache
def options(declared: type = Settings) -> tuple[Option, ...]:
    """Every field of ``declared`` (Settings, or a face's own options such as video's) except the
    run's inputs, in declaration order."""
    hints = typing.get_type_hints(declared)
    out = []
    for f in fields(declared):
        if f.name in INPUTS:
            continue
        hint = hints[f.name]
        many = typing.get_origin(hint) is tuple
        kind = typing.get_args(hint)[0] if many else hint
        out.append(
            Option(
                name=f.name,
                kind=kind,
                many=many,
                default=f.default,
                help=f.metadata["help"],
                choices=tuple(f.metadata.get("choices") or ()),
                aliases=tuple(f.metadata.get("aliases", ())),
                bounds=f.metadata.get("bounds"),
                form=f.metadata.get("form"),
                words=tuple(f.metadata.get("words", {}).items()),
            )
        )
    return tuple(out)


def option(name: str) -> Option:
    found = next((o for o in options() if o.name == name), None)
    if found is None:
        raise PainterlyError(f"unknown setting {name!r}")
    return found
