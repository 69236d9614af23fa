"""The See inside API: a finished run's panels (``painterly explain``), computed by the queue and cached
beside the run."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Path, Request
from fastapi.responses import FileResponse

from ..settings import check_panel_size
from . import lookup
from .forms import number
from .results import finite
from .schema import INSIDE

router = APIRouter()


def _done_job(request: Request, job_id: str) -> dict[str, Any]:
    job = lookup.job(request, job_id)
    if job["status"] != "done":
        raise HTTPException(404, f"the job is {job['status']}; only finished runs can be seen inside")
    return job


def describe_inside(request: Request, job_id: str) -> dict[str, Any]:
    """The See inside task of a job as the page sees it: status, progress, panels with image URLs."""
    store = lookup.store(request)
    task = store.insides.get(job_id)
    out: dict[str, Any] = {"id": job_id, "status": "none", "error": None, "panels": []}
    if task is None:
        return out
    out.update(status=task["status"], error=task["error"])
    if task["status"] == "queued":
        out["position"] = store.jobs.position(job_id, INSIDE)
    elif task["status"] == "running":
        live = lookup.worker(request).current(job_id, INSIDE)
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
    body, limits = body or {}, lookup.limits(request)
    size = min(int(job["settings"]["size"]), limits.inside_default_size)
    if body.get("size") is not None:
        size = number(body["size"], "size", whole=True)
        check_panel_size(size, limits.inside_size)
    options = {"quick": True, "size": size}
    queued = lookup.store(request).insides.request(
        job_id,
        options,
        client=request.client.host if request.client else "",
        max_queued=limits.queued,
        max_queued_per_client=limits.queued_per_client,
    )
    if queued is None:  # deleted or changed meanwhile
        raise HTTPException(404, "only finished runs can be seen inside")
    if queued:
        lookup.worker(request).notify()
    return describe_inside(request, job_id)


@router.get("/api/jobs/{job_id}/inside/{index}")
def inside_panel(request: Request, job_id: str, index: int = Path(ge=0, le=999)) -> FileResponse:
    """A cached panel's image, by its place in the list (never by a file name)."""
    lookup.job(request, job_id)
    store = lookup.store(request)
    panels = store.results.inside_panels(job_id) or []
    if index >= len(panels):
        raise HTTPException(404, "no such panel")
    path = store.results.inside_dir(job_id) / panels[index]["file"]
    return FileResponse(path, media_type="image/png", headers={"Cache-Control": "max-age=86400"})


@router.post("/api/jobs/{job_id}/inside/cancel")
def cancel_inside(request: Request, job_id: str) -> dict[str, Any]:
    """Stop computing a run's panels: a queued task is dropped, a running one stops (nothing is kept)."""
    store, worker = lookup.store(request), lookup.worker(request)
    lookup.job(request, job_id)
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
