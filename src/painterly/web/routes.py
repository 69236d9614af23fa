"""The HTTP API: thin handlers over the store (jobs, uploads) and the worker (live progress, cancel);
See inside's handlers are in ``inside_routes``.

Jobs are presented without server paths: inputs as ``job:<id>:<key>`` references and URLs.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import FileResponse, JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from ..errors import PainterlyError
from ..queue import ACTIVE
from . import lookup
from .forms import DEFAULT_PREVIEW_EVERY, coerce_form, number, preview_every, settings_schema
from .inputs import DEMO_SAMPLE, samples
from .inputs import job_input as input_item
from .results import finite, public_name
from .steering import HEADER as STEER_HEADER
from .uploads import receive_upload

router = APIRouter()


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
        out["position"] = lookup.store(request).jobs.position(job_id)
    if full:
        out["history"] = job["history"] or []
        live = lookup.worker(request).current(job_id) if job["status"] == "running" else None
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
        "limits": lookup.limits(request).public(),
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
    return await receive_upload(request, lookup.store(request).uploads, lookup.limits(request))


@router.get("/api/uploads/{sha}")
def uploaded(request: Request, sha: str) -> FileResponse:
    info = lookup.store(request).uploads.get(sha)
    if info is None:
        raise HTTPException(404, "no such upload")
    return FileResponse(info["path"], headers={"Cache-Control": "max-age=86400"})


# --- jobs ----------------------------------------------------------------------------------------


@router.post("/api/jobs")
def submit(request: Request, body: dict[str, Any]) -> dict[str, Any]:
    limits = lookup.limits(request)
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
    store = lookup.store(request)
    inputs, settings = store.inputs.submission(content, styles, weights, form)
    client = request.client.host if request.client else ""
    job_id = store.jobs.create(inputs, form, settings, preview_every=every, client=client, limits=limits)
    lookup.worker(request).notify()
    return with_steer_token(request, describe(request, lookup.job(request, job_id), full=False))


def with_steer_token(request: Request, described: dict[str, Any]) -> dict[str, Any]:
    """A submission's answer with the token that lets its page steer the run (``steering``): in the
    body only, never in a URL or in what other pages see of the job."""
    active = lookup.store(request).jobs.ids(ACTIVE)
    return described | {"steer_token": lookup.steering(request).issue(described["id"], active)}


@router.get("/api/jobs/{job_id}")
def job_detail(request: Request, job_id: str) -> dict[str, Any]:
    return describe(request, lookup.job(request, job_id))


@router.get("/api/queue")
def queue(request: Request) -> list[dict[str, Any]]:
    return [
        {"id": job["id"], "kind": job["kind"], "status": job["status"], "position": i}
        for i, job in enumerate(lookup.store(request).jobs.active())
    ]


@router.get("/api/gallery")
def gallery(
    request: Request, limit: int = Query(0, ge=0, le=10**6), before: int | None = Query(None, ge=0, le=2**62)
) -> dict[str, Any]:
    """A page of finished jobs, newest first; ``next`` is the ``before`` of the following page."""
    limits = lookup.limits(request)
    size = min(limit or limits.gallery_page, limits.gallery_page_max)
    jobs = lookup.store(request).jobs.gallery(size + 1, before)
    page = [describe(request, job, full=False) for job in jobs[:size]]
    return {"jobs": page, "next": page[-1]["cursor"] if len(jobs) > size else None}


@router.get("/api/jobs/{job_id}/preview")
def preview(request: Request, job_id: str) -> Response:
    live = lookup.worker(request).current(job_id)
    if live is None or live.preview is None:
        raise HTTPException(404, "no preview yet")
    return Response(live.preview, media_type="image/png", headers={"Cache-Control": "no-store"})


@router.get("/api/jobs/{job_id}/result")
def result(request: Request, job_id: str, download: bool = False) -> FileResponse:
    job = lookup.job(request, job_id)
    path = lookup.store(request).results.result_path(job_id)
    if not job["record"] or not path.is_file():
        raise HTTPException(404, "this job has no result")
    name = public_name(job_id) if download else None
    return FileResponse(path, media_type="image/png", filename=name, headers={"Cache-Control": "no-cache"})


@router.get("/api/jobs/{job_id}/settings.json")
def settings_file(request: Request, job_id: str) -> JSONResponse:
    lookup.job(request, job_id)
    data = lookup.store(request).results.public_file(job_id)
    if data is None:
        raise HTTPException(404, "this job has no settings file")
    disposition = f'attachment; filename="painterly-{job_id[:8]}.json"'
    return JSONResponse(data, headers={"Content-Disposition": disposition})


@router.get("/api/jobs/{job_id}/inputs/{key}")
def job_input(request: Request, job_id: str, key: str) -> FileResponse:
    item = input_item(lookup.job(request, job_id), key)
    path = lookup.store(request).inputs.path(item, job_id) if item else None
    if path is None:
        raise HTTPException(404, "no such input")
    return FileResponse(path, headers={"Cache-Control": "max-age=86400"})


@router.post("/api/jobs/{job_id}/cancel")
def cancel(request: Request, job_id: str) -> dict[str, Any]:
    store, worker = lookup.store(request), lookup.worker(request)
    job = lookup.job(request, job_id)
    if worker.cancel(job_id):
        return {"id": job_id, "status": "cancelling"}
    if job["status"] == "queued" and store.jobs.cancel_queued(job_id):
        return {"id": job_id, "status": "cancelled"}
    job = lookup.job(request, job_id)
    if job["status"] == "running" and worker.cancel(job_id):  # it started meanwhile
        return {"id": job_id, "status": "cancelling"}
    if job["status"] == "running" and worker.abandon(job_id):  # its end was never recorded
        return {"id": job_id, "status": "failed"}
    raise HTTPException(409, f"the job is {job['status']}, not queued or running")


@router.post("/api/jobs/{job_id}/resume")
def resume(request: Request, job_id: str) -> dict[str, Any]:
    job = lookup.job(request, job_id)
    if not lookup.store(request).jobs.resume(job_id):
        raise HTTPException(
            409, f"only interrupted or failed jobs can be resumed; this one is {job['status']}"
        )
    lookup.worker(request).notify()
    return with_steer_token(request, describe(request, lookup.job(request, job_id), full=False))


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
    job = lookup.job(request, job_id)
    stylizer = lookup.worker(request).painting(job_id)
    if stylizer is None:
        state = "starting or stopping" if job["status"] == "running" else job["status"]
        raise HTTPException(409, f"the run is {state}: only a painting run can be steered")
    answer = lookup.steering(request).steer(job_id, request.headers.get(STEER_HEADER), raw, stylizer)
    return finite(answer)


@router.delete("/api/jobs/{job_id}")
def delete(request: Request, job_id: str) -> dict[str, Any]:
    job = lookup.job(request, job_id)
    if not lookup.store(request).jobs.delete(job_id):
        what = (
            f"the job is {job['status']}" if job["status"] == "running" else "its panels are being computed"
        )
        raise HTTPException(409, f"{what}; cancel it first")
    return {"id": job_id, "status": "deleted"}
