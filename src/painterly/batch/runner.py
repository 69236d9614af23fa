"""The batch's bookkeeping and its one scheduling loop, whatever runs the jobs.

Each job's state follows ``queue`` (the life cycle the web queue uses too): queued -> running -> done,
failed or interrupted; failed and interrupted jobs go back to queued when the batch is resumed.
``OUTDIR/results.json`` is rewritten atomically after every job; a job is done only once its output
exists and carries the job's settings.
"""

from __future__ import annotations

import contextlib
import json
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from ..errors import PainterlyError
from ..files import write_text_atomic
from ..interrupts import on_ctrl_c
from ..queue import FINISHED, RETRYABLE, Status, check_transition, recovered
from ..settings import as_saved
from .plan import JobSpec

RESULTS = "results.json"
OVERVIEW = "overview.png"
THUMBNAIL = 256


@dataclass
class Entry:
    """One job of the batch and what became of it."""

    spec: JobSpec
    output: Path
    status: Status = Status.QUEUED
    seconds: float | None = None
    losses: dict[str, float] = field(default_factory=dict)
    error: str = ""
    attempts: int = 0
    estimate: float = 0.0

    def move(self, new: Status) -> None:
        self.status = check_transition(self.status, new)

    def to_dict(self) -> dict[str, Any]:
        s = self.spec.settings
        return {
            "name": self.spec.label,
            "status": str(self.status),
            "output": str(self.output) if self.status == Status.DONE else None,
            "content": s.content,
            "styles": list(s.styles),
            "seconds": self.seconds,
            "losses": self.losses,
            "error": self.error or None,
            "attempts": self.attempts,
        }


@dataclass
class Outcome:
    """What an executor hands back for one job: a record (output already in place, or as ``png`` bytes
    for the driver to write) or an error message."""

    record: dict[str, Any] | None = None
    png: bytes | None = None
    error: str = ""


class Executor(Protocol):
    """Runs jobs somewhere: in this process, in one process per GPU, or on a Ray cluster."""

    slots: int

    def listen(self, display: Any) -> None: ...
    def submit(self, entry: Entry) -> Any: ...
    def wait(self, handles: list[Any], timeout: float) -> list[Any]: ...
    def result(self, handle: Any) -> Outcome: ...
    def abort(self) -> None: ...


class Batch:
    """The jobs of one OUTDIR, their states (recovered from an earlier run) and results.json."""

    def __init__(self, specs: list[JobSpec], outdir: Path, resume_hint: str) -> None:
        self.outdir = outdir
        self.resume_hint = resume_hint
        self.entries = [Entry(spec, outdir / spec.name) for spec in specs]
        self._recover()

    def _recover(self) -> None:
        """Done where the output already carries the job's settings; everything else queued again."""
        from ..jobs import read_record

        try:
            previous = {job["name"]: job for job in json.loads((self.outdir / RESULTS).read_text())["jobs"]}
        except (OSError, ValueError, KeyError, TypeError):
            previous = {}
        for entry in self.entries:
            before = previous.get(entry.spec.label, {})
            try:
                entry.attempts = int(before.get("attempts") or 0)
            except (TypeError, ValueError):  # a hand-edited or damaged results.json
                entry.attempts = 0
            try:
                record = read_record(entry.output) if entry.output.exists() else None
            except PainterlyError:
                record = None
            if record and _matches(record.to_dict(), entry.spec):
                entry.status = Status.DONE
                entry.seconds, entry.losses = before.get("seconds") or record.elapsed, record.losses
                continue
            try:
                entry.status = recovered(before.get("status", Status.QUEUED))
            except ValueError:
                entry.status = Status.QUEUED
            if entry.status in FINISHED:  # its output went missing or belongs to other settings
                entry.move(Status.FAILED)
            if entry.status in RETRYABLE:
                entry.move(Status.QUEUED)

    def pending(self) -> list[Entry]:
        return [e for e in self.entries if e.status == Status.QUEUED]

    def counts(self) -> dict[str, int]:
        counts = {str(status): 0 for status in Status}
        for entry in self.entries:
            counts[str(entry.status)] += 1
        return counts

    def save(self) -> None:
        data = {
            "outdir": str(self.outdir),
            "counts": self.counts(),
            "resume": self.resume_hint,
            "jobs": [e.to_dict() for e in self.entries],
        }
        write_text_atomic(self.outdir / RESULTS, json.dumps(data, indent=2))

    def start(self, entry: Entry) -> None:
        entry.move(Status.RUNNING)
        entry.attempts += 1
        entry.error = ""
        self.save()

    def finish(self, entry: Entry, outcome: Outcome, seconds: float) -> None:
        """Record an executor's outcome; write returned bytes into OUTDIR; check the output is there."""
        from ..jobs import read_record

        entry.seconds = round(seconds, 2)
        if outcome.error:
            entry.error = outcome.error
            entry.move(Status.FAILED)
        else:
            record = dict(outcome.record or {})
            written = None
            if outcome.png is not None:
                entry.error = _write_returned(outcome.png, record, entry)
            try:
                written = None if entry.error else read_record(entry.output).to_dict()
            except PainterlyError as exc:
                entry.error = f"output missing or damaged after the run: {exc}"
            entry.losses = record.get("losses", {})
            if written and written.get("interrupted"):
                entry.move(Status.INTERRUPTED)
            elif written and _matches(written, entry.spec):
                entry.move(Status.DONE)
            else:
                entry.error = entry.error or "the output does not carry this job's settings"
                entry.move(Status.FAILED)
        self.save()

    def interrupt(self, entry: Entry) -> None:
        entry.move(Status.INTERRUPTED)
        self.save()

    def write_overview(self, columns: int) -> Path | None:
        """A labelled contact sheet of every finished output still readable (None when there is none)."""
        from PIL import Image

        from ..images import contact_sheet, save_image

        done, tiles = [], []
        for entry in (e for e in self.entries if e.status == Status.DONE):
            try:
                with Image.open(entry.output) as image:
                    image.thumbnail((THUMBNAIL, THUMBNAIL))
                    tiles.append(image.convert("RGB"))
            except (OSError, ValueError, SyntaxError, Image.DecompressionBombError):
                continue  # deleted or replaced since it was done: the next run redoes it
            done.append(entry)
        if not done:
            return None
        columns = max(1, min(columns or math.ceil(math.sqrt(len(done))), len(done)))
        sheet = contact_sheet(tiles, [e.spec.label for e in done], columns)
        return save_image(sheet, self.outdir / OVERVIEW, {"batch": [e.spec.label for e in done]})


