"""Executors on this machine: jobs one after another in this process, or one process per GPU."""

from __future__ import annotations

import os
import signal
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..engine import Event, StopToken
from ..errors import PainterlyError
from ..settings import Settings
from ..targets import TargetCache
from .runner import Entry, Outcome


def paint(
    settings: Settings,
    output: Path,
    targets: TargetCache,
    stop: StopToken | None = None,
    on_event: Callable[[Event], None] | None = None,
) -> Outcome:
    """Run one job through ``jobs.Job``; a bad input (or any failure of this job) becomes its error.

    Whatever goes wrong in one job must not end the batch, so unexpected errors are kept too, with the
    exception's type so they read as the bug they are.
    """
    from ..jobs import Job

    try:
        record = Job(settings, output, targets=targets, stop=stop).run(on_event)
    except PainterlyError as exc:
        return Outcome(error=str(exc))
    except Exception as exc:  # noqa: BLE001 - reported in results.json, the batch goes on
        traceback.print_exc()
        return Outcome(error=f"{type(exc).__name__}: {exc}")
    return Outcome(record=record.to_dict())


class InlineExecutor:
    """One job at a time in this process, all sharing one target cache (style targets made once per
    style) and one stop token (the second Ctrl-C ends the running job)."""

    slots = 1

    def __init__(self) -> None:
        self.targets = TargetCache()
        self.token = StopToken()
        self._on_event: Callable[[Entry, Event], None] = lambda entry, event: None
        self._outcomes: dict[int, Outcome] = {}

    def listen(self, display: Any) -> None:
        self._on_event = display.event

    def submit(self, entry: Entry) -> int:
        handle = len(self._outcomes)
        self._outcomes[handle] = paint(
            entry.spec.settings, entry.output, self.targets, self.token, lambda e: self._on_event(entry, e)
        )
        return handle

    def wait(self, handles: list[int], timeout: float) -> list[int]:
        return handles

    def result(self, handle: int) -> Outcome:
        return self._outcomes.pop(handle)

    def abort(self) -> None:
        self.token.stop()


# --- one process per GPU ---------------------------------------------------------------------------

_CACHE: TargetCache | None = None


def _pin(slots: Any) -> None:
    """Pool initializer: take one device slot (environment, e.g. CUDA_VISIBLE_DEVICES) before torch
    starts; leave Ctrl-C to the driver."""
    global _CACHE
    os.environ.update(slots.get())
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _CACHE = TargetCache()


def _paint_in_worker(settings_json: str, output: str) -> Outcome:
    assert _CACHE is not None
    return paint(Settings.from_json(settings_json), Path(output), _CACHE)


class ProcessExecutor:
    """``len(slots)`` worker processes, each with its own device environment and target cache.

    For several GPUs: slot i is ``{"CUDA_VISIBLE_DEVICES": "i"}``, so every process sees one GPU as
    ``cuda`` and keeps its network loaded between jobs.
    """

    def __init__(self, slots: list[dict[str, str]]) -> None:
        import multiprocessing

        context = multiprocessing.get_context("spawn")  # CUDA cannot be forked
        queue = context.Queue()
        for slot in slots:
            queue.put(slot)
        self.slots = len(slots)
        self._pool = context.Pool(len(slots), initializer=_pin, initargs=(queue,))
        self._results: dict[int, Any] = {}

    def listen(self, display: Any) -> None:
        """Worker processes report only finished jobs (the overall bar)."""

    def submit(self, entry: Entry) -> int:
        handle = len(self._results)
        self._results[handle] = self._pool.apply_async(
            _paint_in_worker, (entry.spec.settings.to_json(), str(entry.output))
        )
        return handle

    def wait(self, handles: list[int], timeout: float) -> list[int]:
        deadline = time.monotonic() + timeout
        while True:
            ready = [h for h in handles if self._results[h].ready()]
            if ready or time.monotonic() >= deadline:
                return ready
            time.sleep(0.05)

    def result(self, handle: int) -> Outcome:
        try:
            return self._results.pop(handle).get()
        except Exception as exc:  # noqa: BLE001 - a worker process that died fails its job only
            return Outcome(error=f"worker failed: {type(exc).__name__}: {exc}")

    def abort(self) -> None:
        self._pool.terminate()

    def close(self) -> None:
        self._pool.close()
        self._pool.join()


def gpu_slots(workers: int) -> list[dict[str, str]]:
    """One slot per GPU for ``--workers N``; refuses more workers than CUDA devices."""
    import torch

    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if workers > 1 and workers > count:
        raise PainterlyError(
            f"--workers {workers} runs one job per GPU but {count} CUDA device(s) are visible; "
            "on a CPU jobs run one at a time (use --ray to spread them over machines)"
        )
    return [{"CUDA_VISIBLE_DEVICES": str(i)} for i in range(workers)]
