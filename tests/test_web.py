"""The web app's API, queue and persistence, in process (FastAPI's TestClient) with tiny runs."""

from __future__ import annotations

import io
import json

import pytest
from PIL import Image
from test_web_support import TINY, bomb_png, png_bytes, settled, test_client, wait_for

from painterly.images import read_metadata
from painterly.options import option
from painterly.settings import DEFAULTS
from painterly.web.guards import is_loopback
from painterly.web.limits import Limits
from painterly.web.results import public_record
from painterly.web.server import create_app
from painterly.web.store import Store


def upload(client, data: bytes, name: str = "image.png"):
    return client.post("/api/uploads", files={"file": (name, data, "image/png")})


def submit(client, content: str, styles=("sample:starry_night",), preview_every: int = 0, **settings):
    body = {"content": content, "styles": list(styles), "settings": settings, "preview_every": preview_every}
    return client.post("/api/jobs", json=body)


def finished(client, job_id: str, timeout: float = 60):
    return settled(client, f"/api/jobs/{job_id}", timeout)


@pytest.fixture
def app(tmp_path):
    return create_app(tmp_path / "data")


@pytest.fixture
def client(app):
    with test_client(app) as client:
        yield client


def test_config_takes_defaults_and_help_from_settings(client):
    config = client.get("/api/config").json()
    fields = {f["name"]: f for f in config["settings"]}
    for name in (
        "size",
        "iterations",
        "quality",
        "content_weight",
        "style_weight",
        "tv_weight",
        "style_scale",
        "preserve_colors",
        "init",
        "optimizer",
        "seed",
    ):
        assert fields[name]["default"] == getattr(DEFAULTS, name)
        assert fields[name]["help"] == option(name).help
    names = {s["name"] for s in config["samples"]}
    assert {"astronaut", "starry_night"} <= names
    assert client.get("/api/samples/starry_night").status_code == 200
    page = client.get("/")
    assert page.status_code == 200 and "painterly" in page.text
    assert client.get("/static/app.js").status_code == 200


@pytest.mark.parametrize(
    "data, message",
    [
        (b"", "empty file"),
        (b"this is a text file, not a picture", "not an image"),
        (png_bytes()[:60], "not a readable image"),  # truncated: the header is fine, the data is not
        (bomb_png(9000, 9000), "too large"),  # 81 megapixels, under PIL's guard but over ours
        (bomb_png(30000, 30000), "too large"),  # PIL's decompression-bomb guard
    ],
    ids=["empty", "text", "truncated", "huge", "bomb"],
)
def test_bad_uploads_get_a_clear_message(client, data, message):
    answer = upload(client, data, "holiday.png")
    assert answer.status_code == 400
    assert message in answer.json()["detail"]
    assert "holiday.png" in answer.json()["detail"]
    assert "/" not in answer.json()["detail"].replace("'holiday.png'", "")  # no server paths leak
    assert client.get("/api/config").status_code == 200  # the server goes on


def test_upload_byte_cap(tmp_path):
    app = create_app(tmp_path / "data", limits=Limits(upload_bytes=1000))
    with test_client(app) as client:
        answer = upload(client, png_bytes(300, 300) + b"\0" * 2000)
        assert answer.status_code == 413
        assert "larger than" in answer.json()["detail"]
        assert upload(client, png_bytes(8, 8)).status_code == 200
    assert not list((tmp_path / "data" / "uploads").glob(".*.tmp"))


def test_upload_is_stored_by_hash(client):
    data = png_bytes()
    first, second = upload(client, data).json(), upload(client, data).json()
    assert first["ref"] == second["ref"] and first["ref"].startswith("upload:")
    assert (first["width"], first["height"]) == (40, 30)
    assert client.get(first["url"]).content == data


@pytest.mark.parametrize(
    "body, message",
    [
        ({"content": "upload:" + "0" * 64, "styles": ["sample:starry_night"]}, "unknown or deleted input"),
        ({"content": "/etc/passwd", "styles": ["sample:starry_night"]}, "unknown or deleted input"),
        ({"content": "sample:astronaut", "styles": ["sample:../../etc/passwd"]}, "unknown or deleted input"),
        ({"content": "sample:astronaut", "styles": []}, "at least one style"),
        (
            {"content": "sample:astronaut", "styles": ["sample:starry_night"], "settings": {"size": -1}},
            "size",
        ),
        (
            {
                "content": "sample:astronaut",
                "styles": ["sample:starry_night"],
                "settings": {"weights": "/x.pth"},
            },
            "cannot be set from the web",
        ),
        (
            {
                "content": "sample:astronaut",
                "styles": ["sample:starry_night"],
                "settings": {"init": "/etc/x"},
            },
            "init must be one of",
        ),
        (
            {"content": "sample:astronaut", "styles": ["sample:starry_night"], "settings": {"seed": "abc"}},
            "must be a number",
        ),
        (
            {"content": "sample:astronaut", "styles": ["sample:starry_night"], "style_blend": [1, 2]},
            "one blend weight per style",
        ),
    ],
)
def test_bad_submissions_are_refused_before_anything_is_written(tmp_path, body, message):
    app = create_app(tmp_path / "data", start_worker=False)
    with test_client(app) as client:
        answer = client.post("/api/jobs", json=body)
        assert answer.status_code == 400, answer.text
        assert message in answer.json()["detail"]
    assert not list((tmp_path / "data" / "runs").iterdir())


