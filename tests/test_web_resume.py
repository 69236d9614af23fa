"""A run the server's stop or crash cut off goes on from its checkpoint after the restart: a real server
killed with SIGKILL, an app shut down cleanly, and checkpoints that cannot (or should not) be used."""

from __future__ import annotations

import io
import logging
import os
import signal
import subprocess

import httpx
import numpy as np
from PIL import Image
from test_web import finished, submit
from test_web_server import free_port, start_server, wait_up
from test_web_support import TINY, settled, test_client, wait_for

from painterly.web.server import create_app

CHECKPOINT = "result.png.ckpt"


def pixels(http: httpx.Client, job: dict) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(http.get(job["result_url"]).content)), dtype=np.int16)


def test_kill_9_then_restart_continues_the_run_from_its_checkpoint(tmp_path):
    """The run goes on where its last checkpoint left it, without repainting, to the same pixels as the
    same run never stopped (queued behind it, run by the restarted server)."""
    data, port = tmp_path / "data", free_port()
    url = f"http://127.0.0.1:{port}"
    body = {
        "content": "sample:astronaut",
        "styles": ["sample:starry_night"],
        "settings": {"size": 128, "scales": 2, "iterations": 60, "coarse_iterations": 30},
    }
    first = start_server(data, port, "--checkpoint-every", "1")
    try:
        wait_up(first, url)
        with httpx.Client(base_url=url, timeout=10) as http:
            cut, whole = (http.post("/api/jobs", json=body).json()["id"] for _ in range(2))
            checkpoint = data / "runs" / cut / CHECKPOINT
            wait_for(checkpoint.is_file, timeout=60)
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(30)

    restarted = start_server(data, port, "--checkpoint-every", "1")
    try:
        wait_up(restarted, url)
        with httpx.Client(base_url=url, timeout=10) as http:
            # back in the queue in its place: before the run queued after it
            assert [q["id"] for q in http.get("/api/queue").json()] == [cut, whole]
            done = {job_id: settled(http, f"/api/jobs/{job_id}", timeout=120) for job_id in (cut, whole)}
            assert [done[cut]["status"], done[whole]["status"]] == ["done", "done"]
            resumed, total = done[cut]["record"]["resumed"], done[whole]["record"]["iterations"]
            assert 0 < resumed < 1 and done[whole]["record"]["resumed"] is None
            assert done[cut]["record"]["iterations"] == total
            # the history holds the evaluations this server ran: the rest of the run, not all of it
            after = [point[0] for point in done[cut]["history"]]
            assert after == list(range(round(resumed * total) + 1, total + 1))
            assert len(done[whole]["history"]) == total
            # Checkpoints are taken between whole optimiser steps, so the rest is the same arithmetic
            difference = np.abs(pixels(http, done[cut]) - pixels(http, done[whole])).max()
            assert difference == 0
            assert not checkpoint.exists()  # the finished run removed it
    finally:
        restarted.send_signal(signal.SIGINT)
        try:
            restarted.wait(30)
        except subprocess.TimeoutExpired:
            restarted.kill()
            restarted.wait(10)
    assert f"job {cut} was cut off by the server's stop; continuing it" in restarted.stderr.read()


def test_shutdown_during_a_run_continues_it_at_the_next_start(tmp_path):
    data = tmp_path / "data"
    with test_client(create_app(data)) as client:
        job_id = submit(client, "sample:astronaut", size=48, scales=1, iterations=200).json()["id"]
        wait_for(lambda: client.get(f"/api/jobs/{job_id}").json().get("live", {}).get("iteration", 0) >= 2)
    # leaving the block shut the app down: the worker stopped the run, which saved a checkpoint
    assert (data / "runs" / job_id / CHECKPOINT).is_file()
    with test_client(create_app(data)) as client:
        job = finished(client, job_id, timeout=120)
    assert job["status"] == "done" and job["record"]["iterations"] == 200
    assert 0 < job["record"]["resumed"] < 1 and job["history"][0][0] > 2
    assert not (data / "runs" / job_id / CHECKPOINT).exists()


def test_unusable_or_stale_checkpoints(tmp_path, caplog):
    """A damaged checkpoint: the run starts again from zero, says so in the log and keeps the file
    aside. One older than its run's start (that run got nowhere, e.g. killed resuming): the run stays
    interrupted for the user to resume, rather than crash the server again at every start."""
    data = tmp_path / "data"
    app = create_app(data, start_worker=False)
    client = test_client(app)
    damaged, stale = (submit(client, "sample:astronaut", seed=s, **TINY).json()["id"] for s in (1, 2))
    store = app.state.store
    for job_id in (damaged, stale):
        assert store.jobs.claim_next()["id"] == job_id  # running when the server died
        (data / "runs" / job_id / CHECKPOINT).write_bytes(b"not a checkpoint")
    started = store.jobs.get(stale)["started"]
    os.utime(data / "runs" / stale / CHECKPOINT, (started - 60, started - 60))
    store.close()

    with caplog.at_level(logging.WARNING, logger="painterly.web"), test_client(create_app(data)) as client:
        job = finished(client, damaged)
        assert job["status"] == "done" and job["record"]["resumed"] is None
        assert client.get(f"/api/jobs/{stale}").json()["status"] == "interrupted"
    assert f"job {damaged} starts again from zero" in caplog.text
    assert "not a readable painterly checkpoint" in caplog.text
    folder = data / "runs" / damaged
    assert (folder / f"{CHECKPOINT}.unusable").read_bytes() == b"not a checkpoint"
    assert not (folder / CHECKPOINT).exists()
    assert (data / "runs" / stale / CHECKPOINT).is_file()  # kept for a resume
