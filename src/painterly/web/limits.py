"""What one request or one client may cost the server; ``painterly serve`` uses the defaults."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Limits:
    """Bounds on uploads, request bodies and the queue (see README, "Web app")."""

    upload_bytes: int = 20 * 1024 * 1024
    upload_pixels: int = 40_000_000  # 40 megapixels; well below PIL's decompression-bomb guard
    upload_side: int = 12_000
    styles: int = 8
    body_bytes: int = 256 * 1024  # any request but an upload (JSON submissions are a few hundred bytes)
    queued: int = 100  # waiting or running, all clients together
    queued_per_client: int = 20
    gallery_page: int = 60
    gallery_page_max: int = 500
    inside_size: int = 512  # the largest See inside panels a page may ask for (longest side, px)
    inside_default_size: int = 256  # when it does not ask: the run's own size, at most this

    def body_limit(self, path: str) -> int:
        """The most bytes a request to ``path`` may send: an upload's file plus its multipart framing."""
        return self.upload_bytes + 64 * 1024 if path == "/api/uploads" else self.body_bytes

    def public(self) -> dict[str, int]:
        """What the page needs to know (it checks sizes before sending)."""
        return {
            "upload_bytes": self.upload_bytes,
            "upload_pixels": self.upload_pixels,
            "upload_side": self.upload_side,
            "styles": self.styles,
            "gallery_page": self.gallery_page,
        }
