"""painterly: neural style transfer (Gatys et al.) on real VGG19 weights, offline, fast on the CPU.

Heavy modules (torch) load on first use so that ``painterly --help`` stays instant.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from PIL import Image

    from .images import ImageSource

__all__ = ["PainterlyError", "Settings", "stylize", "__version__"]


def stylize(
    content: ImageSource,
    style: ImageSource | list[ImageSource],
    *,
    on_event: Any = None,
    **options: Any,
) -> Image.Image:
    """Stylise ``content`` after ``style`` (paths, built-in style names, PIL images or arrays).

    ``options`` are ``Settings`` fields (size, style_weight, quality, ...). For step-by-step control,
    progress events and stopping, use ``painterly.engine.Stylizer`` directly.
    """
    from .engine import Stylizer
    from .faces import face_terms
    from .images import load_image
    from .jobs import load_mask_and_init
    from .settings import Settings

    styles = style if isinstance(style, list) else [style]
    names = tuple(s if isinstance(s, str) else f"<style {i}>" for i, s in enumerate(styles))
    settings = Settings(content=content if isinstance(content, str) else "<content>", styles=names, **options)
    stylizer = Stylizer(settings)
    mask, init = load_mask_and_init(settings)
    content_image = load_image(content, "content image")
    result = stylizer.run(
        content_image,
        [load_image(s, "style image") for s in styles],
        mask=mask,
        init=init,
        terms=face_terms(stylizer, content_image),
        on_event=on_event,
    )
    return result.image


def __getattr__(name: str) -> Any:
    if name == "PainterlyError":
        from .errors import PainterlyError

        return PainterlyError
    if name == "Settings":
        from .settings import Settings

        return Settings
    raise AttributeError(name)
