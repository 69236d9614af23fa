"""One job model for every face: ``Settings`` in, an image file and a ``Record`` out.

Every face (the CLI, ``stylize``, grid, the web queue, batch and cluster runners, video, explain's
reconstructions) prepares its runs through ``Job``, so face protection and every later default apply
everywhere; the record is the JSON embedded in the output and stored by the web gallery.
"""

from __future__ import annotations

import json
import os
import platform
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from PIL import Image

from . import checkpoints, cost
from .checkpoints import DEFAULT_EVERY, Checkpoints
from .engine import Change, Event, LossTerm, StopToken, Stylizer, StylizeResult
from .errors import PainterlyError
from .events import Resumed
from .images import check_output, load_image, read_metadata, resolve, save_image
from .settings import INIT_KINDS, Settings, fields_of, named_files, path_fields, repathed
from .state import RunState, checked_steering
from .targets import TargetCache
from .version import painterly_version

RECORD_FORMAT = 2  # 2: steering ``changes``, ``format``; readers take fields of later formats


@dataclass
class Record:
    """What a finished (or interrupted) job leaves behind, as embedded in its output."""

    settings: dict[str, Any]
    output: str
    elapsed: float
    iterations: int
    interrupted: bool
    losses: dict[str, float]
    weights_sha256: str
    device: str
    precision: str
    versions: dict[str, str] = field(default_factory=dict)
    created: float = field(default_factory=time.time)
    changes: list[list[Any]] = field(default_factory=list)  # steering: [iteration, field, value]
    stop: str = ""  # why a scale ended early though not interrupted: "time budget"
    format: int = RECORD_FORMAT

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Any) -> Record:
        """A record from its JSON; fields a later painterly added are left out, not refused."""
        if not isinstance(data, dict):
            raise PainterlyError("not a painterly record")
        known = {f.name for f in fields(cls)}
        try:
            return cls(**{k: v for k, v in data.items() if k in known})
        except TypeError:
            raise PainterlyError("not a painterly record (fields missing)") from None

    def settings_value(self) -> Settings:
        return Settings.from_dict(self.settings)

    def steering(self) -> list[Change]:
        """The recorded changes, checked against the record's settings, as ``Stylizer(steering=...)``
        replays them."""
        try:
            changes = [Change(i, f, v) for i, f, v in self.changes]
        except (TypeError, ValueError):
            raise PainterlyError("the record's steering changes are damaged") from None
        return checked_steering(self.settings_value(), changes)


def versions() -> dict[str, str]:
    import numpy
    import PIL
    import torch

    return {
        "painterly": painterly_version(),
        "torch": torch.__version__,
        "numpy": numpy.__version__,
        "pillow": PIL.__version__,
        "python": platform.python_version(),
    }


def absolute(settings: Settings) -> Settings:
    """Every file the settings name made absolute (built-in names kept) so a record replays from anywhere."""

    def fix(path: str) -> str:
        return str(Path(path).expanduser().resolve()) if os.path.exists(path) else path

    return settings.with_(**repathed(fields_of(settings), fix, type(settings)))


def input_files(settings: Settings) -> list[str]:
    """Every file (or built-in name) the settings read, whatever the field."""
    values = fields_of(settings)
    return [
        path for name in path_fields(type(settings)) for path in named_files(values, name, type(settings))
    ]


