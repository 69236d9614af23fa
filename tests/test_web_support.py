"""Helpers shared by the web tests (no tests here): tiny images, a test client that sends a loopback Host
header, and a real uvicorn server in a thread."""

from __future__ import annotations

import io
import threading
import time
import warnings
from contextlib import contextmanager
from pathlib import Path

from PIL import Image, ImageDraw

TINY = {"size": 32, "scales": 1, "iterations": 2}


def png_bytes(width: int = 40, height: int = 30, color=(200, 60, 20)) -> bytes:
    image = Image.new("RGB", (width, height), color)
    ImageDraw.Draw(image).ellipse(
        (width // 4, height // 4, 3 * width // 4, 3 * height // 4), fill=(20, 90, 200)
    )
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def scene(path: Path, size=(96, 72)) -> Path:
    """A small landscape-like content image."""
    w, h = size
    image = Image.new("RGB", size)
    draw = ImageDraw.Draw(image)
    for y in range(h):
        draw.line([(0, y), (w, y)], fill=(90 + y, 150 + y // 2, 235 - y))
    draw.ellipse((w * 0.6, h * 0.1, w * 0.85, h * 0.42), fill=(250, 210, 80))
    draw.polygon([(0, h), (w * 0.35, h * 0.45), (w * 0.7, h)], fill=(60, 110, 70))
    draw.rectangle((w * 0.1, h * 0.75, w, h), fill=(40, 80, 50))
    image.save(path)
    return path


def stripes(path: Path, size=(80, 80)) -> Path:
    """A bold, colourful style image."""
    image = Image.new("RGB", size, (240, 230, 200))
    draw = ImageDraw.Draw(image)
    colors = [(200, 30, 40), (30, 60, 160), (240, 180, 20), (20, 20, 20)]
    for i in range(-size[1], size[0], 10):
        draw.line([(i, 0), (i + size[1], size[1])], fill=colors[(i // 10) % 4], width=5)
    image.save(path)
    return path


def bomb_png(width: int, height: int) -> bytes:
    """A PNG whose header claims ``width`` x ``height`` (1-bit grey) but whose data is a few rows."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    row = b"\0" + b"\0" * ((width + 7) // 8)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(row * 8))
        + chunk(b"IEND", b"")
    )


def test_client(app, raise_server_exceptions: bool = True):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # starlette prefers httpx2 nowadays
        from fastapi.testclient import TestClient
    # 127.0.0.1: the Host header a loopback server answers
    return TestClient(app, base_url="http://127.0.0.1", raise_server_exceptions=raise_server_exceptions)


test_client.__test__ = False  # a helper, not a test


def settled(client, url: str, timeout: float = 60.0):
    """The JSON at ``url`` once its status is no longer queued or running (a run, or its panels)."""

    def done():
        answer = client.get(url).json()
        return answer if answer["status"] not in ("queued", "running") else None

    return wait_for(done, timeout)


def wait_for(predicate, timeout: float = 60.0, interval: float = 0.05):
    """Poll ``predicate`` until it returns something truthy; return that, or fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {predicate}")
        time.sleep(interval)


@contextmanager
def live_server(data: Path, **options):
    """``painterly.web`` served by a real uvicorn on a free loopback port, in a thread; yields its URL."""
    import uvicorn

    from painterly.web.server import create_app

    app = create_app(data, **options)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
    thread = threading.Thread(target=server.run, name="uvicorn", daemon=True)
    thread.start()
    try:
        wait_for(lambda: server.started or not thread.is_alive(), timeout=60)
        assert server.started, "uvicorn did not start"
        port = server.servers[0].sockets[0].getsockname()[1]
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(60)
