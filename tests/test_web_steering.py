"""Steering a running web job (``POST /api/jobs/<id>/settings``): who may, what, how often.

Most tests hold a job "painting" without painting: the queue's row is claimed and the worker's ``Live``
holds the job's real ``Job`` whose Stylizer has a run state, so requests reach the engine's ``update``
while no image is computed. One test steers a real tiny run and finds the change in its records.
"""

from __future__ import annotations

import json

import pytest
from test_web import finished, submit
from test_web_support import TINY, test_client, wait_for

from painterly.engine import Change
from painterly.jobs import Job
from painterly.state import STEERABLE, RunState
from painterly.web.limits import Limits
from painterly.web.server import create_app
from painterly.web.worker import Live

URL = "/api/jobs/{}/settings"


def painting(app, client, styles=("sample:starry_night",)):
    """A submitted job, claimed and held painting by the (stopped) worker: (id, token, stylizer)."""
    answer = submit(client, "sample:astronaut", styles=styles, **TINY).json()
    job_id, token = answer["id"], answer["steer_token"]
    store, worker = app.state.store, app.state.worker
    row = store.jobs.claim_next()
    assert row["id"] == job_id
    job = Job(store.inputs.run_settings(row), store.results.result_path(job_id))
    job.stylizer.state = RunState(total=10, settings=job.stylizer.start_settings)
    worker.live = Live(job_id)
    worker.live.job = job
    return job_id, token, job.stylizer


def steer(client, job_id, token, body, **headers):
    headers["Content-Type"] = "application/json"
    if token is not None:
        headers["X-Steer-Token"] = token
    return client.post(URL.format(job_id), content=json.dumps(body), headers=headers)


def applied(stylizer, done: int = 3) -> list[Change]:
    """The changes the engine applies before its next evaluation (after ``done``)."""
    stylizer.steer(done)
    return list(stylizer.state.changes)


@pytest.fixture
def app(tmp_path):
    return create_app(tmp_path / "data", start_worker=False)


@pytest.fixture
def client(app):
    with test_client(app) as client:
        yield client


def test_the_submitting_page_steers_and_gets_the_values_in_force(app, client):
    job_id, token, stylizer = painting(app, client, styles=("sample:starry_night", "sample:the_scream"))
    answer = steer(client, job_id, token, {"style_weight": 20, "style_blend": [3, 1]})
    assert answer.status_code == 200, answer.text
    values = answer.json()["values"]
    assert values["style_weight"] == 20.0 and values["style_blend"] == [3.0, 1.0]
    assert set(values) == set(STEERABLE) and values["content_weight"] == 1.0
    # the same values again are not passed on; a new one is
    assert steer(client, job_id, token, {"style_weight": 20, "tv_weight": 0.5}).status_code == 200
    assert applied(stylizer) == [
        Change(3, "style_weight", 20.0),
        Change(3, "style_blend", (3.0, 1.0)),
        Change(3, "tv_weight", 0.5),
    ]
    # the page sees them while the run paints
    live = client.get(f"/api/jobs/{job_id}").json()["live"]["steering"]
    assert live["values"]["style_weight"] == 20.0 and live["changes"][0] == [3, "style_weight", 20.0]
    assert [f["name"] for f in live["fields"]] == list(STEERABLE)
    assert {f["name"]: f["max"] for f in live["fields"]}["color_strength"] == 1


def test_the_token_is_secret_and_per_job(app, client):
    job_id, token, _ = painting(app, client)
    other = submit(client, "sample:astronaut", **TINY).json()
    assert len(token) >= 43 and other["steer_token"] != token
    for path in (f"/api/jobs/{job_id}", "/api/queue", "/api/gallery"):
        assert token not in client.get(path).text
    for wrong in (None, "", other["steer_token"], token[:-1], token + "x", "ü".encode("latin-1")):
        answer = steer(client, job_id, wrong, {"style_weight": 20})
        assert answer.status_code == 403 and "only the page that started" in answer.json()["detail"]
    # another site's page is refused even with the token (the same-origin guard)
    for headers in ({"Origin": "https://evil.example"}, {"Sec-Fetch-Site": "cross-site"}):
        answer = steer(client, job_id, token, {"style_weight": 20}, **headers)
        assert answer.status_code == 403 and "cross-site" in answer.json()["detail"]
    assert applied(painting_stylizer(app)) == []


def painting_stylizer(app):
    return app.state.worker.live.job.stylizer


