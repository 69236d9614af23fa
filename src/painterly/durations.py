"""Durations as a user types them (``--time 1h30m``)."""

from __future__ import annotations

from .errors import PainterlyError

_UNITS = {"s": 1, "m": 60, "h": 3600}


def parse_duration(text: str) -> float:
    """Seconds in ``45s``, ``2m``, ``1h30m``, ``1.5h`` or ``90`` (seconds); a one-line error otherwise."""
    import re

    cleaned = text.strip().lower().replace(" ", "")
    parts = re.fullmatch(r"((?:\d+(?:\.\d+)?[hms])+|\d+(?:\.\d+)?)", cleaned)
    seconds = 0.0
    if parts:
        for number, unit in re.findall(r"(\d+(?:\.\d+)?)([hms]?)", cleaned):
            seconds += float(number) * _UNITS[unit or "s"]
    if not parts or not (0 < seconds <= 7 * 86400):
        raise PainterlyError(
            f"time must be a duration above 0 and up to a week, such as 45s, 2m or 1h30m, not {text!r}"
        )
    return seconds
