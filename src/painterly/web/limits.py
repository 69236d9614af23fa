"""What one request or one client may cost the server; ``painterly serve`` uses the defaults."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..errors import PainterlyError

if TYPE_CHECKING:
    from ..settings import Settings


@dataclass(frozen=True)
class Limits:
    """Bounds on uploads, request bodies and the queue (see README, "Web app")."""

    upload_bytes: int = 20 * 1024 * 1024
    upload_pixels: int = 40_000_000  # 40 megapixels; well below PIL's decompression-bomb guard
    upload_side: int = 12_000
    upload_total_bytes: int = 2 * 1024**3  # all stored uploads together (unused ones go after an hour)
    styles: int = 8
    body_bytes: int = 256 * 1024  # any request but an upload (JSON submissions are a few hundred bytes)
    queued: int = 100  # waiting or running, all clients together
    queued_per_client: int = 20  # per client address (the only client identity a request cannot choose)
    size: int = 2048  # longest side of a web run; the CLI allows more
    iterations: int = 2000  # iterations of a web run, all scales together
    gallery_page: int = 60
    gallery_page_max: int = 500
    inside_size: int = 512  # the largest See inside panels a page may ask for (longest side, px)
    inside_default_size: int = 256  # when it does not ask: the run's own size, at most this
    steer_per_second: int = 5  # changes a running job takes from its page (a burst of as many, then 429)

    def body_limit(self, path: str) -> int:
        """The most bytes a request to ``path`` may send: an upload's file plus its multipart framing."""
        return self.upload_bytes + 64 * 1024 if path == "/api/uploads" else self.body_bytes

    def check_run(self, settings: Settings) -> None:
        """PainterlyError (HTTP 400) if a run is larger than the web app allows one client to queue."""
        if settings.size > self.size:
            raise PainterlyError(
                f"size must be at most {self.size} pixels here (the painterly command allows more)"
            )
        total = sum(iterations for _, iterations in settings.schedule())
        if total > self.iterations:
            raise PainterlyError(
                f"at most {self.iterations} iterations (all scales together) here, not {total}; "
                "lower iterations or scales"
            )

    def public(self) -> dict[str, int]:
        """What the page needs to know (it checks sizes before sending)."""
        return {
            "upload_bytes": self.upload_bytes,
            "upload_pixels": self.upload_pixels,
            "upload_side": self.upload_side,
            "styles": self.styles,
            "gallery_page": self.gallery_page,
            "steer_per_second": self.steer_per_second,
        }
