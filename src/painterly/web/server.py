"""FastAPI app of ``painterly serve``: uploads, the job queue, live progress and the gallery.

Every run goes through ``painterly.jobs.Job`` on the single worker thread. Inputs are referred to by
reference strings the server resolves itself, never by a client's path:

    upload:<sha256>          a validated upload (POST /api/uploads)
    sample:<name>            a built-in style painting, or ``astronaut`` (the demo photo)
    job:<id>:content         an input of an earlier job (for "re-run with changed settings")
    job:<id>:style-<i>
"""

from __future__ import annotations

import hashlib
import ipaddress
import os
import shutil
import sqlite3
import tempfile
from contextlib import asynccontextmanager
from importlib import resources
from pathlib import Path
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool

from ..errors import PainterlyError
from ..files import atomic_path, write_text_atomic
from ..settings import CHOICES, DEFAULTS, Settings, help_text
from .store import RECORD, SETTINGS, Store, finite
from .worker import Worker

MAX_UPLOAD_BYTES = 20 * 1024 * 1024
MAX_UPLOAD_PIXELS = 40_000_000  # 40 megapixels; well below PIL's decompression-bomb guard
MAX_UPLOAD_SIDE = 12_000
MAX_STYLES = 8
DEMO_SAMPLE = "astronaut"
UPLOAD_FORMATS = {"JPEG": ".jpg", "PNG": ".png", "WEBP": ".webp", "GIF": ".gif"}  # kept as sent

# Settings the page may set, in display order, with their choices where they have some. Path-valued
# settings (mask, init image, weights file) are not accepted from the web: the server reads no path
# a client names.
FORM_FIELDS: dict[str, tuple[str, ...] | None] = {
    "size": None,
    "iterations": None,
    "quality": CHOICES["quality"],
    "content_weight": None,
    "style_weight": None,
    "tv_weight": None,
    "style_scale": None,
    "preserve_colors": CHOICES["preserve_colors"],
    "init": ("content", "noise"),
    "optimizer": CHOICES["optimizer"],
    "seed": None,
}
ADVANCED_FIELDS: dict[str, tuple[str, ...] | None] = {
    "scales": None,
    "coarse_iterations": None,
    "style_loss": CHOICES["style_loss"],
    "pooling": CHOICES["pooling"],
    "learning_rate": None,
    "ema": None,
    "color_strength": None,
    "device": CHOICES["device"],
    "precision": CHOICES["precision"],
}
ALLOWED = {**FORM_FIELDS, **ADVANCED_FIELDS}
DEFAULT_PREVIEW_EVERY = 5


def static_dir() -> Path:
    return Path(str(resources.files("painterly") / "web" / "static"))


def samples() -> dict[str, Path]:
    from ..images import builtin_styles, demo_content

    return {DEMO_SAMPLE: demo_content(), **builtin_styles()}


def settings_schema() -> list[dict[str, Any]]:
    """Each settable field with its default and help, from ``painterly.settings`` (the one home)."""
    out = []
    for name, choices in ALLOWED.items():
        default = getattr(DEFAULTS, name)
        kind = "choice" if choices else ("int" if isinstance(default, int) else "float")
        out.append(
            {
                "name": name,
                "label": name.replace("_", " "),
                "default": default,
                "help": help_text(name),
                "type": kind,
                "choices": list(choices) if choices else None,
                "advanced": name in ADVANCED_FIELDS,
            }
        )
    return out


def coerce_form(raw: Any) -> dict[str, Any]:
    """The client's settings, restricted to ``ALLOWED`` and converted to the type of each default."""
    if not isinstance(raw, dict):
        raise PainterlyError("settings must be an object")
    form: dict[str, Any] = {}
    for name, value in raw.items():
        if name not in ALLOWED:
            raise PainterlyError(f"setting {name!r} cannot be set from the web page")
        if value is None or value == "":
            continue  # the default
        default = getattr(DEFAULTS, name)
        try:
            if isinstance(default, str):
                form[name] = str(value)
            elif isinstance(default, int):
                number = float(value)
                if not number.is_integer():
                    raise ValueError
                form[name] = int(number)
            else:
                form[name] = float(value)
        except (TypeError, ValueError, OverflowError):
            raise PainterlyError(f"{name.replace('_', ' ')} must be a number, not {value!r}") from None
        choices = ALLOWED[name]
        if choices and form[name] not in choices:
            raise PainterlyError(f"{name.replace('_', ' ')} must be one of {', '.join(choices)}")
    return form


