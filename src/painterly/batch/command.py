"""``painterly batch``: plan the jobs, pick the executor, run them, report. Returns the exit code."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import Any

from ..checkpoints import DEFAULT_EVERY
from ..errors import PainterlyError
from ..settings import Settings
from . import plan
from .runner import Batch

EXIT_FAILED = 1
EXIT_INTERRUPTED = 130


def build_plan(
    contents: list[str],
    styles: list[str],
    defaults: dict[str, Any],
    *,
    zip_: bool = False,
    manifest: str | None = None,
) -> tuple[list[plan.JobSpec], int]:
    """Job specs from command-line inputs (every content x style, or zipped) and a manifest's rows, and
    the overview's column count (one column per style for a plain content x style grid, else automatic)."""
    settings: list[Settings] = []
    columns = 0
    if contents:
        if not styles:
            raise PainterlyError("give at least one --style (or a --manifest with a styles column)")
        all_styles = plan.expand(styles, "style")
        columns = 0 if zip_ or manifest else len(all_styles)
        for content, style in plan.pairs(plan.expand(contents, "content"), all_styles, zip_):
            settings.append(Settings(**{**defaults, "content": content, "styles": (style,)}).validated())
    if manifest:
        from .manifest import read_manifest

        base = {**defaults, "styles": tuple(plan.expand(styles, "style"))}
        settings += [s for _, s in read_manifest(manifest, base)]
    if not settings:
        raise PainterlyError("nothing to do: give CONTENT images and --style, or --manifest")
    return plan.specs(settings), columns


def run_batch(
    specs: list[plan.JobSpec],
    outdir: str,
    *,
    ray: str | None = None,
    cpus_per_job: int = 2,
    workers: int = 1,
    quiet: bool = False,
    columns: int = 0,
    command: list[str] | None = None,
    checkpoint_every: float = DEFAULT_EVERY,
) -> int:
    """Run every job not yet done into ``outdir``; 0 when all are done, 1 if any failed, 130 if stopped.
    A local job saves a checkpoint beside its output every ``checkpoint_every`` seconds (and when
    stopped), which the next run of the batch goes on from."""
    from .progress import BatchProgress
    from .runner import Interrupts, drive

    folder = Path(outdir).expanduser()
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise PainterlyError(f"cannot create the output folder {outdir}: {exc.strerror or exc}") from None
    hint = shlex.join(command or ["painterly", *sys.argv[1:]])
    batch = Batch(specs, folder, hint)
    _estimate(batch)
    executor, close = _executor(batch, ray, cpus_per_job, workers, checkpoint_every)
    progress = BatchProgress(batch, executor.slots, quiet)
    executor.listen(progress)
    interrupts = Interrupts(executor.abort, progress.say)
    try:
        with interrupts.installed():
            drive(batch, executor, interrupts, progress)
    finally:
        progress.close()
        close()
    overview = batch.write_overview(columns)
    counts = batch.counts()
    left = counts["queued"] + counts["interrupted"]
    summary = (
        f"{counts['done']} done, {counts['failed']} failed, {left} left; results in {folder / 'results.json'}"
    )
    progress.say(summary + (f", overview {overview}" if overview else ""))
    if left:
        progress.say(f"interrupted; run the same command again to resume: {hint}")
        return EXIT_INTERRUPTED
    if counts["failed"]:
        progress.say("run the same command again to retry the failed jobs")
        return EXIT_FAILED
    return 0


def _estimate(batch: Batch) -> None:
    """Each job's expected seconds from the cost model and its content's size (read from the header)."""
    from PIL import Image

    from ..jobs import estimate_seconds

    for entry in batch.entries:
        s = entry.spec.settings
        try:
            with Image.open(s.content) as image:
                width, height = image.size
        except (OSError, ValueError, SyntaxError, Image.DecompressionBombError):
            width = height = s.size
        scale = s.size / max(width, height)
        entry.estimate = estimate_seconds(s, max(1, round(width * scale)), max(1, round(height * scale)))


def _executor(batch: Batch, ray: str | None, cpus_per_job: int, workers: int, checkpoint_every: float):
    """The executor for the options and a function that releases it."""
    if ray:
        from .ray_cluster import RayExecutor, connect, import_ray

        started = connect(ray)
        try:
            executor = RayExecutor(cpus_per_job, max(1, len(batch.pending())))
        except BaseException:
            if started:
                import_ray().shutdown()
            raise

        def close() -> None:
            executor.close()
            if started:
                import_ray().shutdown()

        return executor, close
    if workers > 1:
        from .local import ProcessExecutor, gpu_slots

        executor = ProcessExecutor(gpu_slots(workers), checkpoint_every)
        return executor, executor.close
    from .local import InlineExecutor

    executor = InlineExecutor(checkpoint_every)
    return executor, lambda: None
