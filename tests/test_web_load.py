"""Load: eight clients submit at once to a real uvicorn server; each gets back its own, correct result."""

from __future__ import annotations

import io
import json
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from PIL import Image
from test_web_support import live_server, png_bytes, wait_for

from painterly.images import METADATA_KEY

CLIENTS = 8


def one_client(url: str, index: int) -> dict:
    """Upload a content image of this client's own colour and aspect, run a tiny job, fetch the result."""
    size = 32 + index
    content = png_bytes(40 + 5 * index, 30, color=(30 * index, 200 - 20 * index, 90))
    with httpx.Client(base_url=url, timeout=30) as http:
        up = http.post("/api/uploads", files={"file": (f"client-{index}.png", content, "image/png")})
        up.raise_for_status()
        body = {
            "content": up.json()["ref"],
            "styles": ["sample:starry_night"],
            "settings": {"size": size, "scales": 1, "iterations": 2, "seed": 1000 + index},
            "preview_every": 1,
        }
        answer = http.post("/api/jobs", json=body)
        answer.raise_for_status()
        job_id = answer.json()["id"]

        def done():
            job = http.get(f"/api/jobs/{job_id}").json()
            return job if job["status"] not in ("queued", "running") else None

        job = wait_for(done, timeout=90, interval=0.1)
        result = http.get(job["result_url"]).content
        sent_back = http.get(job["content"]["url"]).content
    return {
        "index": index,
        "id": job_id,
        "job": job,
        "result": result,
        "content": content,
        "sent_back": sent_back,
    }


@pytest.mark.slow
def test_eight_concurrent_clients_each_get_their_own_result(tmp_path):
    with live_server(tmp_path / "data") as url:
        with ThreadPoolExecutor(CLIENTS) as pool:
            outcomes = list(pool.map(lambda i: one_client(url, i), range(CLIENTS)))

        assert len({o["id"] for o in outcomes}) == CLIENTS  # nothing duplicated
        for o in outcomes:
            i, job = o["index"], o["job"]
            assert job["status"] == "done", job
            assert job["form"] == {"size": 32 + i, "scales": 1, "iterations": 2, "seed": 1000 + i}
            assert job["content"]["label"] == f"client-{i}.png"
            assert o["sent_back"] == o["content"]  # its own input, not another client's
            image = Image.open(io.BytesIO(o["result"]))
            assert max(image.size) == 32 + i  # its own size ...
            width = 40 + 5 * i
            assert image.size == (32 + i, round(30 * (32 + i) / width))  # its own content's shape
            record = json.loads(image.info[METADATA_KEY])
            assert record["settings"]["seed"] == 1000 + i  # ... and its own settings
            assert record["iterations"] == 2 and not record["interrupted"]
            assert record["output"] == f"painterly-{o['id'][:8]}.png"  # its own name, no server path

        with httpx.Client(base_url=url, timeout=10) as http:
            gallery = http.get("/api/gallery").json()["jobs"]
            assert sorted(g["id"] for g in gallery) == sorted(o["id"] for o in outcomes)  # nothing lost
            assert http.get("/api/queue").json() == []
            runs = [(g["started"], g["finished"]) for g in gallery]
            runs.sort()
            for (_, end), (start, _) in zip(runs, runs[1:], strict=False):
                assert end <= start  # one run at a time
            assert http.get("/api/config").status_code == 200  # still answering