# --- uploads ---------------------------------------------------------------------------------------


def check_upload(path: Path, name: str, max_pixels: int, max_side: int) -> tuple[str, int, int]:
    """Validate an uploaded file; return (PIL format, width, height) or raise PainterlyError."""
    from PIL import Image

    from ..images import load_image

    label = f"{name!r}" if name else "the upload"
    if path.stat().st_size == 0:
        raise PainterlyError(f"{label} is an empty file")
    try:
        with Image.open(path) as opened:  # reads the header only: cheap even for a bomb
            fmt, (width, height) = opened.format or "", opened.size
    except Image.DecompressionBombError:
        raise PainterlyError(f"{label} is too large (decompression bomb guard)") from None
    except (OSError, ValueError, SyntaxError):
        raise PainterlyError(f"{label} is not an image painterly can read (use JPEG, PNG or WebP)") from None
    if width * height > max_pixels or max(width, height) > max_side:
        raise PainterlyError(
            f"{label} is too large ({width}x{height}); at most {max_pixels / 1e6:g} megapixels "
            f"and {max_side} px a side"
        )
    try:
        load_image(path, "upload")  # a full decode: catches truncated and corrupt files
    except PainterlyError as exc:
        raise PainterlyError(str(exc).replace(f"upload {path}", label)) from None
    return fmt, width, height


# --- the app ---------------------------------------------------------------------------------------