class Job:
    """Validate settings and output up front, then run and save. ``stop()`` is safe from any thread."""

    def __init__(
        self,
        settings: Settings,
        output: str | os.PathLike | None = None,
        *,
        targets: TargetCache | None = None,
        stop: StopToken | None = None,
        embed: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
        checkpoint_every: float = DEFAULT_EVERY,
        steering: Sequence[Change] = (),
        counted_from: float | None = None,
    ) -> None:
        """``output`` None: a run that only ``stylize``s (the library's ``stylize``, a grid's variants).
        ``targets`` and ``stop`` may be shared with other jobs (a batch reuses style targets; one
        Ctrl-C ends every run that holds the token). ``embed`` turns the record into what the saved
        image carries (a server keeps its own paths out of the files it hands out). A run with an
        output saves a checkpoint beside it every ``checkpoint_every`` seconds (0: never) and when
        it is stopped, which ``run(resume=True)`` continues from and a finished run removes.
        ``steering``: a steered run's recorded changes, replayed (``rerun``). A ``time_budget``
        counts from ``counted_from`` (a ``time.perf_counter()`` value; default: now)."""
        self.settings = absolute(settings.validated())
        self.output = (
            None if output is None else check_output(output, list(map(resolve, input_files(self.settings))))
        )
        self.checkpoint = (
            None if self.output is None or checkpoint_every <= 0 else checkpoints.path_for(self.output)
        )
        self.checkpoint_every = checkpoint_every
        self._resumed: RunState | None = None
        self.token = stop if stop is not None else StopToken()
        self.counted_from = time.perf_counter() if counted_from is None else counted_from
        self.notes: list[str] = []  # what a time budget or ``size`` auto chose
        self._stylizer_for = lambda s: Stylizer(s, targets=targets, stop=self.token, steering=steering)
        self.stylizer = self._stylizer_for(self.settings)
        self.embed = embed or (lambda record: record)

    def load_inputs(self) -> tuple[Image.Image, list[Image.Image], Image.Image | None, Image.Image | None]:
        """The run's images; a time budget or ``size`` auto is settled here, where sizes are known."""
        s = self.settings
        if not s.content:
            raise PainterlyError("no content image given")
        content = load_image(s.content, "content image")
        if s.size:
            self.stylizer.check_fits(content)
        styles = [load_image(path, "style image") for path in s.styles]
        if not s.size or s.time_budget:
            self._fit(content, styles)
        self.stylizer.check_fits(content, styles)
        return (content, styles, *load_mask_and_init(self.settings))

    def _fit(self, content: Image.Image, styles: list[Image.Image]) -> None:
        from .budget import fit_to_budget

        self.stylizer.calibrate(content, styles)
        fitted, self.notes = fit_to_budget(
            self.settings, content, styles, self._stylizer_for, self.available()
        )
        if fitted != self.settings:
            self.settings, self.stylizer = fitted, self._stylizer_for(fitted)

    def available(self) -> float | None:
        """Seconds left of the time budget, None without one."""
        budget = self.settings.budget_seconds()
        return None if budget is None else budget - (time.perf_counter() - self.counted_from)

    def estimate_seconds(self, content: Image.Image, styles: Sequence[Image.Image] = ()) -> float:
        """Seconds the run takes from here; the first run on a machine calibrates it (a few seconds)."""
        if styles:
            self.stylizer.calibrate(content, styles)
        return self.stylizer.estimate(content)

    def stop(self) -> None:
        """Ask the running stylisation (and any later one holding this job's token) to stop."""
        self.token.stop()

    @property
    def stopped(self) -> bool:
        return self.token.stopped

    def stylize(
        self,
        on_event: Callable[[Event], None] | None = None,
        preview_every: int = 0,
        inputs: tuple | None = None,
        terms: Sequence[LossTerm] = (),
        checkpoints: Checkpoints | None = None,
        state: RunState | None = None,
    ) -> StylizeResult:
        """The engine run every face makes: ``inputs`` (content, styles, mask, init; default: loaded
        from the settings) with ``terms`` (e.g. video's temporal loss) and the terms the settings ask
        for (face protection, where a face is found). ``state`` continues a stopped run; nothing is
        saved but ``checkpoints``."""
        from .portraits import face_terms

        content, styles, mask, init = inputs or self.load_inputs()
        left = self.available()
        if left is not None:  # the output is written after the run: keep its time
            w, h = self.stylizer.output_size(content)
            left -= cost.WRITE_PER_MPX * w * h / 1e6 + cost.FINISH_SECONDS
        return self.stylizer.run(
            content,
            styles,
            mask=mask,
            init=init,
            terms=[*terms, *face_terms(self.stylizer, content)],
            on_event=on_event,
            preview_every=preview_every,
            checkpoints=checkpoints,
            state=state,
            deadline=left,
        )

    def run(
        self,
        on_event: Callable[[Event], None] | None = None,
        preview_every: int = 0,
        inputs: tuple | None = None,
        terms: Sequence[LossTerm] = (),
        resume: bool = False,
    ) -> Record:
        """``stylize``, then save the image (a run cut short beside the output) with its record.

        With ``resume`` the run continues from its checkpoint (``on_event`` first gets ``Resumed``);
        without, an existing checkpoint is an error (it is an unfinished run's, not to be replaced by
        surprise)."""
        if self.output is None:
            raise PainterlyError("this job has no output to save to")
        state = self.starting_state(resume)
        saver = None
        if self.checkpoint is not None:
            owner, path = self._owner(), self.checkpoint
            saver = Checkpoints(lambda state: checkpoints.save(path, owner, state), self.checkpoint_every)
        if state is not None and on_event is not None:
            on_event(Resumed(state.done, state.total))
        started = time.perf_counter()
        result = self.stylize(on_event, preview_every, inputs, terms, saver, state)
        if saver is not None and result.state is not None:
            saver.save(result.state)  # a stopped run can be finished later
        target = partial_path(self.output) if result.interrupted else self.output
        record = self.record(result, target)
        save_image(result.image, target, self.embed(record.to_dict()))
        if not result.interrupted and self.checkpoint is not None:
            self.checkpoint.unlink(missing_ok=True)
        if not result.interrupted and state is None:  # a whole run: its fixed part is measurable
            painting = cost.accounted(result.timings, *self.stylizer.rates())
            fixed = time.perf_counter() - started - painting + cost.FINISH_SECONDS
            cost.remember(
                self.stylizer.machine(),
                [[p, s] for p, s, *_ in result.timings],
                # set-ups are measured where a scale runs whole; a tiled scale's are the model's own
                setups=[[p, setup] for p, _, _, setup, n in result.timings if setup > 0 and n == 1],
                run_overhead=fixed,
            )
        return record

    @property
    def unfinished(self) -> bool:
        """Whether an unfinished run's checkpoint lies beside the output (``run(resume=True)`` goes on
        from it)."""
        return self.checkpoint is not None and self.checkpoint.exists()

    def starting_state(self, resume: bool) -> RunState | None:
        """The checked checkpoint to continue from (``resume``), else None; an error when a fresh run
        would replace an unfinished run's checkpoint. Faces call it before any work, ``run`` again."""
        if resume:
            return self.resumable()
        if self.unfinished:
            raise PainterlyError(
                f"{self.checkpoint} holds an unfinished run of {self.output.name}; continue it with "
                f"`painterly resume {self.output}`, or remove it to start afresh"
            )
        return None

    def resumable(self) -> RunState:
        """This job's checkpoint, checked to be this run's (settings, input bytes, version)."""
        if self.checkpoint is None:
            raise PainterlyError("this job keeps no checkpoint to resume from")
        if self._resumed is None:
            state = checkpoints.load(self.checkpoint, self._owner())
            if not 0 <= state.scale <= len(self.settings.schedule()) or state.done > state.total:
                raise PainterlyError(f"{self.checkpoint} is damaged (scale {state.scale}); remove it")
            self._resumed = state
        return self._resumed

    def _owner(self) -> dict[str, Any]:
        return checkpoints.identity(self.settings, [resolve(path) for path in input_files(self.settings)])

    def record(self, result: StylizeResult, output: Path) -> Record:
        return Record(
            settings=json.loads(self.settings.to_json()),
            output=str(output),
            elapsed=round(result.elapsed, 3),
            iterations=result.iterations,
            interrupted=result.interrupted,
            losses=result.losses,
            weights_sha256=result.weights_sha256,
            device=result.device,
            precision=result.precision,
            versions=versions(),
            changes=[[c.iteration, c.field, c.value] for c in result.changes],
            stop=result.stop_reason,
        )


def partial_path(output: Path) -> Path:
    """Where a run cut short goes: ``output`` if no file is there yet, else a free ``OUT-partial[-N]``
    beside it, so an interrupted run never replaces the user's earlier result."""
    candidate, n = output, 0
    while candidate.exists():
        n += 1
        candidate = output.with_name(f"{output.stem}-partial{'' if n == 1 else f'-{n - 1}'}{output.suffix}")
    return candidate


def load_mask_and_init(settings: Settings) -> tuple[Image.Image | None, Image.Image | None]:
    """The optional mask and start images that settings name by path."""
    mask = load_image(settings.mask, "mask image") if settings.mask else None
    init = None if settings.init in INIT_KINDS else load_image(settings.init, "init image")
    return mask, init


def read_record(path: str | os.PathLike) -> Record:
    return Record.from_dict(read_metadata(path))


def estimate_seconds(settings: Settings, width: int, height: int) -> float:
    """Seconds a run of an image of ``width`` x ``height`` takes here (a batch's ETA before loading)."""
    return Stylizer(settings).estimate((width, height))
