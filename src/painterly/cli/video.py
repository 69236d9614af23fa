"""``painterly video``: a clip stylised frame by frame without flicker."""

from __future__ import annotations

import sys
from typing import Any

import click

from ..options import options
from ..video.options import VideoOptions
from .app import EXIT_INTERRUPTED, cli
from .generated import build_settings, click_options, settings_options
from .running import checkpoint_option

video_options = click_options(VideoOptions)  # what a video adds


@cli.command()
@click.argument("video_in", metavar="IN")
@click.argument("styles", nargs=-1, required=True)
@click.option("-o", "--output", required=True, help="output video (.mp4, .mov, .mkv, .webm)")
@video_options
@click.option("--quiet", is_flag=True, help="no progress bars or messages")
@checkpoint_option(
    "seconds between checkpoints of the running frame (beside its PNG in OUT.frames/, also written when "
    "it is stopped); 0: none"
)
@settings_options
def video(
    video_in: str, styles: tuple[str, ...], output: str, quiet: bool, checkpoint_every: float, **opts: Any
) -> None:
    """Stylise the video IN after STYLE images, frame by frame without flicker (needs painterly[video]).

    Finished frames stay in OUT.frames/ beside the output, with the running frame's checkpoint: the
    same command again continues there, inside the frame it stopped in.
    """
    from ..video.progress import run_video

    video_opts = VideoOptions(**{opt.name: opts.pop(opt.name) for opt in options(VideoOptions)})
    settings = build_settings(video_in, styles, **opts)
    if run_video(settings, output, video_opts, quiet, checkpoint_every).interrupted:
        sys.exit(EXIT_INTERRUPTED)
