"""The terminal face of ``painterly video``: a bar over frames (i/n, s/frame, ETA), a bar over the
current frame's iterations, messages, and Ctrl-C (first: stop after this frame; second: stop now, the
frame's checkpoint kept)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from ..checkpoints import DEFAULT_EVERY
from ..interrupts import on_ctrl_c
from ..settings import Settings
from .job import FrameDone, FrameStarted, SceneCut, VideoEvent, VideoJob, VideoOptions, VideoResult


def run_video(
    settings: Settings,
    output: str | Path,
    options: VideoOptions,
    quiet: bool,
    checkpoint_every: float = DEFAULT_EVERY,
) -> VideoResult:
    """Run ``painterly video`` with progress output; the caller turns an interrupted result into exit 130."""
    job = VideoJob(settings, output, options, checkpoint_every=checkpoint_every)
    say = (lambda message: None) if quiet else (lambda message: click.echo(message, err=True))
    info, done = job.info, job.finished()
    first = sum(iters for _, iters in job.frame_settings.schedule())
    later = options.frame_iterations if options.temporal_weight else first
    say(
        f"painterly: {job.count} frame(s) of {info.path.name} at {float(info.fps):g} fps, "
        f"{job.size[0]}x{job.size[1]}; {first} iterations for frame 1, {later} for each later one"
        + (f"; {done} finished frame(s) kept from {job.frames_dir}" if done else "")
    )
    progress = _Bars(quiet)
    with _stop_on_ctrl_c(job, say):
        try:
            result = job.run(progress)
        finally:
            progress.close()
    if result.interrupted:
        say(
            f"painterly: stopped after frame {result.frames}/{result.count}; the finished frames are in "
            f"{result.frames_dir}; run the same command again to continue"
        )
    else:
        cuts = f"; scene cuts at frame(s) {', '.join(map(str, result.cuts))}" if result.cuts else ""
        say(f"painterly: wrote {result.output} ({result.count} frames at {result.fps:g} fps{cuts})")
    return result


class _Bars:
    """Frames (position 0) and the current frame's iterations (position 1)."""

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet
        self.kept = self.index = 0
        self.frames = self.iterations = None

    def __call__(self, event: VideoEvent) -> None:
        from tqdm import tqdm

        from ..engine import Iteration
        from ..events import Resumed

        if isinstance(event, FrameDone) and event.kept:
            self.kept += 1
        elif isinstance(event, FrameStarted):
            if self.frames is None:  # created here so kept frames do not count in s/frame and ETA
                bar = dict(disable=self.quiet, dynamic_ncols=True, file=sys.stderr)
                self.frames = tqdm(total=event.count, initial=self.kept, unit="frame", desc="frames", **bar)
                self.iterations = tqdm(unit="it", position=1, leave=False, **bar)
            self.index = event.index
            self.iterations.reset()
            self.iterations.set_description(f"frame {event.index}")
        elif isinstance(event, SceneCut) and not self.quiet:
            tqdm.write(f"painterly: frame {event.index}: scene cut, starting afresh", file=sys.stderr)
        elif isinstance(event, Resumed) and self.iterations is not None:
            self.iterations.reset(total=event.total)
            self.iterations.update(event.done)
            if not self.quiet:
                tqdm.write(f"painterly: frame {self.index}: {event}", file=sys.stderr)
        elif isinstance(event, Iteration) and self.iterations is not None:
            if self.iterations.total != event.total:
                self.iterations.reset(total=event.total)
            self.iterations.set_postfix(style=f"{event.losses['style']:.3g}", refresh=False)
            self.iterations.update(1)
        elif isinstance(event, FrameDone) and self.frames is not None:
            self.frames.update(1)

    def close(self) -> None:
        for bar in (self.iterations, self.frames):
            if bar is not None:
                bar.close()


def _stop_on_ctrl_c(job: VideoJob, say):
    """First Ctrl-C: finish the current frame, then stop. Second: stop now (that frame's checkpoint is
    kept, unless checkpoints are off)."""

    def after_frame() -> None:
        job.stop()
        say("\npainterly: stopping after the current frame (Ctrl-C again to stop now)")

    def now() -> None:
        job.token.stop()
        kept = "its checkpoint goes on next time" if job.checkpoint_every else "it is dropped"
        say(f"\npainterly: stopping now inside the current frame; {kept}")

    return on_ctrl_c(after_frame, now)
