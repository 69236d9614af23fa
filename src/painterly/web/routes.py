"""The HTTP API: thin handlers over the store (jobs, uploads) and the worker (live progress, cancel).

Jobs are presented without server paths: inputs as ``job:<id>:<key>`` references and URLs.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, HTTPException, Path, Query, Request
from fastapi.responses import FileResponse, JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from ..errors import PainterlyError
from ..queue import ACTIVE
from ..settings import check_panel_size
from .forms import DEFAULT_PREVIEW_EVERY, coerce_form, number, preview_every, settings_schema
from .inputs import DEMO_SAMPLE, samples
from .inputs import job_input as input_item
from .limits import Limits
from .results import finite, public_name
from .schema import INSIDE
from .steering import HEADER as STEER_HEADER
from .steering import Steering
from .store import Store
from .uploads import receive_upload
from .worker import Worker

router = APIRouter()


def _store(request: Request) -> Store:
    return request.app.state.store


def _worker(request: Request) -> Worker:
    return request.app.state.worker


def _limits(request: Request) -> Limits:
    return request.app.state.limits


def _steering(request: Request) -> Steering:
    return request.app.state.steering


def _job(request: Request, job_id: str) -> dict[str, Any]:
    job = _store(request).jobs.get(job_id)
    if job is None:
        raise HTTPException(404, "no such job")
    return job


def describe(request: Request, job: dict[str, Any], *, full: bool = True) -> dict[str, Any]:
    """A job as the page sees it: no server paths, URLs for its files."""
    job_id = job["id"]
    base = f"/api/jobs/{job_id}"
    inputs = job["inputs"]
    out: dict[str, Any] = {
        "id": job_id,
        "cursor": job["seq"],
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
            for key in (
                "elapsed",
                "iterations",
                "interrupted",
                "losses",
                "device",
                "precision",
                "resumed",
                "changes",
            )
        }
        out["size"] = record.get("settings", {}).get("size")
    if job["status"] == "queued":
        out["position"] = _store(request).jobs.position(job_id)
    if full:
        out["history"] = job["history"] or []
        live = _worker(request).current(job_id) if job["status"] == "running" else None
        if live is not None:
            out["live"] = live.snapshot()
            out["preview_url"] = f"{base}/preview?i={live.preview_iteration}" if live.preview else None
    return finite(out)


# --- configuration and samples -------------------------------------------------------------------


@router.get("/api/config")
def config(request: Request) -> dict[str, Any]:
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
        "limits": _limits(request).public(),
    }


@router.get("/api/samples/{name}")
def sample(name: str) -> FileResponse:
    path = samples().get(name)
    if path is None:
        raise HTTPException(404, "no such sample")
    return FileResponse(path, headers={"Cache-Control": "max-age=86400"})


# --- uploads -------------------------------------------------------------------------------------


@router.post("/api/uploads")
async def upload(request: Request) -> dict[str, Any]:
    return await receive_upload(request, _store(request).uploads, _limits(request))


@router.get("/api/uploads/{sha}")
def uploaded(request: Request, sha: str) -> FileResponse:
    info = _store(request).uploads.get(sha)
    if info is None:
        raise HTTPException(404, "no such upload")
    return FileResponse(info["path"], headers={"Cache-Control": "max-age=86400"})


# --- jobs ----------------------------------------------------------------------------------------


@router.post("/api/jobs")
def submit(request: Request, body: dict[str, Any]) -> dict[str, Any]:
    limits = _limits(request)
    content, styles = body.get("content"), body.get("styles") or []
    if not content:
        raise PainterlyError("choose a content image")
    if not isinstance(styles, list) or not styles:
        raise PainterlyError("choose at least one style image")
    if len(styles) > limits.styles:
        raise PainterlyError(f"at most {limits.styles} style images")
    blend = body.get("style_blend") or []
    if not isinstance(blend, list) or (blend and len(blend) != len(styles)):
        raise PainterlyError("give one blend weight per style image")
    weights = [number(w, "blend weights") for w in blend]
    form, every = coerce_form(body.get("settings") or {}), preview_every(body.get("preview_every"))
    store = _store(request)
    inputs, settings = store.inputs.submission(content, styles, weights, form)
    client = request.client.host if request.client else ""
    job_id = store.jobs.create(inputs, form, settings, preview_every=every, client=client, limits=limits)
    _worker(request).notify()
    return with_steer_token(request, describe(request, _job(request, job_id), full=False))


def with_steer_token(request: Request, described: dict[str, Any]) -> dict[str, Any]:
    """A submission's answer with the token that lets its page steer the run (``steering``): in the
    body only, never in a URL or in what other pages see of the job."""
    active = _store(request).jobs.ids(ACTIVE)
    return described | {"steer_token": _steering(request).issue(described["id"], active)}


@router.get("/api/jobs/{job_id}")
def job_detail(request: Request, job_id: str) -> dict[str, Any]:
    return describe(request, _job(request, job_id))


@router.get("/api/queue")
def queue(request: Request) -> list[dict[str, Any]]:
    return [
        {"id": job["id"], "kind": job["kind"], "status": job["status"], "position": i}
        for i, job in enumerate(_store(request).jobs.active())
    ]


@router.get("/api/gallery")
def gallery(
    request: Request, limit: int = Query(0, ge=0, le=10**6), before: int | None = Query(None, ge=0, le=2**62)
) -> dict[str, Any]:
    """A page of finished jobs, newest first; ``next`` is the ``before`` of the following page."""
    limits = _limits(request)
    size = min(limit or limits.gallery_page, limits.gallery_page_max)
    jobs = _store(request).jobs.gallery(size + 1, before)
    page = [describe(request, job, full=False) for job in jobs[:size]]
    return {"jobs": page, "next": page[-1]["cursor"] if len(jobs) > size else None}


@router.get("/api/jobs/{job_id}/preview")
def preview(request: Request, job_id: str) -> Response:
    live = _worker(request).current(job_id)
    if live is None or live.preview is None:
        raise HTTPException(404, "no preview yet")
    return Response(live.preview, media_type="image/png", headers={"Cache-Control": "no-store"})


@router.get("/api/jobs/{job_id}/result")
def result(request: Request, job_id: str, download: bool = False) -> FileResponse:
    job = _job(request, job_id)
    path = _store(request).results.result_path(job_id)
    if not job["record"] or not path.is_file():
        raise HTTPException(404, "this job has no result")
    name = public_name(job_id) if download else None
    return FileResponse(path, media_type="image/png", filename=name, headers={"Cache-Control": "no-cache"})


@router.get("/api/jobs/{job_id}/settings.json")
def settings_file(request: Request, job_id: str) -> JSONResponse:
    _job(request, job_id)
    data = _store(request).results.public_file(job_id)
    if data is None:
        raise HTTPException(404, "this job has no settings file")
    disposition = f'attachment; filename="painterly-{job_id[:8]}.json"'
    return JSONResponse(data, headers={"Content-Disposition": disposition})


@router.get("/api/jobs/{job_id}/inputs/{key}")
def job_input(request: Request, job_id: str, key: str) -> FileResponse:
    item = input_item(_job(request, job_id), key)
    path = _store(request).inputs.path(item, job_id) if item else None
    if path is None:
        raise HTTPException(404, "no such input")
    return FileResponse(path, headers={"Cache-Control": "max-age=86400"})


@router.post("/api/jobs/{job_id}/cancel")
def cancel(request: Request, job_id: str) -> dict[str, Any]:
    store, worker = _store(request), _worker(request)
    job = _job(request, job_id)
    if worker.cancel(job_id):
        return {"id": job_id, "status": "cancelling"}
    if job["status"] == "queued" and store.jobs.cancel_queued(job_id):
        return {"id": job_id, "status": "cancelled"}
    job = _job(request, job_id)
    if job["status"] == "running" and worker.cancel(job_id):  # it started meanwhile
        return {"id": job_id, "status": "cancelling"}
    if job["status"] == "running" and worker.abandon(job_id):  # its end was never recorded
        return {"id": job_id, "status": "failed"}
    raise HTTPException(409, f"the job is {job['status']}, not queued or running")


@router.post("/api/jobs/{job_id}/resume")
def resume(request: Request, job_id: str) -> dict[str, Any]:
    job = _job(request, job_id)
    if not _store(request).jobs.resume(job_id):
        raise HTTPException(
            409, f"only interrupted or failed jobs can be resumed; this one is {job['status']}"
        )
    _worker(request).notify()
    return with_steer_token(request, describe(request, _job(request, job_id), full=False))


@router.post("/api/jobs/{job_id}/settings")
async def steer(request: Request, job_id: str) -> dict[str, Any]:
    """Change steerable settings of a painting run (``{"style_weight": 20}``); the values in force from
    its next evaluation. 409 unless it paints, 403 without its page's token, 400 for a bad field or
    value (``forms.steer_values``), 429 past ``Limits.steer_per_second``."""
    if request.headers.get("content-type", "").split(";")[0].strip().lower() != "application/json":
        raise PainterlyError("send the settings as JSON (Content-Type: application/json)")
    try:
        raw = json.loads(await request.body())
    except (ValueError, RecursionError):
        raise PainterlyError("the settings are not valid JSON") from None
    return await run_in_threadpool(_steer, request, job_id, raw)


def _steer(request: Request, job_id: str, raw: Any) -> dict[str, Any]:
    job = _job(request, job_id)
    stylizer = _worker(request).painting(job_id)
    if stylizer is None:
        state = "starting or stopping" if job["status"] == "running" else job["status"]
        raise HTTPException(409, f"the run is {state}: only a painting run can be steered")
    answer = _steering(request).steer(job_id, request.headers.get(STEER_HEADER), raw, stylizer)
    return finite(answer)


@router.delete("/api/jobs/{job_id}")
def delete(request: Request, job_id: str) -> dict[str, Any]:
    job = _job(request, job_id)
    if not _store(request).jobs.delete(job_id):
        what = (
            f"the job is {job['status']}" if job["status"] == "running" else "its panels are being computed"
        )
        raise HTTPException(409, f"{what}; cancel it first")
    return {"id": job_id, "status": "deleted"}


# --- See inside: a finished run's panels (``painterly explain``), computed by the queue, cached -------


def _done_job(request: Request, job_id: str) -> dict[str, Any]:
    job = _job(request, job_id)
    if job["status"] != "done":
        raise HTTPException(404, f"the job is {job['status']}; only finished runs can be seen inside")
    return job


def describe_inside(request: Request, job_id: str) -> dict[str, Any]:
    """The See inside task of a job as the page sees it: status, progress, panels with image URLs."""
    store = _store(request)
    task = store.insides.get(job_id)
    out: dict[str, Any] = {"id": job_id, "status": "none", "error": None, "panels": []}
    if task is None:
        return out
    out.update(status=task["status"], error=task["error"])
    if task["status"] == "queued":
        out["position"] = store.jobs.position(job_id, INSIDE)
    elif task["status"] == "running":
        live = _worker(request).current(job_id, INSIDE)
        out["live"] = live.inside_snapshot() if live else None
    elif task["status"] == "done":
        panels = store.results.inside_panels(job_id)
        if panels is None:
            out.update(status="none", error="the panels' files are gone; ask again to compute them")
        else:
            base, stamp = f"/api/jobs/{job_id}/inside", int(task["finished"] or 0)
            out["panels"] = [
                {key: panel[key] for key in ("title", "caption", "row")} | {"url": f"{base}/{i}?t={stamp}"}
                for i, panel in enumerate(panels)
            ]
    return finite(out)


@router.get("/api/jobs/{job_id}/inside")
def inside(request: Request, job_id: str) -> dict[str, Any]:
    _done_job(request, job_id)
    return describe_inside(request, job_id)


@router.post("/api/jobs/{job_id}/inside")
def see_inside(request: Request, job_id: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    """Queue the panels of a finished run, or answer with the cached ones (no new work) or the task
    already on its way. ``size``: the panels' longest side, up to ``Limits.inside_size`` (default: the
    run's own size, at most ``Limits.inside_default_size``)."""
    job = _done_job(request, job_id)
    body, limits = body or {}, _limits(request)
    size = min(int(job["settings"]["size"]), limits.inside_default_size)
    if body.get("size") is not None:
        size = number(body["size"], "size", whole=True)
        check_panel_size(size, limits.inside_size)
    options = {"quick": True, "size": size}
    queued = _store(request).insides.request(
        job_id,
        options,
        client=request.client.host if request.client else "",
        max_queued=limits.queued,
        max_queued_per_client=limits.queued_per_client,
    )
    if queued is None:  # deleted or changed meanwhile
        raise HTTPException(404, "only finished runs can be seen inside")
    if queued:
        _worker(request).notify()
    return describe_inside(request, job_id)


