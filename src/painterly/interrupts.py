"""Staged Ctrl-C for the faces: the first asks politely (finish and save), the next ones insist."""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Callable, Iterator


@contextlib.contextmanager
def on_ctrl_c(*steps: Callable[[], None]) -> Iterator[None]:
    """While inside, each Ctrl-C runs the next of ``steps``; after the last one, Ctrl-C is back to the
    handler from before (Python's KeyboardInterrupt), so a stuck program can still be stopped."""
    previous = signal.getsignal(signal.SIGINT)
    remaining = list(steps)

    def handler(signum, frame) -> None:
        step = remaining.pop(0)
        if not remaining:
            signal.signal(signal.SIGINT, previous)
        step()

    signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
