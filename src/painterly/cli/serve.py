"""``painterly serve``: the web app."""

from __future__ import annotations

import click

from ..checkpoints import DEFAULT_EVERY
from .app import cli


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=7860, show_default=True, type=int)
@click.option("--data", default=None, help="data folder for the gallery and queue [default: user data dir]")
@click.option(
    "--allow-host",
    "allow_hosts",
    multiple=True,
    help="also answer requests for this host name (repeatable); loopback names always work",
)
@click.option(
    "--checkpoint-every",
    type=click.FloatRange(min=0),
    default=DEFAULT_EVERY,
    show_default=True,
    help="seconds between a run's checkpoints, which it continues from after a restart; 0: none",
)
def serve(
    host: str, port: int, data: str | None, allow_hosts: tuple[str, ...], checkpoint_every: float
) -> None:
    """Start the web app (live preview, queue, gallery)."""
    from ..web.server import serve as run_server

    run_server(host=host, port=port, data=data, allow_hosts=allow_hosts, checkpoint_every=checkpoint_every)
