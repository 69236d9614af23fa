"""The web app's "See inside" view: a finished run's panels computed by the queue, cached, deleted with it."""

from __future__ import annotations

import io
import sys

import pytest
from PIL import Image
from test_web import finished, submit
from test_web_support import TINY, settled, test_client, wait_for

from painterly import inside, sheets
from painterly.web.results import PANEL_MANIFEST
from painterly.web.server import create_app

PANELS = 1 + 5 + 1 + 5 + 5 + 5 + 1  # photo, content, painting, style, features, grams, loss per layer


def panels_settled(client, job_id: str, timeout: float = 120):
    return settled(client, f"/api/jobs/{job_id}/inside", timeout)


@pytest.fixture
def counted(monkeypatch):
    """Counts the worker's calls of ``inside.explain`` (it looks the function up at each task)."""
    calls = []
    real = inside.explain

    def explain(*args, **kwargs):
        calls.append(kwargs)
        return real(*args, **kwargs)

    monkeypatch.setattr(inside, "explain", explain)
    return calls


def done_job(client, **settings) -> str:
    job_id = submit(client, "sample:astronaut", **{**TINY, **settings}).json()["id"]
    assert finished(client, job_id)["status"] == "done"
    return job_id


def test_panels_are_computed_once_cached_and_deleted_with_the_entry(tmp_path, counted):
    with test_client(create_app(tmp_path / "data")) as client:
        job_id = done_job(client)
        asked = client.post(f"/api/jobs/{job_id}/inside", json={"size": 32})
        assert asked.status_code == 200 and asked.json()["status"] in ("queued", "running", "done")
        task = panels_settled(client, job_id)
        assert task["status"] == "done", task
        panels = task["panels"]
        assert len(panels) == PANELS and panels[-1]["title"] == "style loss per layer"
        assert all(p["title"] and p["caption"] and p["row"] for p in panels)
        for i, panel in enumerate(panels):
            assert panel["url"].startswith(f"/api/jobs/{job_id}/inside/{i}?")
            image = client.get(panel["url"])
            assert image.status_code == 200 and image.headers["content-type"] == "image/png"
            assert max(Image.open(io.BytesIO(image.content)).size) <= 32
        assert len(counted) == 1 and counted[0]["size"] == 32 and counted[0]["quick"]
        assert counted[0]["result"].name == "result.png"  # the run's own result: the per-layer loss panel

        again = client.post(f"/api/jobs/{job_id}/inside", json={"size": 48})
        assert again.json() == task and len(counted) == 1  # cached: no new work, whatever the size

        assert client.get(f"/api/jobs/{job_id}/inside/{PANELS}").status_code == 404
        assert client.get(f"/api/jobs/{job_id}/inside/-1").status_code == 422
        assert client.get(f"/api/jobs/{job_id}/inside/panels.json").status_code == 422
        assert client.get(f"/api/jobs/{job_id}/inside/..%2Fresult.png").status_code in (404, 422)

        folder = tmp_path / "data" / "runs" / job_id / "inside"
        assert (folder / PANEL_MANIFEST).is_file()
        assert client.delete(f"/api/jobs/{job_id}").status_code == 200
        assert not folder.exists()
        assert client.get(f"/api/jobs/{job_id}/inside").status_code == 404
        assert client.get(f"/api/jobs/{job_id}/inside/0").status_code == 404


def test_progress_then_cancel_then_ask_again(tmp_path, counted):
    with test_client(create_app(tmp_path / "data")) as client:
        job_id = done_job(client)
        client.post(f"/api/jobs/{job_id}/inside", json={"size": 64})

        def progress():
            live = client.get(f"/api/jobs/{job_id}/inside").json().get("live") or {}
            return live if live.get("panel", 0) >= 2 else None

        live = wait_for(progress, 60)
        assert live["panels"] == PANELS and live["title"]
        assert client.post(f"/api/jobs/{job_id}/inside/cancel").json()["status"] == "cancelling"
        task = panels_settled(client, job_id, timeout=20)
        assert task["status"] == "stopped" and task["panels"] == []
        assert not (tmp_path / "data" / "runs" / job_id / "inside" / PANEL_MANIFEST).exists()
        assert client.post(f"/api/jobs/{job_id}/inside/cancel").status_code == 409

        assert client.post(f"/api/jobs/{job_id}/inside", json={"size": 32}).status_code == 200
        assert panels_settled(client, job_id)["status"] == "done" and len(counted) == 2  # a fresh task