def _matches(record: dict[str, Any], spec: JobSpec) -> bool:
    return not record.get("interrupted") and as_saved(record.get("settings")) == spec.settings_dict()


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _write_returned(png: bytes, record: dict[str, Any], entry: Entry) -> str:
    """A remote worker's output, written here atomically with the record naming this machine's paths;
    the one-line error when the bytes are no PNG or the disk refuses them, else ""."""
    import io

    from PIL import Image

    from ..images import save_image

    record.update(settings=entry.spec.settings_dict(), output=str(entry.output))
    try:
        with Image.open(io.BytesIO(png), formats=["PNG"]) as image:
            image.load()
            save_image(image, entry.output, record)
    except PainterlyError as exc:
        return str(exc)
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        return f"the worker returned no readable PNG: {_one_line(exc)}"
    return ""


class Interrupts:
    """First Ctrl-C: start no new job; second: stop the running ones now; a third raises as usual."""

    def __init__(self, on_stop_now: Callable[[], None], say: Callable[[str], None]) -> None:
        self.draining = False
        self.aborted = False
        self._on_stop_now, self._say = on_stop_now, say

    @contextlib.contextmanager
    def installed(self) -> Iterator[Interrupts]:
        with on_ctrl_c(self._drain, self._stop_now):
            yield self

    def _drain(self) -> None:
        self.draining = True
        self._say("stopping after the running job(s); Ctrl-C again to stop them now")

    def _stop_now(self) -> None:
        self.aborted = True
        self._on_stop_now()


class Display(Protocol):
    def started(self, entry: Entry) -> None: ...
    def finished(self, entry: Entry) -> None: ...


def drive(batch: Batch, executor: Executor, interrupts: Interrupts, display: Display) -> None:
    """Keep ``executor.slots`` jobs running until none is left, the user stops, or everything fails."""
    queued = batch.pending()
    running: dict[Any, tuple[Entry, float]] = {}
    batch.save()
    while queued or running:
        while queued and len(running) < executor.slots and not interrupts.draining:
            entry = queued.pop(0)
            batch.start(entry)
            display.started(entry)
            running[executor.submit(entry)] = (entry, time.perf_counter())
        if not running:
            break
        for handle in executor.wait(list(running), timeout=0.25):
            entry, start = running.pop(handle)
            batch.finish(entry, executor.result(handle), time.perf_counter() - start)
            display.finished(entry)
        if interrupts.aborted and running:
            executor.abort()
            for entry, _ in running.values():
                batch.interrupt(entry)
            return
