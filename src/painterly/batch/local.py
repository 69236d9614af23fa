"""Executors on this machine: jobs one after another in this process, or one process per GPU."""

from __future__ import annotations

import contextlib
import os
import signal
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..checkpoints import DEFAULT_EVERY
from ..engine import Event, StopToken
from ..errors import PainterlyError, user_message
from ..settings import Settings
from ..targets import TargetCache
from .runner import Entry, Outcome


def paint(
    settings: Settings,
    output: Path,
    targets: TargetCache,
    stop: StopToken | None = None,
    on_event: Callable[[Event], None] | None = None,
    checkpoint_every: float = DEFAULT_EVERY,
) -> Outcome:
    """Run one job through ``jobs.Job``, going on from its checkpoint when an earlier batch left one
    beside the output; a bad input (or any failure of this job) becomes its error.

    Whatever goes wrong in one job must not end the batch, so unexpected errors are kept too, with the
    exception's type so they read as the bug they are. A checkpoint that is another run's (the manifest
    changed the job's settings, an input changed) fails the job with that reason and stays: it may hold
    hours of painting the user wants back, and one ``rm`` restarts the job, whereas a silent restart
    would replace it at the first save.
    """
    from ..jobs import Job

    try:
        job = Job(settings, output, targets=targets, stop=stop, checkpoint_every=checkpoint_every)
        record = job.run(on_event, resume=job.unfinished)
    except Exception as exc:  # noqa: BLE001 - reported in results.json, the batch goes on
        message = user_message(exc)
        if message is None:
            traceback.print_exc()
            message = f"{type(exc).__name__}: {exc}"
        return Outcome(error=message)
    return Outcome(record=record.to_dict())


class InlineExecutor:
    """One job at a time in this process, all sharing one target cache (style targets made once per
    style) and one stop token (the second Ctrl-C ends the running job, leaving its checkpoint)."""

    slots = 1

    def __init__(self, checkpoint_every: float = DEFAULT_EVERY) -> None:
        self.checkpoint_every = checkpoint_every
        self.targets = TargetCache()
        self.token = StopToken()
        self._on_event: Callable[[Entry, Event], None] = lambda entry, event: None
        self._outcomes: dict[int, Outcome] = {}

    def listen(self, display: Any) -> None:
        self._on_event = display.event

    def submit(self, entry: Entry) -> int:
        handle = len(self._outcomes)
        self._outcomes[handle] = paint(
            entry.spec.settings,
            entry.output,
            self.targets,
            self.token,
            lambda e: self._on_event(entry, e),
            self.checkpoint_every,
        )
        return handle

    def wait(self, handles: list[int], timeout: float) -> list[int]:
        return handles

    def result(self, handle: int) -> Outcome:
        return self._outcomes.pop(handle)

    def abort(self) -> None:
        self.token.stop()


# --- one process per GPU ---------------------------------------------------------------------------


def _serve(slot: dict[str, str], jobs: Any, checkpoint_every: float) -> None:
    """A worker process: take its device slot (environment, e.g. CUDA_VISIBLE_DEVICES) before torch
    starts, leave Ctrl-C to the driver, then run the jobs that come down the pipe until ``None``."""
    os.environ.update(slot)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    targets = TargetCache()
    while (job := jobs.recv()) is not None:
        settings_json, output = job
        jobs.send(
            paint(Settings.from_json(settings_json), Path(output), targets, checkpoint_every=checkpoint_every)
        )


class _Worker:
    """One process pinned to one slot, fed one job at a time; restarted when it dies."""

    def __init__(self, context: Any, slot: dict[str, str], checkpoint_every: float) -> None:
        self._context, self._slot, self._every = context, slot, checkpoint_every
        self.start()

    def start(self) -> None:
        self.pipe, child = self._context.Pipe()
        self.process = self._context.Process(
            target=_serve, args=(self._slot, child, self._every), daemon=True
        )
        self.process.start()
        child.close()

    def send(self, job: tuple[str, str] | None) -> None:
        with contextlib.suppress(OSError):  # it just died: its sentinel tells wait(), receive() says so
            self.pipe.send(job)

    def receive(self) -> Outcome:
        """The job's outcome; a process that died without one fails the job and is replaced."""
        try:
            if self.pipe.poll():
                return self.pipe.recv()
        except (EOFError, OSError):
            pass
        self.process.join(timeout=5)
        code = self.process.exitcode
        self.pipe.close()
        self.start()
        return Outcome(error=f"the worker process died while running this job (exit code {code})")


class ProcessExecutor:
    """``len(slots)`` worker processes, each with its own device environment and target cache.

    For several GPUs: slot i is ``{"CUDA_VISIBLE_DEVICES": <i-th visible GPU>}``, so every process sees
    one GPU as ``cuda`` and keeps its network loaded between jobs. Each slot is its own process, so one
    that dies (killed, out of memory) fails only its job and is started again.
    """

    def __init__(self, slots: list[dict[str, str]], checkpoint_every: float = DEFAULT_EVERY) -> None:
        import multiprocessing

        context = multiprocessing.get_context("spawn")  # CUDA cannot be forked
        self.slots = len(slots)
        self._workers = [_Worker(context, slot, checkpoint_every) for slot in slots]
        self._idle = list(self._workers)
        self._busy: dict[int, _Worker] = {}
        self._count = 0

    def listen(self, display: Any) -> None:
        """Worker processes report only finished jobs (the overall bar)."""

    def submit(self, entry: Entry) -> int:
        worker = self._idle.pop()
        if not worker.process.is_alive():
            worker.start()
        worker.send((entry.spec.settings.to_json(), str(entry.output)))
        self._count += 1
        self._busy[self._count] = worker
        return self._count

    def wait(self, handles: list[int], timeout: float) -> list[int]:
        from multiprocessing.connection import wait

        ready = wait(
            [s for h in handles for s in (self._busy[h].pipe, self._busy[h].process.sentinel)], timeout
        )
        return [h for h in handles if {self._busy[h].pipe, self._busy[h].process.sentinel} & set(ready)]

    def result(self, handle: int) -> Outcome:
        worker = self._busy.pop(handle)
        self._idle.append(worker)
        return worker.receive()

    def abort(self) -> None:
        for worker in self._workers:
            worker.process.terminate()

    def close(self) -> None:
        for worker in self._workers:
            worker.send(None)
        for worker in self._workers:
            worker.process.join(timeout=10)
            if worker.process.is_alive():
                worker.process.terminate()


def gpu_slots(workers: int) -> list[dict[str, str]]:
    """One slot per GPU for ``--workers N``, numbered within the GPUs CUDA_VISIBLE_DEVICES already
    allows; refuses more workers than CUDA devices."""
    import torch

    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if workers > 1 and workers > count:
        raise PainterlyError(
            f"--workers {workers} runs one job per GPU but {count} CUDA device(s) are visible; "
            "on a CPU jobs run one at a time (use --ray to spread them over machines)"
        )
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    devices = [d.strip() for d in visible.split(",")] if visible else [str(i) for i in range(workers)]
    return [{"CUDA_VISIBLE_DEVICES": devices[i]} for i in range(workers)]