@pytest.mark.parametrize(
    "body, message",
    [
        ({"size": 64}, "'size' cannot be changed while a run paints"),
        ({"style_weight": 20, "nonsense": 1}, "'nonsense' cannot be changed"),
        ({"style_weight": "5"}, "style_weight must be of type float, not '5'"),
        ({"style_weight": None}, "style_weight must be of type float, not 'None'"),
        ({"style_weight": [1, "a"]}, "style_weight must be of type float"),
        ({"style_weight": True}, "style_weight must be of type float"),
        ({"style_weight": {"a": 1}}, "style_weight must be of type float"),
        ({"style_weight": -1}, "style-weight must be a finite number >= 0"),
        ({"style_weight": 10**400}, "too large"),
        ({"color_strength": 2}, "color-strength must be between 0 and 1"),
        ({"style_blend": [1, "a"]}, "style_blend must be of type float, not 'a'"),
        ({"style_blend": "1,2"}, "style_blend must be a list"),
        ({"style_blend": [1, 2]}, "one positive-sum blend weight per style image"),
        ([1, "a"], "as a JSON object"),
        ("style_weight", "as a JSON object"),
        (None, "as a JSON object"),
    ],
)
def test_bad_fields_and_values_are_one_line_400s_and_change_nothing(app, client, body, message):
    job_id, token, stylizer = painting(app, client)
    answer = steer(client, job_id, token, body)
    assert answer.status_code == 400, answer.text
    detail = answer.json()["detail"]
    assert message in detail and "\n" not in detail
    assert applied(stylizer) == []


def test_not_json_is_a_400(app, client):
    job_id, token, _ = painting(app, client)
    headers = {"X-Steer-Token": token, "Content-Type": "application/json"}
    for content in (b"{", b"NaN-ish", b"\xff"):
        answer = client.post(URL.format(job_id), content=content, headers=headers)
        assert answer.status_code == 400 and "not valid JSON" in answer.json()["detail"]
    answer = client.post(URL.format(job_id), content=b"{}", headers={"X-Steer-Token": token})
    assert answer.status_code == 400 and "Content-Type" in answer.json()["detail"]
    nan = client.post(URL.format(job_id), content=b'{"style_weight": NaN}', headers=headers)
    assert nan.status_code == 400 and "finite" in nan.json()["detail"]


def test_only_a_painting_run_can_be_steered(app, client):
    job_id, token, stylizer = painting(app, client)
    queued = submit(client, "sample:astronaut", **TINY).json()
    answer = steer(client, queued["id"], queued["steer_token"], {"style_weight": 20})
    assert answer.status_code == 409 and "queued" in answer.json()["detail"]
    stylizer.state = None  # claimed, still loading its inputs
    answer = steer(client, job_id, token, {"style_weight": 20})
    assert answer.status_code == 409 and "starting" in answer.json()["detail"]
    app.state.worker.live = None
    app.state.store.jobs.finish(job_id, "stopped")
    answer = steer(client, job_id, token, {"style_weight": 20})
    assert answer.status_code == 409 and "stopped" in answer.json()["detail"]
    assert steer(client, "0" * 32, token, {"style_weight": 20}).status_code == 404


def test_changes_are_rate_limited_per_job(tmp_path):
    app = create_app(tmp_path / "data", start_worker=False, limits=Limits(steer_per_second=3))
    now = [100.0]
    app.state.steering.clock = lambda: now[0]
    with test_client(app) as client:
        job_id, token, stylizer = painting(app, client)
        codes = [steer(client, job_id, token, {"style_weight": 10 + i}).status_code for i in range(5)]
        assert codes == [200, 200, 200, 429, 429]
        refused = steer(client, job_id, token, {"style_weight": 99})
        assert refused.headers["retry-after"] == "1" and "at most 3 a second" in refused.json()["detail"]
        now[0] += 0.34  # one more change's worth
        assert steer(client, job_id, token, {"style_weight": 50}).status_code == 200
        assert steer(client, job_id, token, {"style_weight": 51}).status_code == 429
        assert [c.value for c in applied(stylizer)] == [10.0, 11.0, 12.0, 50.0]


def test_a_steered_run_records_its_changes_for_the_gallery(tmp_path):
    app = create_app(tmp_path / "data", checkpoint_every=0)
    with test_client(app) as client:
        answer = submit(client, "sample:astronaut", size=32, scales=1, iterations=60).json()
        job_id, token = answer["id"], answer["steer_token"]

        def steered():
            answer = steer(client, job_id, token, {"style_weight": 50})
            assert answer.status_code in (200, 409), answer.text
            return answer.status_code == 200

        wait_for(steered, timeout=120)
        job = finished(client, job_id, timeout=180)  # a shared machine may be slow
        assert job["status"] == "done"
        ((iteration, name, value),) = job["record"]["changes"]
        assert name == "style_weight" and value == 50.0 and 0 <= iteration < 60
        kept = client.get(f"/api/jobs/{job_id}/settings.json").json()
        assert kept["changes"] == [[iteration, "style_weight", 50.0]]
        assert kept["settings"]["style_weight"] == 5.0  # the start; the change is beside it
        gallery = client.get("/api/gallery").json()["jobs"]
        assert gallery[0]["record"]["changes"] == [[iteration, "style_weight", 50.0]]
