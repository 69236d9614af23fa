"""The life cycle of a queued stylisation, shared by every runner (web queue, batch runner).

Pure Python, no storage: a runner keeps jobs wherever it likes and asks this module which moves are legal,
so the web app and the batch runner agree on what ``interrupted`` or ``stopped`` mean::

    queued ──> running ──> done          finished, result kept
      │           ├──────> stopped       cancelled by the user, best image so far kept
      │           ├──────> failed        error message kept; retryable
      │           └──────> interrupted   the runner stopped (shutdown, crash); retryable
      └── stays queued after a crash: it never started, so the restarted runner simply takes it
    failed, interrupted ──> queued       retry (resume)
    done, stopped ──> failed             the result file turned out missing or damaged

A cancelled *queued* job is simply removed; it never gets a state of its own.
"""

from __future__ import annotations

from enum import StrEnum

from .errors import PainterlyError


class Status(StrEnum):
    """A job's state; the values are the strings runners store and show."""

    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    STOPPED = "stopped"
    FAILED = "failed"
    INTERRUPTED = "interrupted"


ACTIVE: frozenset[Status] = frozenset({Status.QUEUED, Status.RUNNING})
"""Waiting or running: owned by a runner, never deleted or resumed from outside."""
FINISHED: frozenset[Status] = frozenset({Status.DONE, Status.STOPPED})
"""Ended with a result image on disk."""
RETRYABLE: frozenset[Status] = frozenset({Status.FAILED, Status.INTERRUPTED})
"""Ended without a result; may go back to the queue."""

TRANSITIONS: dict[Status, frozenset[Status]] = {
    Status.QUEUED: frozenset({Status.RUNNING}),
    Status.RUNNING: frozenset({Status.DONE, Status.STOPPED, Status.FAILED, Status.INTERRUPTED}),
    Status.DONE: frozenset({Status.FAILED}),
    Status.STOPPED: frozenset({Status.FAILED}),
    Status.FAILED: frozenset({Status.QUEUED}),
    Status.INTERRUPTED: frozenset({Status.QUEUED}),
}


class TransitionError(PainterlyError):
    """A move the life cycle does not allow (e.g. resuming a job that is done)."""


def can_move(old: str, new: str) -> bool:
    """Whether a job in state ``old`` may move to ``new`` (unknown states: False)."""
    try:
        return Status(new) in TRANSITIONS[Status(old)]
    except ValueError:
        return False


def check_transition(old: str, new: str) -> Status:
    """``new`` as a Status if ``old -> new`` is allowed, else TransitionError naming both."""
    if not can_move(old, new):
        raise TransitionError(f"a job that is {old} cannot become {new}")
    return Status(new)


def sources(new: Status) -> frozenset[Status]:
    """Every state from which a job may move to ``new``: the guard of a conditional update."""
    return frozenset(old for old, targets in TRANSITIONS.items() if new in targets)


def recovered(status: str) -> Status:
    """The state a job is in after its runner died: a running job becomes interrupted (resuming
    continues it from its checkpoint, if it left one), a queued one stays queued, the others stay as
    they were."""
    state = Status(status)
    return Status.INTERRUPTED if state is Status.RUNNING else state
