"""``painterly grid``: one content and style at several style weights and scales, as a sheet."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from ..errors import PainterlyError
from ..options import option
from .app import EXIT_INTERRUPTED, cli
from .generated import build_settings, settings_options
from .running import Progress, stop_on_ctrl_c, unused


@cli.command()
@click.argument("content")
@click.argument("styles", nargs=-1, required=True)
@click.option(
    "--style-weights", "sweep_weights", required=True, help="comma-separated style weights, one column each"
)
@click.option(
    "--style-scales", "sweep_scales", default=None, help="comma-separated style scales, one row each"
)
@click.option("-o", "--output", help="the contact sheet [default: grid.png, never overwriting]")
@click.option("--quiet", is_flag=True)
@settings_options
def grid(
    content: str,
    styles: tuple[str, ...],
    sweep_weights: str,
    sweep_scales: str | None,
    output: str,
    quiet: bool,
    **opts,
) -> None:
    """Render CONTENT x STYLE at several style weights (and style scales) as one labelled sheet."""
    import json

    from ..grid import sweep
    from ..images import save_image
    from ..jobs import Job, partial_path

    weights = list(option("style_weight").with_many().parse(sweep_weights))
    scales = list(option("style_scale").with_many().parse(sweep_scales or ""))
    if any(w < 0 for w in weights + scales) or not weights:
        raise PainterlyError("--style-weights and --style-scales take numbers >= 0")
    job = Job(build_settings(content, styles, **opts), output or unused(Path("grid")))
    per_run = sum(i for _, i in job.settings.schedule())
    progress = Progress(job, quiet, 0, total=per_run * len(weights) * max(1, len(scales)))
    with stop_on_ctrl_c(job, quiet):
        try:
            sheet, labels = sweep(job, weights, scales or None, on_event=progress)
        finally:
            progress.close()
    target = partial_path(job.output) if job.stopped else job.output
    save_image(sheet, target, {"grid": labels, "settings": json.loads(job.settings.to_json())})
    if job.stopped:
        if not quiet:
            click.echo(f"painterly: interrupted; {len(labels)} variant(s) saved to {target}", err=True)
        sys.exit(EXIT_INTERRUPTED)
    if not quiet:
        click.echo(f"painterly: wrote {job.output} ({len(labels)} variants)", err=True)