def create_app(
    data: str | os.PathLike,
    *,
    max_upload_bytes: int = MAX_UPLOAD_BYTES,
    max_upload_pixels: int = MAX_UPLOAD_PIXELS,
    max_upload_side: int = MAX_UPLOAD_SIDE,
    start_worker: bool = True,
) -> FastAPI:
    """The web app over the data folder ``data`` (created if missing)."""
    try:
        store = Store(data)
        store.recover()
    except OSError as exc:
        raise PainterlyError(f"cannot use data folder {data}: {exc.strerror or exc}") from None
    except sqlite3.Error as exc:
        raise PainterlyError(f"cannot use the database in {data}: {exc}") from None
    worker = Worker(store)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        if start_worker:
            worker.start()
        try:
            yield
        finally:
            if await run_in_threadpool(worker.shutdown):
                store.close()  # else the run still ending needs it; the process exit closes it

    app = FastAPI(title="painterly", lifespan=lifespan, docs_url=None, redoc_url=None)
    app.state.store, app.state.worker = store, worker
    app.mount("/static", StaticFiles(directory=static_dir()), name="static")

    @app.exception_handler(PainterlyError)
    async def painterly_error(request: Request, exc: PainterlyError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=400)

    def job_or_404(job_id: str) -> dict[str, Any]:
        job = store.get(job_id)
        if job is None:
            raise HTTPException(404, "no such job")
        return job

    def describe(job: dict[str, Any], *, full: bool = True) -> dict[str, Any]:
        """A job as the page sees it: no server paths, URLs for its files."""
        job_id = job["id"]
        base = f"/api/jobs/{job_id}"
        inputs = job["inputs"]
        out: dict[str, Any] = {
            "id": job_id,
            "status": job["status"],
            "created": job["created"],
            "started": job["started"],
            "finished": job["finished"],
            "error": job["error"],
            "form": job["form"],
            "preview_every": job["preview_every"],
            "content": {
                "ref": f"job:{job_id}:content",
                "label": inputs["content"]["label"],
                "url": f"{base}/inputs/content",
            },
            "styles": [
                {
                    "ref": f"job:{job_id}:style-{i}",
                    "label": style["label"],
                    "weight": style["weight"],
                    "url": f"{base}/inputs/style-{i}",
                }
                for i, style in enumerate(inputs["styles"])
            ],
            "result_url": f"{base}/result" if job["record"] else None,
            "settings_url": f"{base}/settings.json",
        }
        record = job["record"]
        if record:
            out["record"] = {
                key: record.get(key)
                for key in ("elapsed", "iterations", "interrupted", "losses", "device", "precision")
            }
            out["size"] = record.get("settings", {}).get("size")
        if job["status"] == "queued":
            out["position"] = store.position(job_id)
        if full:
            out["history"] = job["history"] or []
            live = worker.current(job_id) if job["status"] == "running" else None
            if live is not None:
                out["live"] = live.snapshot()
                out["preview_url"] = f"{base}/preview?i={live.preview_iteration}" if live.preview else None
        return finite(out)

    # --- page and configuration ----------------------------------------------------------------

    @app.get("/", include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(static_dir() / "index.html", headers={"Cache-Control": "no-cache"})

    @app.get("/api/config")
    def config() -> dict[str, Any]:
        return {
            "settings": settings_schema(),
            "preview_every": DEFAULT_PREVIEW_EVERY,
            "samples": [
                {
                    "ref": f"sample:{name}",
                    "name": name,
                    "url": f"/api/samples/{name}",
                    "content": name == DEMO_SAMPLE,
                }
                for name in samples()
            ],
            "limits": {
                "upload_bytes": max_upload_bytes,
                "upload_pixels": max_upload_pixels,
                "upload_side": max_upload_side,
                "styles": MAX_STYLES,
            },
        }

    @app.get("/api/samples/{name}")
    def sample(name: str) -> FileResponse:
        path = samples().get(name)
        if path is None:
            raise HTTPException(404, "no such sample")
        return FileResponse(path, headers={"Cache-Control": "max-age=86400"})

    # --- uploads ---------------------------------------------------------------------------------

    @app.post("/api/uploads")
    async def upload(request: Request) -> dict[str, Any]:
        too_big = f"the file is larger than {max_upload_bytes / 2**20:g} MB"
        length = request.headers.get("content-length")
        if length and length.isdigit() and int(length) > max_upload_bytes + 64 * 1024:
            raise HTTPException(413, too_big)
        form = await request.form(max_files=1, max_fields=4)
        try:
            item = form.get("file")
            if item is None or isinstance(item, str):
                raise PainterlyError("no file was sent")
            name = os.path.basename(item.filename or "")[:200]
            fd, tmp_name = tempfile.mkstemp(prefix=".upload.", suffix=".tmp", dir=store.uploads)
            tmp = Path(tmp_name)
            digest, size = hashlib.sha256(), 0
            try:
                with os.fdopen(fd, "wb") as f:
                    while chunk := await item.read(1 << 20):
                        size += len(chunk)
                        if size > max_upload_bytes:
                            raise HTTPException(413, too_big)
                        digest.update(chunk)
                        f.write(chunk)
                fmt, width, height = await run_in_threadpool(
                    check_upload, tmp, name, max_upload_pixels, max_upload_side
                )
                sha = digest.hexdigest()
                if fmt not in UPLOAD_FORMATS:  # e.g. TIFF or BMP: keep a PNG the browser can show
                    from ..images import load_image

                    final = f"{sha}.png"

                    def convert() -> None:
                        with atomic_path(store.uploads / final) as out:
                            load_image(tmp).save(out, format="PNG")

                    await run_in_threadpool(convert)
                    tmp.unlink()
                else:
                    final = sha + UPLOAD_FORMATS[fmt]
                    os.replace(tmp, store.uploads / final)
            finally:
                tmp.unlink(missing_ok=True)
        finally:
            await form.close()
        store.add_upload(sha, final, name, width, height)
        return {
            "ref": f"upload:{sha}",
            "label": name,
            "width": width,
            "height": height,
            "url": f"/api/uploads/{sha}",
        }

    @app.get("/api/uploads/{sha}")
    def uploaded(sha: str) -> FileResponse:
        info = store.upload(sha)
        if info is None:
            raise HTTPException(404, "no such upload")
        return FileResponse(info["path"], headers={"Cache-Control": "max-age=86400"})

    def resolve_ref(ref: Any) -> tuple[Path, str]:
        """(file, label) of an input reference; PainterlyError if it names nothing known."""
        if not isinstance(ref, str):
            raise PainterlyError("inputs must be references (upload:..., sample:..., job:...)")
        kind, _, rest = ref.partition(":")
        if kind == "upload":
            info = store.upload(rest)
            if info:
                return info["path"], info["name"] or "upload"
        elif kind == "sample":
            path = samples().get(rest)
            if path:
                return path, rest
        elif kind == "job":
            job_id, _, key = rest.partition(":")
            job = store.get(job_id)
            if job:
                inputs = job["inputs"]
                item = inputs["content"] if key == "content" else None
                if key.startswith("style-") and key[6:].isdigit() and int(key[6:]) < len(inputs["styles"]):
                    item = inputs["styles"][int(key[6:])]
                if item and (store.run_dir(job_id) / item["file"]).is_file():
                    return store.run_dir(job_id) / item["file"], item["label"]
        raise PainterlyError(f"unknown or deleted input {ref!r}; upload the image again")

    # --- jobs ------------------------------------------------------------------------------------

    @app.post("/api/jobs")
    def submit(body: dict[str, Any]) -> dict[str, Any]:
        content_ref, style_refs = body.get("content"), body.get("styles") or []
        if not content_ref:
            raise PainterlyError("choose a content image")
        if not isinstance(style_refs, list) or not style_refs:
            raise PainterlyError("choose at least one style image")
        if len(style_refs) > MAX_STYLES:
            raise PainterlyError(f"at most {MAX_STYLES} style images")
        blend = body.get("style_blend") or []
        if not isinstance(blend, list) or (blend and len(blend) != len(style_refs)):
            raise PainterlyError("give one blend weight per style image")
        try:
            blend = [float(w) for w in blend]
        except (TypeError, ValueError):
            raise PainterlyError("blend weights must be numbers") from None
        form = coerce_form(body.get("settings") or {})
        try:
            preview_every = int(body.get("preview_every", DEFAULT_PREVIEW_EVERY))
        except (TypeError, ValueError):
            raise PainterlyError("preview every must be a whole number") from None
        preview_every = max(0, min(preview_every, 10_000))
        client = str(body.get("client") or "")[:64]
        content = resolve_ref(content_ref)
        styles = [resolve_ref(ref) for ref in style_refs]
        names = tuple(f"style-{i}{path.suffix}" for i, (path, _) in enumerate(styles))
        # validate before any file is copied
        Settings(content="content", styles=names, style_blend=tuple(blend), **form).validated()

        job_id = store.new_id()
        folder = store.run_dir(job_id)
        folder.mkdir()
        try:
            files = [f"content{content[0].suffix}", *names]
            for (source, label), name in zip([content, *styles], files, strict=True):
                try:
                    shutil.copyfile(source, folder / name)
                except FileNotFoundError:  # its gallery entry was deleted meanwhile
                    raise PainterlyError(f"input {label!r} was deleted; upload the image again") from None
            settings = Settings(
                content=str(folder / files[0]),
                styles=tuple(str(folder / name) for name in names),
                style_blend=tuple(blend),
                **form,
            ).validated()
            write_text_atomic(folder / SETTINGS, settings.to_json())
            inputs = {
                "content": {"file": files[0], "label": content[1]},
                "styles": [
                    {"file": name, "label": label, "weight": blend[i] if blend else 1.0}
                    for i, (name, (_, label)) in enumerate(zip(names, styles, strict=True))
                ],
            }
            store.add_job(
                job_id,
                inputs=inputs,
                form=form,
                settings_json=settings.to_json(),
                preview_every=preview_every,
                client=client,
            )
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        worker.notify()
        return describe(job_or_404(job_id), full=False)

    @app.get("/api/jobs/{job_id}")
    def job_detail(job_id: str) -> dict[str, Any]:
        return describe(job_or_404(job_id))

    @app.get("/api/queue")
    def queue() -> list[dict[str, Any]]:
        return [
            {"id": job["id"], "status": job["status"], "position": i, "client": job["client"]}
            for i, job in enumerate(store.active())
        ]

    @app.get("/api/gallery")
    def gallery() -> list[dict[str, Any]]:
        return [describe(job, full=False) for job in store.gallery()]

    @app.get("/api/jobs/{job_id}/preview")
    def preview(job_id: str) -> Response:
        live = worker.current(job_id)
        if live is None or live.preview is None:
            raise HTTPException(404, "no preview yet")
        return Response(live.preview, media_type="image/png", headers={"Cache-Control": "no-store"})

    @app.get("/api/jobs/{job_id}/result")
    def result(job_id: str, download: bool = False) -> FileResponse:
        job = job_or_404(job_id)
        path = store.result_path(job_id)
        if not job["record"] or not path.is_file():
            raise HTTPException(404, "this job has no result")
        name = f"painterly-{job_id[:8]}.png" if download else None
        return FileResponse(
            path, media_type="image/png", filename=name, headers={"Cache-Control": "no-cache"}
        )

    @app.get("/api/jobs/{job_id}/settings.json")
    def settings_file(job_id: str) -> FileResponse:
        job_or_404(job_id)
        folder = store.run_dir(job_id)
        path = folder / RECORD if (folder / RECORD).is_file() else folder / SETTINGS
        return FileResponse(path, media_type="application/json", filename=f"painterly-{job_id[:8]}.json")

    @app.get("/api/jobs/{job_id}/inputs/{key}")
    def job_input(job_id: str, key: str) -> FileResponse:
        job_or_404(job_id)
        try:
            path, _ = resolve_ref(f"job:{job_id}:{key}")
        except PainterlyError:
            raise HTTPException(404, "no such input") from None
        return FileResponse(path, headers={"Cache-Control": "max-age=86400"})

    @app.post("/api/jobs/{job_id}/cancel")
    def cancel(job_id: str) -> dict[str, Any]:
        job = job_or_404(job_id)
        if worker.cancel(job_id):
            return {"id": job_id, "status": "cancelling"}
        if job["status"] == "queued" and store.cancel_queued(job_id):
            return {"id": job_id, "status": "cancelled"}
        job = job_or_404(job_id)
        if job["status"] == "running" and worker.cancel(job_id):  # it started meanwhile
            return {"id": job_id, "status": "cancelling"}
        raise HTTPException(409, f"the job is {job['status']}, not queued or running")

    @app.post("/api/jobs/{job_id}/resume")
    def resume(job_id: str) -> dict[str, Any]:
        job = job_or_404(job_id)
        if not store.resume(job_id):
            raise HTTPException(
                409, f"only interrupted or failed jobs can be resumed; this one is {job['status']}"
            )
        worker.notify()
        return describe(job_or_404(job_id), full=False)

    @app.delete("/api/jobs/{job_id}")
    def delete(job_id: str) -> dict[str, Any]:
        job = job_or_404(job_id)
        if not store.delete(job_id):
            raise HTTPException(409, f"the job is {job['status']}; cancel it first")
        return {"id": job_id, "status": "deleted"}

    return app


# --- the command ------------------------------------------------------------------------------------


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def default_data() -> Path:
    import platformdirs

    return Path(platformdirs.user_data_dir("painterly"))


def serve(host: str = "127.0.0.1", port: int = 7860, data: str | os.PathLike | None = None) -> None:
    """Run the web app until Ctrl-C (``painterly serve``)."""
    import click
    import uvicorn

    root = Path(data).expanduser() if data else default_data()
    app = create_app(root)
    shown = f"[{host}]" if ":" in host else host
    click.echo(f"painterly: serving on http://{shown}:{port}/  (data in {root}; Ctrl-C to stop)")
    if not is_loopback(host):
        click.echo(
            f"painterly: warning: listening on {host}, not loopback; there is no login, so anyone who "
            "can reach this port can run jobs and see or delete the gallery",
            err=True,
        )
    uvicorn.run(app, host=host, port=port, log_level="warning")
