"""ASGI guards in front of the app: the request body's size, requests from other sites, and the
headers that keep the page out of other sites' frames.

The Host header check (against DNS rebinding) is Starlette's ``TrustedHostMiddleware``, fed by
``allowed_hosts``; what Starlette has no middleware for is here, small and ASGI-level so it sees the
request before any route (or multipart parser) reads it.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable
from urllib.parse import urlsplit

from starlette.datastructures import Headers, MutableHeaders
from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "[::1]")
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
SECURITY_HEADERS = {
    "X-Frame-Options": "DENY",  # no clickjacking: another site cannot frame the page's buttons
    "Content-Security-Policy": "frame-ancestors 'none'; default-src 'self'; img-src 'self' data: blob:",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def allowed_hosts(bind: str, extra: Iterable[str] = ()) -> list[str]:
    """Host header values the server answers: loopback names, the address it listens on when that is a
    specific one (not 0.0.0.0 or ::), and ``extra`` (``--allow-host``)."""
    hosts = list(LOOPBACK_HOSTS)
    own = f"[{bind}]" if ":" in bind else bind
    if bind not in ("0.0.0.0", "::", "") and own not in hosts:  # 127.0.0.2 too: loopback, not listed
        hosts.append(own)
    hosts += [h.lower() for h in extra]
    return hosts


class TooLarge(HTTPException):
    """The request body passed its limit (raised from ``receive``, so whoever reads it stops)."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"the request is larger than {limit / 2**20:.3g} MB")


class BodyLimit:
    """Answer 413 as soon as a request body passes ``limit_for(path)`` bytes, counting what is actually
    streamed (a chunked upload has no Content-Length to check up front)."""

    def __init__(self, app: ASGIApp, limit_for: Callable[[str], int]) -> None:
        self.app, self.limit_for = app, limit_for

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope["path"])
        declared = Headers(scope=scope).get("content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            await _refuse(TooLarge(limit), scope, receive, send)
            return
        seen, started = 0, False

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise TooLarge(limit)
            return message

        async def tracked(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, tracked)
        except TooLarge as exc:
            if started:
                raise
            await _refuse(exc, scope, receive, send)


class SecurityHeaders:
    """Add ``SECURITY_HEADERS`` to every HTTP response (errors from the other guards included)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS.items():
                    headers.setdefault(name, value)
            await send(message)

        await self.app(scope, receive, with_headers)


class SameOrigin:
    """Refuse state-changing requests a browser sends on behalf of another site (CSRF).

    Browsers say where a request comes from: ``Sec-Fetch-Site`` (same-origin, or none for a typed URL)
    or else ``Origin``, which must be this server's own. Requests with neither (curl, scripts) pass:
    they are not sent by a page the user happens to visit."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] in UNSAFE_METHODS and not _same_origin(scope):
            error = HTTPException(403, "cross-site request refused: use the painterly page itself")
            await _refuse(error, scope, receive, send)
            return
        await self.app(scope, receive, send)


def _same_origin(scope: Scope) -> bool:
    headers = Headers(scope=scope)
    site = headers.get("sec-fetch-site")
    if site is not None:
        return site in ("same-origin", "none")
    origin = headers.get("origin")
    if origin is None:
        return True
    parts = urlsplit(origin)
    return parts.scheme in ("http", "https") and parts.netloc.lower() == headers.get("host", "").lower()


async def _refuse(error: HTTPException, scope: Scope, receive: Receive, send: Send) -> None:
    response = JSONResponse({"detail": error.detail}, status_code=error.status_code)
    response.headers["Connection"] = "close"  # the rest of the body is not read
    await response(scope, receive, send)
