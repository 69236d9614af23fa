"""``painterly serve``: the FastAPI app assembled from its parts, and the command that runs it.

Every run goes through ``painterly.jobs.Job`` on the single worker thread. Inputs are referred to by
reference strings the server resolves itself, never by a client's path:

    upload:<sha256>          a validated upload (POST /api/uploads)
    sample:<name>            a built-in style painting, or ``astronaut`` (the demo photo)
    job:<id>:content         an input of an earlier job (for "re-run with changed settings")
    job:<id>:style-<i>

In front of the routes: the Host header check (DNS rebinding), the same-origin check for state changes
(CSRF) and the body size limit. Errors are one-line JSON: 400 for bad input, 413 too large, 429 queue
full (or a run steered too often), 507 disk full, never a bare 500. A running job is steered only by the
page that submitted it (``steering``).
"""

from __future__ import annotations

import logging
import os
import sqlite3
from collections.abc import Iterable
from contextlib import asynccontextmanager
from importlib import resources
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool
from starlette.middleware.trustedhost import TrustedHostMiddleware

from ..checkpoints import DEFAULT_EVERY
from ..errors import PainterlyError, disk_full
from . import inside_routes, routes
from .guards import LOOPBACK_HOSTS, BodyLimit, SameOrigin, SecurityHeaders, allowed_hosts, is_loopback
from .jobstore import QueueFull
from .limits import Limits
from .recovery import recover
from .steering import Steering
from .store import DISK_FULL, INTERNAL_ERROR, Store
from .worker import Worker

log = logging.getLogger("painterly.web")


def static_dir() -> Path:
    return Path(str(resources.files("painterly") / "web" / "static"))


def create_app(
    data: str | os.PathLike,
    *,
    limits: Limits | None = None,
    hosts: Iterable[str] = LOOPBACK_HOSTS,
    start_worker: bool = True,
    checkpoint_every: float = DEFAULT_EVERY,
) -> FastAPI:
    """The web app over the data folder ``data`` (created if missing), answering only for ``hosts``;
    runs write a checkpoint every ``checkpoint_every`` seconds (0: never), to continue after a stop."""
    store = _open(data)
    worker = Worker(store, checkpoint_every)
    limits = limits or Limits()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        if start_worker:
            worker.start()
        try:
            yield
        finally:
            if await run_in_threadpool(worker.shutdown):
                store.close()  # else the run still ending needs it; the process exit closes it

    app = FastAPI(title="painterly", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    app.state.store, app.state.worker, app.state.limits = store, worker, limits
    app.state.steering = Steering(limits)
    # Added last = outermost: the Host check runs first, then the origin check, then the body limit;
    # SecurityHeaders wraps them all so their refusals carry its headers too.
    app.add_middleware(BodyLimit, limit_for=limits.body_limit)
    app.add_middleware(SameOrigin)
    app.add_middleware(TrustedHostMiddleware, allowed_hosts=list(hosts))
    app.add_middleware(SecurityHeaders)
    app.mount("/static", StaticFiles(directory=static_dir()), name="static")
    app.include_router(routes.router)
    app.include_router(inside_routes.router)

    @app.get("/", include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(static_dir() / "index.html", headers={"Cache-Control": "no-cache"})

    app.add_exception_handler(PainterlyError, _painterly_error)
    app.add_exception_handler(Exception, _unexpected)
    return app


def _open(data: str | os.PathLike) -> Store:
    """The store over ``data``, made to agree with the files there (``recovery``); one line if it cannot."""
    try:
        store = Store(data)
    except OSError as exc:
        raise PainterlyError(f"cannot use data folder {data}: {exc.strerror or exc}") from None
    except sqlite3.Error as exc:
        raise PainterlyError(f"cannot use the database in {data}: {exc}") from None
    try:
        recover(store)
    except (OSError, sqlite3.Error) as exc:
        store.close()
        raise PainterlyError(
            f"cannot use data folder {data}: {getattr(exc, 'strerror', None) or exc}"
        ) from None
    return store


async def _painterly_error(request: Request, exc: Exception) -> JSONResponse:
    return JSONResponse({"detail": str(exc)}, status_code=429 if isinstance(exc, QueueFull) else 400)


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    if disk_full(exc):
        return JSONResponse({"detail": DISK_FULL}, status_code=507)
    log.error("internal error on %s %s", request.method, request.url.path, exc_info=exc)
    return JSONResponse({"detail": INTERNAL_ERROR}, status_code=500)


# --- the command ------------------------------------------------------------------------------------


def default_data() -> Path:
    import platformdirs

    return Path(platformdirs.user_data_dir("painterly"))


def serve(
    host: str = "127.0.0.1",
    port: int = 7860,
    data: str | os.PathLike | None = None,
    allow_hosts: Iterable[str] = (),
    checkpoint_every: float = DEFAULT_EVERY,
) -> None:
    """Run the web app until Ctrl-C (``painterly serve``)."""
    import click
    import uvicorn

    root = Path(data).expanduser() if data else default_data()
    hosts = allowed_hosts(host, allow_hosts)
    app = create_app(root, hosts=hosts, checkpoint_every=checkpoint_every)
    shown = f"[{host}]" if ":" in host else host
    click.echo(f"painterly: serving on http://{shown}:{port}/  (data in {root}; Ctrl-C to stop)")
    if not is_loopback(host):
        click.echo(
            f"painterly: warning: listening on {host}, not loopback; there is no login, so anyone who "
            f"can reach this port can run jobs and see or delete the gallery. Answering for: {', '.join(hosts)} "
            "(add names with --allow-host)",
            err=True,
        )
    uvicorn.run(app, host=host, port=port, log_level="warning")
