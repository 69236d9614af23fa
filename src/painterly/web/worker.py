"""The queue's single worker thread: one task at a time, a run through ``jobs.Job`` like the CLI, or a
finished run's See inside panels through ``inside.explain`` like ``painterly explain``.

The running task's progress (iteration, losses, latest preview; panel i of n) lives in memory in a
``Live`` object that the server reads when a page polls; when a run ends its record and loss history go
to the store, when a See inside task ends its panels go to the run's folder (``sheets.save_panels``).

A run keeps a checkpoint beside its result (``Job``'s), so a run the server's stop or crash cut off
continues where it was (``recovery`` queues it again) rather than painting from zero.
"""

from __future__ import annotations

import io
import json
import logging
import os
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..checkpoints import DEFAULT_EVERY
from ..errors import PainterlyError, disk_full, user_message
from ..files import write_text_atomic
from ..queue import Status
from .results import RECORD, public_record
from .schema import INSIDE, RUN
from .store import DISK_FULL, INTERNAL_ERROR, Store

if TYPE_CHECKING:  # ``_run`` imports it (and torch) when a run starts
    from ..jobs import Job

log = logging.getLogger("painterly.web")
MAX_HISTORY = 1000  # loss points kept per run (and sent with each poll): thinned by 2 when full


@dataclass
class Live:
    """Progress of the running job, updated from the engine's events."""

    id: str
    kind: str = RUN  # or INSIDE: the See inside panels of the finished run ``id``
    started: float = field(default_factory=time.time)
    total: int = 0
    iteration: int = 0
    elapsed: float = 0.0
    estimate: float | None = None
    scale: str = ""
    history: list[list[float]] = field(default_factory=list)  # [iteration, content, style, total]
    stride: int = 1  # every stride-th iteration goes into the history
    preview: bytes | None = None
    preview_iteration: int = 0
    panel: int = 0  # See inside: panels finished, of ``panels``; the one under way
    panels: int = 0
    panel_title: str = ""
    cancelled: bool = False
    resumed: float | None = None  # the share of the run its checkpoint held when this one took it over
    job: Any = None  # what ``stop()`` ends: the Job, or the See inside task's StopToken

    def on_event(self, event: Any) -> None:
        from ..engine import Iteration, Preview, ScaleStarted

        if isinstance(event, Iteration):
            self.iteration, self.total, self.elapsed = event.iteration, event.total, event.elapsed
            losses = event.losses
            if event.iteration % self.stride:
                return
            if len(self.history) >= MAX_HISTORY:
                self.stride *= 2
                self.history = [h for h in self.history if h[0] % self.stride == 0]
                if event.iteration % self.stride:
                    return
            self.history.append(
                [
                    event.iteration,
                    losses.get("content", 0.0),
                    losses.get("style", 0.0),
                    losses.get("total", 0.0),
                ]
            )
        elif isinstance(event, Preview):
            buffer = io.BytesIO()
            event.image.save(buffer, format="PNG", compress_level=1)
            self.preview, self.preview_iteration = buffer.getvalue(), event.iteration
        elif isinstance(event, ScaleStarted):
            self.scale = f"scale {event.index + 1}/{event.count}, {event.width}x{event.height}"

    def on_inside_event(self, event: Any) -> None:
        from ..engine import Iteration
        from ..inside import PanelDone, PanelStarted

        if isinstance(event, PanelStarted):
            self.panel, self.panels, self.panel_title = event.index, event.count, event.title
            self.iteration = self.total = 0
        elif isinstance(event, PanelDone):
            self.panel = event.index + 1
        elif isinstance(event, Iteration):
            self.iteration, self.total = event.iteration, event.total

    def inside_snapshot(self) -> dict[str, Any]:
        return {
            "panel": self.panel,
            "panels": self.panels,
            "title": self.panel_title,
            "iteration": self.iteration,
            "total": self.total,
            "elapsed": round(time.time() - self.started, 2),
            "cancelling": self.cancelled,
        }

    def stylizer(self) -> Any:
        """The run's Stylizer while it paints (steering reaches it), else None: still loading or
        calibrating (the engine drops changes made before it starts), a See inside task, or cancelling."""
        stylizer = getattr(self.job, "stylizer", None)
        painting = stylizer is not None and stylizer.state is not None
        return stylizer if painting and self.kind == RUN and not self.cancelled else None

    def steering(self) -> dict[str, Any] | None:
        """What the page's sliders show while the run paints: the steerable fields, their values in
        force and the changes applied so far ([iteration, field, value])."""
        from .forms import steer_schema, steerable

        stylizer = self.stylizer()
        state = stylizer.state if stylizer is not None else None
        if state is None:
            return None
        return {
            "fields": steer_schema(),
            "values": {name: getattr(state.settings, name) for name in steerable()},
            "changes": [[c.iteration, c.field, c.value] for c in list(state.changes)],
        }

    def snapshot(self) -> dict[str, Any]:
        wall = time.time() - self.started
        if self.iteration and self.total:
            remaining = self.elapsed / self.iteration * (self.total - self.iteration)
        elif self.estimate is not None:
            remaining = max(0.0, self.estimate - wall)
        else:
            remaining = None
        return {
            "iteration": self.iteration,
            "total": self.total,
            "elapsed": round(wall, 2),
            "remaining": None if remaining is None else round(remaining, 1),
            "scale": self.scale,
            "history": list(self.history),
            "preview_iteration": self.preview_iteration if self.preview else 0,
            "cancelling": self.cancelled,
            "resumed": self.resumed,
            "steering": self.steering(),
        }


