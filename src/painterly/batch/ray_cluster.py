"""Jobs as calls on Ray actors: the batch spread over a cluster without a shared file system.

Each actor keeps the network and its style targets loaded between jobs. Inputs travel to it as bytes,
the output comes back as PNG bytes and the driver writes it into OUTDIR. Checkpoints would live in the
actor's temporary folder, gone with it, so a job cut short on Ray starts again from its beginning. Ray restarts an actor whose
process dies and retries the call it was running (``max_restarts``, ``max_task_retries``); the driver
sees one result per job. Progress goes from the actors to the driver through a Ray queue.
Ray is imported only here, and only when ``--ray`` is given.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from ..errors import PainterlyError
from ..settings import Settings, fields_of, named_files, path_fields, repathed
from .runner import Entry, Outcome

RETRIES = 3
PROGRESS_EVERY = 0.5  # seconds between progress messages from one job


def import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise PainterlyError("--ray needs Ray: pip install painterly[cluster]") from None
    return ray


def connect(address: str) -> bool:
    """Connect to ``address`` (a cluster, ``auto`` for the one RAY_ADDRESS names, ``local`` for a Ray
    started for this batch); reuse a connection the caller made. True when this call connected."""
    ray = import_ray()
    if ray.is_initialized():
        return False
    import logging

    options: dict[str, Any] = {"logging_level": logging.WARNING, "log_to_driver": False}
    try:
        if address == "local":
            ray.init(include_dashboard=False, **options)
        else:
            ray.init(address=address, **options)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise PainterlyError(f"cannot connect to the Ray cluster {address!r}: {exc}") from None
    return True


class Painter:
    """A Ray actor that runs jobs sent as bytes and returns the output as bytes."""

    def __init__(self) -> None:
        from ..targets import TargetCache

        self.targets = TargetCache()

    def paint(
        self, label: str, settings_json: str, files: dict[str, bytes], large: dict[str, Any], progress: Any
    ) -> Outcome:
        """``large``: field -> (sha256, [object ref of the bytes]) of the files shipped once per batch."""
        import tempfile

        from ..engine import Iteration
        from .local import paint

        last = [0.0]

        def report(event: Any) -> None:
            now = time.monotonic()
            if isinstance(event, Iteration) and (
                now - last[0] >= PROGRESS_EVERY or event.iteration == event.total
            ):
                last[0] = now
                progress.put_nowait((label, event.iteration, event.total))

        with tempfile.TemporaryDirectory(prefix="painterly-") as tmp:
            settings = _localized(Settings.from_json(settings_json), files, Path(tmp))
            settings = settings.with_(**{name: _node_file(*shipped) for name, shipped in large.items()})
            output = Path(tmp) / "output.png"
            outcome = paint(settings, output, self.targets, on_event=report, checkpoint_every=0)
            if outcome.record is not None:
                outcome.png = output.read_bytes()
            return outcome


def _node_file(digest: str, ref: list[Any]) -> str:
    """A file shipped once per batch (weights), on this node, fetched once: a stable path, so the
    engine's network cache (keyed by path) and converted-weights cache (keyed by hash) keep hitting."""
    import tempfile

    import ray

    from ..files import atomic_path

    path = Path(tempfile.gettempdir()) / "painterly-weights" / f"{digest}.pth"
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path) as tmp:
            tmp.write_bytes(ray.get(ref[0]))
    return str(path)


def _per_job(settings: Settings) -> list[str]:
    """The path fields whose files travel with every job (``Paths.per_job``)."""
    return [name for name, paths in path_fields(type(settings)).items() if paths.per_job]


def pack(settings: Settings) -> dict[str, bytes]:
    """The bytes of every input a job reads, keyed by the path (or built-in name) its settings give."""
    from ..images import resolve

    values = fields_of(settings)
    files = {}
    for path in (p for name in _per_job(settings) for p in named_files(values, name, type(settings))):
        try:
            files[path] = Path(resolve(path)).read_bytes()
        except OSError as exc:
            raise PainterlyError(f"cannot read {path}: {exc.strerror or exc}") from None
    return files


