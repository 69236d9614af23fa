"""painterly: neural style transfer (Gatys et al.) on real VGG19 weights, offline, fast on the CPU.

Heavy modules (torch) load on first use so that ``painterly --help`` stays instant.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from .version import painterly_version

__version__ = painterly_version()

if TYPE_CHECKING:
    from PIL import Image

    from .images import ImageSource
    from .sheets import Panel
    from .video.job import VideoResult

__all__ = ["PainterlyError", "Settings", "explain", "stylize", "stylize_video", "__version__"]


def stylize(
    content: ImageSource,
    style: ImageSource | list[ImageSource],
    *,
    on_event: Any = None,
    **options: Any,
) -> Image.Image:
    """Stylise ``content`` after ``style`` (paths, built-in style names, PIL images or arrays).

    ``options`` are ``Settings`` fields (size, style_weight, quality, ...). For step-by-step control,
    progress events and stopping, use ``painterly.jobs.Job`` (the setup every face runs through).
    """
    from .images import load_image
    from .jobs import Job, load_mask_and_init
    from .settings import Settings

    styles = style if isinstance(style, list) else [style]
    names = tuple(s if isinstance(s, str) else f"<style {i}>" for i, s in enumerate(styles))
    job = Job(Settings(content=content if isinstance(content, str) else "<content>", styles=names, **options))
    inputs = (
        load_image(content, "content image"),
        [load_image(s, "style image") for s in styles],
        *load_mask_and_init(job.settings),
    )
    return job.stylize(on_event, inputs=inputs).image


def explain(content: ImageSource, style: ImageSource | None = None, **options: Any) -> list[Panel]:
    """What the network sees in ``content`` (and ``style``): the panels of ``painterly explain``, each
    with ``title``, one-line ``caption`` and ``image`` (PIL), for notebooks.

    ``options``: ``size``, ``layers``, ``style_layers``, ``quick``, ``result``, ``on_event``, ``stop``
    (see ``painterly.inside.explain``); ``painterly.sheets.render_sheet(panels)`` lays them out.
    """
    from .inside import explain as panels

    return panels(content, style, **options)


def stylize_video(
    video: str | os.PathLike,
    style: str | list[str],
    output: str | os.PathLike,
    *,
    on_event: Any = None,
    stop: Any = None,
    **options: Any,
) -> VideoResult:
    """Stylise the clip ``video`` after ``style`` (paths or built-in names) into ``output`` (.mp4, .mov,
    .mkv, .webm), resumably: finished frames stay in OUTPUT.frames/ and a repeat call continues.

    ``options`` are ``Settings`` fields plus the video ones (``temporal_weight``, ``frame_iterations``,
    ``start``, ``end``, ``max_frames``). ``on_event`` gets the engine's events plus ``FrameStarted`` and
    ``FrameDone``; ``stop`` (a ``painterly.engine.StopToken``) ends the run inside the current frame,
    whose checkpoint the next call goes on from.
    Needs ``pip install painterly[video]``.
    """
    from dataclasses import fields

    from .settings import Settings
    from .video.job import VideoJob
    from .video.options import VideoOptions

    names = {f.name for f in fields(VideoOptions)}
    video_options = VideoOptions(**{k: options.pop(k) for k in list(options) if k in names})
    styles = style if isinstance(style, list) else [style]
    settings = Settings(content=os.fspath(video), styles=tuple(map(os.fspath, styles)), **options)
    return VideoJob(settings, output, video_options, stop=stop).run(on_event)


def __getattr__(name: str) -> Any:
    if name == "PainterlyError":
        from .errors import PainterlyError

        return PainterlyError
    if name == "Settings":
        from .settings import Settings

        return Settings
    raise AttributeError(name)
