"""One display for the whole batch: jobs done / failed / left with an ETA, plus the running job's bar.

``quiet`` prints one plain line per finished job instead (for logs).
"""

from __future__ import annotations

import sys

from ..engine import Event, Iteration, ScaleStarted
from ..events import Resumed
from ..queue import Status
from .runner import Batch, Entry


class BatchProgress:
    def __init__(self, batch: Batch, slots: int, quiet: bool) -> None:
        from tqdm import tqdm

        self.batch, self.slots, self.quiet = batch, slots, quiet
        total = len(batch.entries)
        skipped = total - len(batch.pending())
        self.overall = tqdm(
            total=total, initial=skipped, desc="batch", unit="job", disable=quiet, file=sys.stderr, position=0
        )
        self.current = tqdm(total=1, unit="it", disable=quiet, file=sys.stderr, position=1, leave=False)
        self.spent = self.estimated = 0.0
        self.count = skipped
        self._refresh()

    def say(self, message: str) -> None:
        (self.overall.write if not self.quiet else print)(f"painterly: {message}", file=sys.stderr)

    def started(self, entry: Entry) -> None:
        self.current.reset(total=sum(iters for _, iters in entry.spec.settings.schedule()))
        self.current.set_description(entry.spec.label)

    def event(self, entry: Entry, event: Event) -> None:
        if isinstance(event, Iteration):
            self.current.update(1)
        elif isinstance(event, ScaleStarted):
            self.current.set_description(f"{entry.spec.label} {event.width}x{event.height}")
        elif isinstance(event, Resumed):  # the bar and the ETA go on from the checkpoint
            self.current.update(event.done)
            entry.estimate *= 1 - event.done / max(event.total, 1)
            self.say(f"{entry.spec.label}: {event}")

    def remote(self, label: str, done: int, total: int) -> None:
        """Progress reported by a remote worker (the bar follows the job that reported last)."""
        self.current.set_description(label)
        self.current.total = total
        self.current.n = done
        self.current.refresh()

    def finished(self, entry: Entry) -> None:
        if entry.status == Status.DONE:
            self.spent += entry.seconds or 0.0
            self.estimated += entry.estimate
        self._refresh()
        self.overall.update(1)
        self.count += 1
        what = f"{entry.status} {entry.spec.name} in {entry.seconds or 0:.0f} s"
        if entry.error:
            what += f": {entry.error}"
        if self.quiet or entry.error:
            self.say(f"[{self.count}/{len(self.batch.entries)}] {what}")

    def eta(self) -> float:
        """Seconds left: the cost model's estimates, corrected by how this batch's jobs compared to them."""
        ratio = self.spent / self.estimated if self.estimated else 1.0
        left = sum(e.estimate for e in self.batch.entries if e.status in (Status.QUEUED, Status.RUNNING))
        return ratio * left / self.slots

    def _refresh(self) -> None:
        counts = self.batch.counts()
        left = counts["queued"] + counts["running"]
        self.overall.set_postfix_str(
            f"done {counts['done']}, failed {counts['failed']}, left {left}, "
            f"ETA {self.overall.format_interval(self.eta())}"
        )

    def close(self) -> None:
        self.current.close()
        self.overall.close()
