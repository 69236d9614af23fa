"""The job life cycle shared by the web queue and the batch runner."""

from __future__ import annotations

import pytest

from painterly.errors import PainterlyError
from painterly.queue import (
    ACTIVE,
    FINISHED,
    RETRYABLE,
    Status,
    TransitionError,
    can_move,
    check_transition,
    recovered,
    sources,
)


def test_states_partition_into_active_finished_retryable():
    assert set(Status) == ACTIVE | FINISHED | RETRYABLE
    assert not (ACTIVE & FINISHED or ACTIVE & RETRYABLE or FINISHED & RETRYABLE)


@pytest.mark.parametrize(
    "old, new",
    [
        ("queued", "running"),
        ("running", "done"),
        ("running", "stopped"),
        ("running", "failed"),
        ("running", "interrupted"),
        ("failed", "queued"),
        ("interrupted", "queued"),
        ("done", "failed"),
    ],
)
def test_allowed_moves(old, new):
    assert can_move(old, new) and check_transition(old, new) == new


@pytest.mark.parametrize(
    "old, new",
    [
        ("done", "queued"),
        ("stopped", "running"),
        ("queued", "done"),
        ("queued", "interrupted"),  # a waiting job is never cut off: it still waits after a crash
        ("running", "queued"),
        ("failed", "running"),
        ("queued", "bogus"),
        ("bogus", "queued"),
    ],
)
def test_refused_moves_say_which(old, new):
    assert not can_move(old, new)
    with pytest.raises(TransitionError, match=f"is {old} cannot become {new}") as info:
        check_transition(old, new)
    assert isinstance(info.value, PainterlyError)  # a face shows it as one line


def test_recovery_interrupts_only_the_running_job():
    assert {s: recovered(s) for s in Status} == {**{s: s for s in Status}, Status.RUNNING: Status.INTERRUPTED}


def test_sources_are_the_guard_of_each_move():
    assert sources(Status.QUEUED) == RETRYABLE
    assert sources(Status.RUNNING) == {Status.QUEUED}
    assert sources(Status.DONE) == {Status.RUNNING}
