"""Steering a running job from the page that submitted it: its token, and how often it may change.

A submission (or a resume) hands its page a token, ``secrets.token_urlsafe(32)``, in the response body;
the page sends it back in the ``X-Steer-Token`` header, never in a URL. Only its SHA-256 is kept, in
memory, with the job: a restart forgets it, so a run the server continued after a restart cannot be
steered (Resume from the gallery hands out a new one). Each job's changes are limited to
``Limits.steer_per_second`` (a bucket of as many, refilled at that rate): beyond it 429, so a slider
dragged fast cannot flood the queue thread; the page coalesces (it keeps only the latest values and
sends at that pace), and a value equal to the one already asked for is not passed on.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import secrets
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from fastapi import HTTPException

from ..errors import PainterlyError
from .forms import steer_values, steerable
from .limits import Limits

HEADER = "X-Steer-Token"


@dataclass
class _Entry:
    digest: bytes  # SHA-256 of the job's token
    tokens: float  # the rate bucket: changes that may be sent now
    at: float  # when the bucket was last filled
    asked: dict[str, Any] = field(default_factory=dict)  # the latest value asked for, per field


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()


class Steering:
    """The steering tokens and rate buckets of the queued and running jobs."""

    def __init__(self, limits: Limits, clock: Callable[[], float] = time.monotonic) -> None:
        self.limits, self.clock = limits, clock
        self._entries: dict[str, _Entry] = {}
        self._lock = threading.Lock()

    def issue(self, job_id: str, active: Iterable[str]) -> str:
        """A new token for ``job_id`` (replacing any earlier one); entries of jobs no longer ``active``
        (queued or running) are dropped."""
        token = secrets.token_urlsafe(32)
        keep = set(active)
        with self._lock:
            self._entries = {i: e for i, e in self._entries.items() if i in keep}
            self._entries[job_id] = _Entry(_digest(token), self.limits.steer_per_second, self.clock())
        return token

    def steer(self, job_id: str, token: str | None, raw: Any, stylizer: Any) -> dict[str, Any]:
        """Pass the changes ``raw`` (checked by ``forms.steer_values``) to the painting ``stylizer`` of
        ``job_id``; the values in force from its next evaluation. HTTPException 403 without the job's
        token, 429 past its rate; PainterlyError (400) for a bad field or value."""
        with self._lock:
            entry = self._entries.get(job_id)
            asked = dict(entry.asked) if entry is not None else {}
        if entry is None or not token or not hmac.compare_digest(entry.digest, _digest(token)):
            raise HTTPException(403, "only the page that started this run can steer it")
        current = stylizer.settings
        changes = steer_values(raw, current.with_(**asked))
        with self._lock:
            wait = self._take(entry)
            if wait:
                raise HTTPException(
                    429,
                    f"too many changes: at most {self.limits.steer_per_second} a second; "
                    "the latest values count",
                    headers={"Retry-After": str(math.ceil(wait))},
                )
            new = {k: v for k, v in changes.items() if entry.asked.get(k, getattr(current, k)) != v}
            if new:
                try:
                    stylizer.update(**new)
                except (TypeError, ValueError) as exc:  # the engine's own check, should it differ
                    raise PainterlyError(str(exc).splitlines()[0] if str(exc) else "bad value") from None
                entry.asked.update(new)
            values = {name: getattr(current, name) for name in steerable()} | entry.asked
        return {"id": job_id, "values": values}

    def _take(self, entry: _Entry) -> float:
        """Take one change from ``entry``'s bucket: 0, or the seconds until one is there."""
        now, rate = self.clock(), self.limits.steer_per_second
        entry.tokens = min(rate, entry.tokens + (now - entry.at) * rate)
        entry.at = now
        if entry.tokens < 1:
            return (1 - entry.tokens) / rate
        entry.tokens -= 1
        return 0.0