def test_tasks_share_the_queue_with_runs_and_survive_a_restart(tmp_path):
    data = tmp_path / "data"
    with test_client(create_app(data)) as client:
        job_id = done_job(client)
    app = create_app(data, start_worker=False)
    with test_client(app) as client:
        task = client.post(f"/api/jobs/{job_id}/inside", json={"size": 32}).json()
        assert task["status"] == "queued" and task["position"] == 0
        run = submit(client, "sample:astronaut", **TINY).json()
        assert run["position"] == 1  # behind the panels asked for first
        queue = client.get("/api/queue").json()
        assert [(q["id"], q["kind"]) for q in queue] == [(job_id, "inside"), (run["id"], "run")]
        assert client.post(f"/api/jobs/{job_id}/inside/cancel").json()["status"] == "cancelled"
        assert client.get(f"/api/jobs/{job_id}/inside").json()["status"] == "none"
        assert client.get(f"/api/jobs/{run['id']}").json()["position"] == 0

        client.post(f"/api/jobs/{job_id}/inside", json={"size": 32})
        client.delete(f"/api/jobs/{run['id']}")
        claimed = app.state.store.jobs.claim_next()  # as if the worker had started it, then the server died
        assert claimed["kind"] == "inside" and claimed["id"] == job_id and claimed["options"]["size"] == 32
        assert client.delete(f"/api/jobs/{job_id}").status_code == 409  # its panels are being computed
    with test_client(create_app(data)) as client:
        assert client.get(f"/api/jobs/{job_id}/inside").json()["status"] == "interrupted"
        assert client.post(f"/api/jobs/{job_id}/inside", json={"size": 32}).json()["status"] != "interrupted"
        assert panels_settled(client, job_id)["status"] == "done"


def test_only_finished_runs_can_be_seen_inside(tmp_path):
    app = create_app(tmp_path / "data", start_worker=False)
    with test_client(app) as client:
        queued = submit(client, "sample:astronaut", **TINY).json()["id"]
        for job_id in (queued, "0" * 32, "not-an-id"):
            assert client.post(f"/api/jobs/{job_id}/inside").status_code == 404
            assert client.get(f"/api/jobs/{job_id}/inside").status_code == 404
        assert client.get("/api/queue").json()[0]["kind"] == "run"  # nothing else was queued


def test_size_is_bounded_and_guards_apply(tmp_path, monkeypatch):
    data = tmp_path / "data"
    with test_client(create_app(data)) as client:
        job_id = done_job(client)
    app = create_app(data, start_worker=False)
    monkeypatch.setitem(sys.modules, "painterly.inside", None)  # the request checks bounds without torch
    with test_client(app) as client:
        url = f"/api/jobs/{job_id}/inside"
        for size, status in ((8, 400), (100_000, 400), ("big", 400), (48, 200)):
            assert client.post(url, json={"size": size}).status_code == status
        assert app.state.store.insides.get(job_id)["options"] == {"quick": True, "size": 48}
        assert client.post(f"{url}/cancel").json()["status"] == "cancelled"
        assert client.post(url).status_code == 200  # no size: the run's own (32 px), at most 256
        assert app.state.store.insides.get(job_id)["options"] == {"quick": True, "size": 32}
        assert client.post(f"{url}/cancel").json()["status"] == "cancelled"
        for headers in ({"Origin": "https://evil.example"}, {"Sec-Fetch-Site": "cross-site"}):
            assert client.post(url, headers=headers).status_code == 403
            assert client.post(f"{url}/cancel", headers=headers).status_code == 403
        assert client.post(url, headers={"Host": "evil.example"}).status_code == 400
        assert client.get(url).json()["status"] == "none"  # none of them queued anything


def test_the_store_reads_the_manifest_explain_writes():
    assert PANEL_MANIFEST == sheets.MANIFEST


def test_shutdown_while_computing_leaves_the_panels_interrupted(tmp_path):
    data = tmp_path / "data"
    with test_client(create_app(data)) as client:
        job_id = done_job(client)
        client.post(f"/api/jobs/{job_id}/inside", json={"size": 64})
        wait_for(lambda: (client.get(f"/api/jobs/{job_id}/inside").json().get("live") or {}).get("panel"), 60)
    # leaving the block shut the app down: the worker stopped the task through its StopToken
    with test_client(create_app(data, start_worker=False)) as client:
        task = client.get(f"/api/jobs/{job_id}/inside").json()
        assert task["status"] == "interrupted" and "stopped" in task["error"] and task["panels"] == []
        assert client.delete(f"/api/jobs/{job_id}").status_code == 200