class Worker:
    """Takes queued jobs from the store, oldest first, and runs them one at a time, each writing a
    checkpoint every ``checkpoint_every`` seconds (0: none, so nothing can be continued)."""

    def __init__(self, store: Store, checkpoint_every: float = DEFAULT_EVERY) -> None:
        self.store = store
        self.checkpoint_every = checkpoint_every
        self.live: Live | None = None
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._halt = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="painterly-worker", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def notify(self) -> None:
        """A job was queued: look now rather than at the next poll."""
        self._wake.set()

    def shutdown(self, timeout: float = 30.0) -> bool:
        """Stop taking jobs, stop the running one (it becomes interrupted, resumable) and wait.

        Returns whether the thread ended: a large run may need longer than ``timeout`` to reach the end
        of its current iteration, and the store must stay open for it until then."""
        self._halt.set()
        self._wake.set()
        with self._lock:
            if self.live is not None and self.live.job is not None:
                self.live.job.stop()
        if self._thread.is_alive():
            self._thread.join(timeout)
        return not self._thread.is_alive()

    def current(self, job_id: str, kind: str = RUN) -> Live | None:
        live = self.live
        return live if live is not None and live.id == job_id and live.kind == kind else None

    def painting(self, job_id: str) -> Any:
        """The Stylizer of run ``job_id`` while it paints (``Live.stylizer``), else None."""
        live = self.current(job_id)
        return live.stylizer() if live is not None else None

    def cancel(self, job_id: str, kind: str = RUN) -> bool:
        """Stop the running job ``job_id`` (its best image so far is kept), or its See inside task (its
        panels are dropped); False if that is not running."""
        with self._lock:
            live = self.live
            if live is None or live.id != job_id or live.kind != kind:
                return False
            live.cancelled = True
            if live.job is not None:
                live.job.stop()
            return True

    def abandon(self, job_id: str) -> bool:
        """Fail a job the store lists as running but this worker is not running: its end could not be
        recorded (e.g. the disk was full). Lets the user cancel or delete it without a restart."""
        with self._lock:
            if self.live is not None and self.live.id == job_id:
                return False
            return self.store.jobs.finish(
                job_id, Status.FAILED, error="the end of this run could not be recorded"
            )

    # --- the thread ----------------------------------------------------------------------------

    def _loop(self) -> None:
        while not self._halt.is_set():
            row = None
            try:
                with self._lock:
                    row = None if self._halt.is_set() else self.store.jobs.claim_next()
                    if row is not None:
                        self.live = Live(row["id"], row["kind"])
                if row is None:
                    self._wake.wait(1.0)
                    self._wake.clear()
                    continue
                if row["kind"] == INSIDE:
                    self._run_inside(row)
                else:
                    self._run(row)
            except Exception:  # noqa: BLE001 - the only worker must outlive any one job's failure
                log.exception("queue worker error")
                if row is not None:
                    self._mark_failed(row["id"], kind=row["kind"])
                self._wake.wait(1.0)
            finally:
                with self._lock:
                    self.live = None

    def _mark_failed(
        self, job_id: str, error: str = "internal error in the queue worker", kind: str = RUN
    ) -> None:
        try:
            if kind == INSIDE:
                self.store.insides.finish(job_id, Status.FAILED, error=error)
            else:
                self.store.jobs.finish(job_id, Status.FAILED, error=error)
        except Exception:  # noqa: BLE001 - the database itself is failing; the restart recovery handles it
            log.exception("cannot mark job %s failed", job_id)

    def _finish(self, job_id: str, status: Status, kind: str = RUN, **outcome: Any) -> None:
        """Record how a task ended; if the disk is full the task still ends, as failed with that message."""
        try:
            if kind == INSIDE:
                self.store.insides.finish(job_id, status, **outcome)
            else:
                self.store.jobs.finish(job_id, status, **outcome)
        except Exception as exc:
            if not disk_full(exc):
                raise
            log.error("job %s: %s", job_id, DISK_FULL)
            self._mark_failed(job_id, DISK_FULL, kind)

    def _run(self, row: dict[str, Any]) -> None:
        from ..jobs import Job

        job_id, live = row["id"], self.live
        assert live is not None
        try:
            job = Job(
                self.store.inputs.run_settings(row),
                self.store.results.result_path(job_id),
                embed=lambda record: public_record(record, job_id),
                checkpoint_every=self.checkpoint_every,
            )
            with self._lock:
                live.job = job
                if live.cancelled or self._halt.is_set():
                    job.stop()
            inputs = job.load_inputs()
            live.resumed = _resume_point(job_id, job)
            live.estimate = job.estimate_seconds(inputs[0], inputs[1]) * (1 - (live.resumed or 0))
            live.total = sum(iters for _, iters in job.settings.schedule())
            record = job.run(
                live.on_event,
                preview_every=row["preview_every"],
                inputs=inputs,
                resume=live.resumed is not None,
            )
            kept = record.to_dict() | ({} if live.resumed is None else {"resumed": live.resumed})
            write_text_atomic(self.store.results.run_dir(job_id) / RECORD, json.dumps(kept, indent=2))
        except Exception as exc:  # noqa: BLE001 - any failure ends the task; _failure tells bugs apart
            self._finish(job_id, Status.FAILED, history=live.history, error=_failure(f"job {job_id}", exc))
            return
        if not record.interrupted:
            status = Status.DONE
        elif live.cancelled:
            status = Status.STOPPED
            if job.checkpoint is not None:  # a cancelled run is never continued: its best image is its end
                job.checkpoint.unlink(missing_ok=True)
        else:
            status = Status.INTERRUPTED  # the server is shutting down; continued after restart
        error = "the server stopped during this run" if status == Status.INTERRUPTED else None
        self._finish(job_id, status, record=kept, history=live.history, error=error)

    def _run_inside(self, row: dict[str, Any]) -> None:
        """The See inside panels of a finished run: its content, its most weighted style, its result."""
        from ..engine import StopToken
        from ..inside import explain
        from ..sheets import save_panels

        job_id, live = row["id"], self.live
        assert live is not None
        token = StopToken()
        with self._lock:
            live.job = token
            if live.cancelled or self._halt.is_set():
                token.stop()
        try:
            settings = self.store.inputs.run_settings(row["job"])
            weights = settings.blend()
            style = settings.styles[weights.index(max(weights))]  # the most weighted one
            panels = explain(
                settings.content,
                style,
                style_layers=settings.style_layers,
                result=self.store.results.result_path(job_id),
                on_event=live.on_inside_event,
                stop=token,
                **row["options"],
            )
            if not token.stopped:
                save_panels(panels, self.store.results.inside_dir(job_id))
        except Exception as exc:  # noqa: BLE001 - any failure ends the task; _failure tells bugs apart
            self._finish(job_id, Status.FAILED, INSIDE, error=_failure(f"See inside {job_id}", exc))
            return
        if not token.stopped:
            self._finish(job_id, Status.DONE, INSIDE)
        elif live.cancelled:
            self._finish(job_id, Status.STOPPED, INSIDE, error="cancelled; ask again to compute the panels")
        else:
            self._finish(
                job_id, Status.INTERRUPTED, INSIDE, error="the server stopped while computing the panels"
            )


def _resume_point(job_id: str, job: Job) -> float | None:
    """The share of the run that ``job``'s checkpoint holds, to continue from; None to start afresh.

    A checkpoint that cannot be used (damaged, another version's or other inputs') is moved aside to
    ``<name>.unusable``, never used or lost, and the log says the run starts again from zero."""
    if job.checkpoint is None or not job.checkpoint.exists():
        return None
    try:
        return job.resumable().progress
    except PainterlyError as exc:
        aside = job.checkpoint.with_name(job.checkpoint.name + ".unusable")
        os.replace(job.checkpoint, aside)
        log.warning("job %s starts again from zero: %s (kept as %s)", job_id, exc, aside.name)
        return None


def _failure(task: str, exc: Exception) -> str:
    """What a failed task tells its visitor (``errors.user_message``; a bug's own text would name server
    paths); the log gets any bug's traceback and one line for a resource that ran out."""
    message = user_message(exc, disk=DISK_FULL)
    if message is None:
        log.exception("%s failed", task)
        return INTERNAL_ERROR
    if not isinstance(exc, PainterlyError):
        log.warning("%s: %s", task, exc)
    return message