def _localized(settings: Settings, files: dict[str, bytes], folder: Path) -> Settings:
    """``settings`` with every input path pointing at a copy of its bytes inside ``folder``."""
    local = {}
    for i, (path, data) in enumerate(files.items()):
        local[path] = str(folder / f"input{i}{Path(path).suffix}")
        Path(local[path]).write_bytes(data)
    values = {name: getattr(settings, name) for name in _per_job(settings)}
    return settings.with_(**repathed(values, lambda path: local.get(path, path), type(settings)))


class RayExecutor:
    """One actor per GPU of the cluster (or per ``cpus_per_job`` CPUs when it has none); ``painter`` is
    the actor class (tests pass a subclass that crashes)."""

    def __init__(self, cpus_per_job: int, jobs: int, painter: type[Painter] = Painter) -> None:
        ray = self.ray = import_ray()
        from ray.util.queue import Queue

        resources = ray.cluster_resources()
        gpus, cpus = int(resources.get("GPU", 0)), int(resources.get("CPU", 0))
        if gpus:
            options, capacity = {"num_gpus": 1}, gpus
        else:
            if cpus_per_job < 1 or cpus_per_job > cpus:
                raise PainterlyError(f"--cpus-per-job must be between 1 and the cluster's {cpus} CPUs")
            options, capacity = {"num_cpus": cpus_per_job}, cpus // cpus_per_job
        self.slots = max(1, min(capacity, jobs))
        self._actor = ray.remote(max_restarts=RETRIES, max_task_retries=RETRIES, **options)(painter)
        self._actors = [self._actor.remote() for _ in range(self.slots)]
        self._idle = list(self._actors)
        self._busy: dict[Any, Any] = {}
        self._shipped: dict[str, tuple[str, list[Any]]] = {}
        self._progress = Queue(actor_options={"num_cpus": 0})
        self._on_progress: Any = lambda label, done, total: None

    def listen(self, display: Any) -> None:
        self._on_progress = display.remote

    def submit(self, entry: Entry) -> Any:
        settings = entry.spec.settings
        try:
            files, large = pack(settings), self._ship_large(settings)
        except PainterlyError as exc:
            return self.ray.put(Outcome(error=str(exc)))
        actor = self._idle.pop()
        ref = actor.paint.remote(entry.spec.label, settings.to_json(), files, large, self._progress)
        self._busy[ref] = actor
        return ref

    def _ship_large(self, settings: Settings) -> dict[str, tuple[str, list[Any]]]:
        """The files of fields not shipped with every job (``Paths.per_job``: a weights file, large)
        into the object store, once per batch; inside a list so Ray passes the reference and an actor
        that has the file already never fetches it."""
        values, shipped = fields_of(settings), {}
        for name, paths in path_fields(type(settings)).items():
            for spec in [] if paths.per_job else named_files(values, name, type(settings)):
                shipped[name] = self._shipped.get(spec) or self._put(spec, paths.label)
                self._shipped[spec] = shipped[name]
        return shipped

    def _put(self, spec: str, label: str) -> tuple[str, list[Any]]:
        import hashlib

        try:
            data = Path(spec).expanduser().read_bytes()
        except OSError as exc:
            raise PainterlyError(f"cannot read {label} {spec}: {exc.strerror or exc}") from None
        return hashlib.sha256(data).hexdigest(), [self.ray.put(data)]

    def wait(self, handles: list[Any], timeout: float) -> list[Any]:
        ready, _ = self.ray.wait(handles, num_returns=1, timeout=timeout)
        for label, done, total in self._progress.get_nowait_batch(self._progress.qsize()):
            self._on_progress(label, done, total)
        return ready

    def result(self, handle: Any) -> Outcome:
        actor = self._busy.pop(handle, None)
        try:
            outcome = self.ray.get(handle)
        except self.ray.exceptions.RayError as exc:
            if actor is not None and isinstance(exc, self.ray.exceptions.RayActorError):
                actor = self._replace(actor)  # its restarts are spent: later jobs get a fresh one
            message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            outcome = Outcome(error=f"Ray: {message}")
        if actor is not None:
            self._idle.append(actor)
        return outcome

    def _replace(self, actor: Any) -> Any:
        self.ray.kill(actor, no_restart=True)
        fresh = self._actor.remote()
        self._actors[self._actors.index(actor)] = fresh
        return fresh

    def abort(self) -> None:
        for actor in self._actors:
            self.ray.kill(actor, no_restart=True)

    def close(self) -> None:
        self.abort()
        self.ray.kill(self._progress.actor, no_restart=True)