def test_files_are_found_by_id_only(client):
    job = submit(client, "sample:astronaut", **TINY).json()
    finished(client, job["id"])
    for url in (
        "/api/jobs/../../painterly.db",
        "/api/jobs/%2e%2e%2fpainterly.db/result",
        f"/api/jobs/{job['id']}/inputs/..%2f..%2fpainterly.db",
        f"/api/jobs/{job['id']}/inputs/style-7",
        "/api/jobs/" + "f" * 32 + "/result",
        "/api/uploads/..%2fpainterly.db",
        "/api/samples/..%2f..%2f__init__.py",
    ):
        assert client.get(url).status_code == 404, url
    assert client.get(f"/api/jobs/{job['id']}/inputs/content").status_code == 200


def test_run_saves_result_inputs_and_settings(client, tmp_path):
    content = upload(client, png_bytes(60, 30)).json()
    job = submit(client, content["ref"], ["sample:starry_night", "sample:the_scream"], seed=7, **TINY)
    job_id = job.json()["id"]
    done = finished(client, job_id)
    assert done["status"] == "done", done
    assert done["record"]["iterations"] == 2 and not done["record"]["interrupted"]
    assert [h[0] for h in done["history"]] == [1, 2]
    folder = tmp_path / "data" / "runs" / job_id
    assert {p.name for p in folder.iterdir()} == {
        "settings.json",
        "record.json",
        "result.png",
    }  # inputs shared
    record = json.loads((folder / "record.json").read_text())  # the server's, with its paths
    assert read_metadata(folder / "result.png") == public_record(record, job_id)  # the visitor's
    upload_file = tmp_path / "data" / "uploads" / (content["ref"][len("upload:") :] + ".png")
    assert record["settings"]["seed"] == 7 and record["settings"]["content"] == str(upload_file)
    result = client.get(done["result_url"] + "?download=true")
    assert "attachment" in result.headers["content-disposition"]
    assert Image.open(io.BytesIO(result.content)).size == (32, 16)
    assert json.loads(client.get(done["settings_url"]).content)["settings"]["seed"] == 7
    gallery = client.get("/api/gallery").json()["jobs"]
    assert [g["id"] for g in gallery] == [job_id]

    # re-run with changed settings from the stored inputs
    again = submit(client, done["content"]["ref"], [s["ref"] for s in done["styles"]], seed=8, **TINY)
    assert again.status_code == 200, again.text
    rerun = finished(client, again.json()["id"])
    assert rerun["status"] == "done" and rerun["content"]["label"] == content["label"]
    assert client.get(rerun["content"]["url"]).content == png_bytes(60, 30)

    # delete
    assert client.delete(f"/api/jobs/{job_id}").status_code == 200
    assert not folder.exists()
    assert [g["id"] for g in client.get("/api/gallery").json()["jobs"]] == [rerun["id"]]
    assert client.get(f"/api/jobs/{job_id}").status_code == 404


def test_queue_runs_one_at_a_time_in_order(tmp_path):
    app = create_app(tmp_path / "data", start_worker=False)
    client = test_client(app)
    ids = [submit(client, "sample:astronaut", seed=i, **TINY).json()["id"] for i in range(4)]
    assert [client.get(f"/api/jobs/{i}").json()["position"] for i in ids] == [0, 1, 2, 3]
    assert client.post(f"/api/jobs/{ids[1]}/cancel").json()["status"] == "cancelled"
    assert client.get(f"/api/jobs/{ids[1]}").status_code == 404
    ids.pop(1)
    assert [q["id"] for q in client.get("/api/queue").json()] == ids
    assert [client.get(f"/api/jobs/{i}").json()["position"] for i in ids] == [0, 1, 2]
    with client:
        app.state.worker.start()
        jobs = [finished(client, i) for i in ids]
    assert all(job["status"] == "done" for job in jobs)
    for before, after in zip(jobs, jobs[1:], strict=False):
        assert before["finished"] <= after["started"]  # never two at once, oldest first
    assert [job["form"]["seed"] for job in jobs] == [0, 2, 3]


