"""Running a job from the terminal: progress bar, Ctrl-C, intermediate saves, default output names."""

from __future__ import annotations

import os
import shlex
import sys
import time
from collections.abc import Sequence
from contextlib import nullcontext
from pathlib import Path
from typing import TYPE_CHECKING

import click

from ..checkpoints import DEFAULT_EVERY
from ..settings import Settings
from .app import EXIT_INTERRUPTED

if TYPE_CHECKING:
    from ..state import Change


def checkpoint_option(
    help: str = "seconds between checkpoints (OUT.ckpt beside the output, removed when it is written; "
    "also written on Ctrl-C); 0: none",
):
    """The ``--checkpoint-every`` option of each command that paints into files (``help`` says where
    that command keeps them)."""
    return click.option(
        "--checkpoint-every",
        type=click.FloatRange(min=0),
        default=DEFAULT_EVERY,
        show_default=True,
        help=help,
    )


def unused(base: Path) -> Path:
    """``base.png``, or ``base-N.png`` with the first N that names no existing file."""
    candidate = base.with_name(f"{base.name}.png")
    n = 1
    while candidate.exists():
        candidate = base.with_name(f"{base.name}-{n}.png")
        n += 1
    return candidate


def execute(
    settings: Settings,
    output: str | os.PathLike,
    *,
    quiet: bool,
    save_every: int = 0,
    checkpoint_every: float = DEFAULT_EVERY,
    resume: bool = False,
    steering: Sequence[Change] = (),
    interactive: bool = False,
) -> None:
    """Run a job with a progress bar, Ctrl-C handling, checkpoints and intermediate saves (``resume``:
    continue from the output's checkpoint; ``interactive``: keys steer it, see ``keyboard``); exit
    non-zero on failure."""
    from ..cost import process_age
    from ..events import Resumed
    from ..jobs import Job
    from .keyboard import steering as keys

    started = time.perf_counter() - process_age()  # a --time budget counts from the command
    job = Job(settings, output, checkpoint_every=checkpoint_every, steering=steering, counted_from=started)
    state = job.starting_state(resume)
    inputs = job.load_inputs()
    say = (lambda *a, **k: None) if quiet else (lambda msg: click.echo(msg, err=True))
    for note in job.notes:
        say(f"painterly: {note}")
    estimate = job.estimate_seconds(inputs[0], inputs[1])
    width, height = job.stylizer.output_size(inputs[0])
    schedule = job.settings.schedule()
    say(
        f"painterly: {width}x{height}, {len(schedule)} scale(s), "
        f"{sum(i for _, i in schedule)} iterations on {job.stylizer.device.type} "
        f"({job.stylizer.precision}); estimated {_duration(estimate)}"
        + (f", then painting on to the {job.settings.time_budget} budget" if job.settings.time_budget else "")
    )
    painting = time.perf_counter()
    if state is not None:
        say(f"painterly: {Resumed(state.done, state.total)}")
    on_event = Progress(job, quiet, save_every, done=state.done if state else 0)
    steered = keys(job, state.settings if state else job.settings) if interactive else nullcontext()
    with stop_on_ctrl_c(job, quiet):
        try:
            with steered:
                record = job.run(on_event, preview_every=save_every, inputs=inputs, resume=resume)
        finally:
            on_event.close()
    if record.interrupted:
        say(_interrupted(job, record))
        sys.exit(EXIT_INTERRUPTED)
    ended = "; the time budget ended a scale early" if record.stop else ""
    took = time.perf_counter() - painting
    say(f"painterly: wrote {job.output} in {_duration(took)} (estimated {_duration(estimate)}){ended}")


def _interrupted(job, record) -> str:
    """What an interrupted run kept, and how to finish it."""
    kept = f" ({job.output} kept as it was)" if record.output != str(job.output) else ""
    finish = (
        f"; finish it with `painterly resume {shlex.quote(str(job.output))}`"
        if job.checkpoint is not None and job.checkpoint.is_file()
        else ""
    )
    return (
        f"painterly: interrupted after {record.iterations} iterations; best image so far saved to "
        f"{record.output}{kept}{finish}"
    )


def stop_on_ctrl_c(job, quiet: bool):
    """First Ctrl-C asks the job (or token) to stop, so its best image is saved; a second one aborts."""
    from ..interrupts import on_ctrl_c

    def stop() -> None:
        job.stop()
        if not quiet:
            click.echo(
                "\npainterly: stopping; saving the best image so far (Ctrl-C again to abort)", err=True
            )

    return on_ctrl_c(stop)


def _duration(seconds: float) -> str:
    """Seconds as a person reads them: tenths where a whole second would be a large share."""
    if seconds < 10:
        return f"{seconds:.1f} s"
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.1f} min"


class Progress:
    """Turns engine events into a tqdm bar and intermediate files."""

    def __init__(self, job, quiet: bool, save_every: int, total: int = 0, done: int = 0) -> None:
        from tqdm import tqdm

        total = total or sum(i for _, i in job.settings.schedule())
        self.bar = tqdm(
            total=max(total, done),
            initial=done,
            disable=quiet,
            unit="it",
            dynamic_ncols=True,
            file=sys.stderr,
        )
        self.job, self.save_every = job, save_every
        self.tile: dict[str, str] = {}

    def __call__(self, event) -> None:
        from ..engine import Iteration, Preview, ScaleStarted, TileStarted
        from ..images import save_image

        if isinstance(event, ScaleStarted):
            self.bar.set_description(f"scale {event.index + 1}/{event.count} {event.width}x{event.height}")
            self.tile = {}
        elif isinstance(event, TileStarted):
            self.tile = {"tile": f"{event.index + 1}/{event.count}"}
        elif isinstance(event, Iteration):
            if event.total > self.bar.total:  # tiled scales spend their iterations once per tile
                self.bar.total = event.total
            losses = event.losses
            self.bar.set_postfix(
                **self.tile,
                content=f"{losses['content']:.3g}",
                style=f"{losses['style']:.3g}",
                tv=f"{losses['tv']:.3g}",
                refresh=False,
            )
            self.bar.update(1)
        elif isinstance(event, Preview) and self.save_every:
            out = self.job.output
            save_image(event.image, out.with_name(f"{out.stem}-{event.iteration:05d}{out.suffix}"))

    def close(self) -> None:
        self.bar.close()
