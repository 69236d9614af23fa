"""``painterly batch``: many contents and styles, locally or on Ray, resumable."""

from __future__ import annotations

import sys

import click

from .app import cli
from .generated import option_values, settings_options
from .running import checkpoint_option


def _manifest_columns(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    if value:
        from ..batch.manifest import describe_columns

        click.echo(describe_columns())
        ctx.exit()


@cli.command()
@click.argument("contents", nargs=-1)
@click.option(
    "--style", "batch_styles", multiple=True, help="style image, folder or built-in name (repeatable)"
)
@click.option("-o", "--outdir", required=True, help="folder for the outputs, results.json and overview.png")
@click.option(
    "--zip",
    "zip_",
    is_flag=True,
    help="pair the i-th content with the i-th style instead of every combination",
)
@click.option(
    "--manifest", type=click.Path(dir_okay=False), help="CSV or JSON list of jobs; any setting as a column"
)
@click.option(
    "--manifest-columns",
    is_flag=True,
    is_eager=True,
    expose_value=False,
    callback=_manifest_columns,
    help="list the manifest's columns and exit",
)
@click.option("--ray", help="run on Ray: a cluster address, auto (RAY_ADDRESS) or local")
@click.option(
    "--cpus-per-job",
    type=int,
    default=2,
    show_default=True,
    help="CPUs per job on a Ray cluster without GPUs",
)
@click.option("--workers", type=int, default=1, show_default=True, help="jobs at once, one per GPU")
@click.option("--quiet", is_flag=True, help="no progress bars: one log line per job")
@checkpoint_option(
    "seconds between checkpoints of the running job (OUT.png.ckpt beside its output, also written when "
    "it is stopped; the same command again goes on from it); 0: none. Not on --ray: a job cut short "
    "there starts again"
)
@settings_options
def batch(
    contents,
    batch_styles,
    outdir,
    zip_,
    manifest,
    ray,
    cpus_per_job,
    workers,
    quiet,
    checkpoint_every,
    **opts,
) -> None:
    """Stylise every CONTENT (file or folder) with every --style; resumable: run it again to go on
    (inside the job that was running, from its checkpoint)."""
    from ..batch.command import build_plan, run_batch

    specs, columns = build_plan(
        list(contents), list(batch_styles), option_values(**opts), zip_=zip_, manifest=manifest
    )
    sys.exit(
        run_batch(
            specs,
            outdir,
            ray=ray,
            cpus_per_job=cpus_per_job,
            workers=workers,
            quiet=quiet,
            columns=columns,
            checkpoint_every=checkpoint_every,
        )
    )