def test_cancel_stops_quickly_and_keeps_the_best_image(client):
    answer = submit(client, "sample:astronaut", preview_every=1, size=48, scales=1, iterations=2000)
    job_id = answer.json()["id"]
    wait_for(lambda: client.get(f"/api/jobs/{job_id}").json().get("live", {}).get("iteration", 0) >= 2)
    preview = client.get(f"/api/jobs/{job_id}/preview")
    assert preview.status_code == 200 and preview.headers["content-type"] == "image/png"
    assert client.post(f"/api/jobs/{job_id}/cancel").json()["status"] == "cancelling"
    job = finished(client, job_id, timeout=5)
    assert job["status"] == "stopped"
    assert job["record"]["interrupted"] and 2 <= job["record"]["iterations"] < 2000
    assert client.get(job["result_url"]).status_code == 200
    assert client.post(f"/api/jobs/{job_id}/cancel").status_code == 409
    folder = client.app.state.store.results.run_dir(job_id)
    assert not (folder / "result.png.ckpt").exists()  # a cancelled run is never continued


def test_restart_keeps_the_gallery_and_interrupts_unfinished_jobs(tmp_path):
    data = tmp_path / "data"
    with test_client(create_app(data)) as client:
        done_id = submit(client, "sample:astronaut", seed=1, **TINY).json()["id"]
        assert finished(client, done_id)["status"] == "done"

    # A server that dies: one job running, one queued, one half-written (result not complete).
    app = create_app(data, start_worker=False)
    client = test_client(app)
    running_id, queued_id, half_id = (
        submit(client, "sample:astronaut", seed=s, **TINY).json()["id"] for s in (2, 3, 4)
    )
    store: Store = app.state.store
    assert store.jobs.claim_next()["id"] == running_id
    (store.results.run_dir(running_id) / ".result.png.x1y2.tmp").write_bytes(b"\x89PNG half")
    with store.db.transaction() as db:  # the index got ahead of the file
        db.execute("UPDATE jobs SET status='done', record='{}' WHERE id=?", (half_id,))
    (store.results.run_dir(half_id) / "result.png").write_bytes(png_bytes()[:50])
    (store.results.run_dir(half_id) / "record.json").write_text("{}")
    orphan = data / "runs" / ("a" * 32)
    orphan.mkdir()
    store.close()

    with test_client(create_app(data)) as client:
        gallery = {job["id"]: job for job in client.get("/api/gallery").json()["jobs"]}
        assert gallery[done_id]["status"] == "done"
        assert client.get(gallery[done_id]["result_url"]).status_code == 200
        assert gallery[running_id]["status"] == "interrupted"
        assert client.get(f"/api/jobs/{queued_id}").json()["status"] != "interrupted"  # never started
        assert gallery[half_id]["status"] == "failed"  # never listed as finished
        assert "damaged" in gallery[half_id]["error"]
        assert not orphan.exists()
        assert not list((data / "runs" / running_id).glob(".*.tmp"))
        assert finished(client, queued_id)["status"] == "done"
        assert client.get("/api/queue").json() == []
        # resume: back in the queue, then finished
        assert client.post(f"/api/jobs/{running_id}/resume").status_code == 200
        assert client.post(f"/api/jobs/{done_id}/resume").status_code == 409
        resumed = finished(client, running_id)
        assert resumed["status"] == "done" and resumed["form"]["seed"] == 2


def test_serve_prints_url_and_warns_off_loopback(tmp_path, monkeypatch, capsys):
    import uvicorn

    from painterly.web import server

    calls = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: calls.append(kw))
    server.serve(host="127.0.0.1", port=7999, data=tmp_path / "a")
    out = capsys.readouterr()
    assert "http://127.0.0.1:7999/" in out.out and "warning" not in out.err
    server.serve(host="0.0.0.0", port=7998, data=tmp_path / "b")
    out = capsys.readouterr()
    assert "http://0.0.0.0:7998/" in out.out and "no login" in out.err
    assert [c["port"] for c in calls] == [7999, 7998]
    assert is_loopback("localhost") and is_loopback("::1") and is_loopback("127.0.0.2")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.4") and not is_loopback("example.org")


def test_face_protection_can_be_turned_off_from_the_form(client):
    config = {f["name"]: f for f in client.get("/api/config").json()["settings"]}
    assert config["protect_faces"]["choices"] == ["true", "false"]
    assert config["protect_faces"]["default"] == "true"
    job = submit(client, "sample:astronaut", protect_faces="false", **TINY)
    assert job.status_code == 200, job.text
    assert client.get(f"/api/jobs/{job.json()['id']}").json()["form"]["protect_faces"] is False
    bad = submit(client, "sample:astronaut", protect_faces="perhaps", **TINY)
    assert bad.status_code == 400 and "protect-faces must be true or false" in bad.json()["detail"]
