"""What a handler looks up in the app: its store, worker, limits and steering, and a job by id."""

from __future__ import annotations

from typing import Any

from fastapi import HTTPException, Request

from .limits import Limits
from .steering import Steering
from .store import Store
from .worker import Worker


def store(request: Request) -> Store:
    return request.app.state.store


def worker(request: Request) -> Worker:
    return request.app.state.worker


def limits(request: Request) -> Limits:
    return request.app.state.limits


def steering(request: Request) -> Steering:
    return request.app.state.steering


def job(request: Request, job_id: str) -> dict[str, Any]:
    job = store(request).jobs.get(job_id)
    if job is None:
        raise HTTPException(404, "no such job")
    return job