@router.get("/api/jobs/{job_id}/inside/{index}")
def inside_panel(request: Request, job_id: str, index: int = Path(ge=0, le=999)) -> FileResponse:
    """A cached panel's image, by its place in the list (never by a file name)."""
    _job(request, job_id)
    store = _store(request)
    panels = store.results.inside_panels(job_id) or []
    if index >= len(panels):
        raise HTTPException(404, "no such panel")
    path = store.results.inside_dir(job_id) / panels[index]["file"]
    return FileResponse(path, media_type="image/png", headers={"Cache-Control": "max-age=86400"})


@router.post("/api/jobs/{job_id}/inside/cancel")
def cancel_inside(request: Request, job_id: str) -> dict[str, Any]:
    """Stop computing a run's panels: a queued task is dropped, a running one stops (nothing is kept)."""
    store, worker = _store(request), _worker(request)
    _job(request, job_id)
    if worker.cancel(job_id, INSIDE):
        return {"id": job_id, "status": "cancelling"}
    if store.insides.cancel_queued(job_id):
        return {"id": job_id, "status": "cancelled"}
    if worker.cancel(job_id, INSIDE):  # it started meanwhile
        return {"id": job_id, "status": "cancelling"}
    task = store.insides.get(job_id)
    raise HTTPException(
        409, f"its panels are {task['status'] if task else 'not asked for'}, not queued or being computed"
    )
