"""Content/style trade-off explorer: one run per weight (and style scale), laid out as a labelled sheet.

All variants share the feature targets of each scale (they depend on the images, not on the weights),
so a sweep of N weights costs N optimisations but only one set of target passes. Each variant runs
as a ``Job`` of its own, so it gets what every run gets (face protection among it).
"""

from __future__ import annotations

from collections.abc import Callable

from PIL import Image

from .engine import Event
from .images import contact_sheet
from .jobs import Job
from .targets import TargetCache


def sweep(
    job: Job,
    style_weights: list[float],
    style_scales: list[float] | None = None,
    on_event: Callable[[Event], None] | None = None,
) -> tuple[Image.Image, list[str]]:
    """Render every (style scale, style weight) variant of ``job``'s settings; return the sheet and labels.

    After ``job.stop()`` the sheet holds the variants finished so far (the stopped one at its best)."""
    inputs = job.load_inputs()
    scales = style_scales or [job.settings.style_scale]
    targets = TargetCache()
    tiles, labels = [], []
    for scale in scales:
        for weight in style_weights:
            if job.stopped:
                break
            variant = Job(
                job.settings.with_(style_weight=weight, style_scale=scale), targets=targets, stop=job.token
            )
            result = variant.stylize(on_event, inputs=inputs)
            tiles.append(result.image)
            labels.append(
                f"style weight {weight:g}" + (f", style scale {scale:g}" if len(scales) > 1 else "")
            )
    return contact_sheet(tiles, labels, len(style_weights)), labels
