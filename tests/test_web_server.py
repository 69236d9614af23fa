"""Attacks and crashes against a real server, where the transport matters: a chunked upload without a
length, forged Host and Origin headers, a second server on the same folder, and kill -9 mid-run."""

from __future__ import annotations

import os
import select
import signal
import socket
import subprocess
import sys
from urllib.parse import urlsplit

import httpx
import pytest
from test_web_support import TINY, live_server, png_bytes, wait_for

from painterly.web.limits import Limits

LIMIT = 100_000


def chunked_upload(url: str, total: int, chunk: int = 64 * 1024) -> tuple[bytes, int]:
    """POST a multipart body of ``total`` bytes with Transfer-Encoding: chunked over a raw socket; stop
    sending once the server answers. Returns (the answer, bytes sent)."""
    parts = urlsplit(url)
    sock = socket.create_connection((parts.hostname, parts.port), timeout=30)
    boundary = "b0undary"
    head = (
        f"POST /api/uploads HTTP/1.1\r\nHost: {parts.netloc}\r\nTransfer-Encoding: chunked\r\n"
        f"Content-Type: multipart/form-data; boundary={boundary}\r\n\r\n"
    ).encode()
    sock.sendall(head)
    preamble = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.png"\r\n'
        "Content-Type: image/png\r\n\r\n"
    ).encode()
    payload = preamble + png_bytes() + b"\0" * chunk
    sent = 0
    try:
        while sent < total:
            readable, _, _ = select.select([sock], [], [], 0)
            if readable:
                break  # the server answered before the body ended
            data = payload if sent == 0 else b"\0" * chunk
            sock.sendall(f"{len(data):x}\r\n".encode() + data + b"\r\n")
            sent += len(data)
    except (BrokenPipeError, ConnectionResetError):
        pass
    answer = b""
    try:
        while chunk_in := sock.recv(65536):
            answer += chunk_in
            if b"\r\n\r\n" in answer and b"}" in answer:
                break
    except (ConnectionResetError, TimeoutError):
        pass
    sock.close()
    return answer, sent


def test_chunked_upload_far_beyond_the_limit_is_cut_off_early(tmp_path):
    with live_server(tmp_path / "data", limits=Limits(upload_bytes=LIMIT)) as url:
        answer, sent = chunked_upload(url, total=200 * LIMIT)  # 20 MB against a 100 kB limit
        assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
        assert b"larger than" in answer
        assert sent < 40 * LIMIT  # answered long before the end, not after spooling it all
        assert not list((tmp_path / "data" / "uploads").iterdir())
        with httpx.Client(base_url=url, timeout=10) as http:
            small = http.post("/api/uploads", files={"file": ("a.png", png_bytes(), "image/png")})
            assert small.status_code == 200  # the server goes on


def test_declared_length_over_the_limit_is_refused_before_reading(tmp_path):
    server = live_server(tmp_path / "data", limits=Limits(upload_bytes=LIMIT))
    with server as url, httpx.Client(base_url=url, timeout=10) as http:
        answer = http.post(
            "/api/jobs",
            content=b"{" + b" " * 300_000 + b"}",
            headers={"content-type": "application/json"},
        )
        assert answer.status_code == 413 and "larger than" in answer.json()["detail"]


@pytest.mark.parametrize("host", ["evil.example", "evil.example:7860", "127.0.0.1.evil.example", ""])
def test_rebinding_host_names_are_refused(tmp_path, host):
    with live_server(tmp_path / "data") as url, httpx.Client(base_url=url, timeout=10) as http:
        for path in ("/api/gallery", "/api/config", "/"):
            answer = http.get(path, headers={"Host": host})
            assert answer.status_code == 400 and "Invalid host header" in answer.text
        port = urlsplit(url).port
        for good in (f"127.0.0.1:{port}", f"localhost:{port}", "localhost"):
            assert http.get("/api/config", headers={"Host": good}).status_code == 200


def test_allowed_extra_host_is_answered(tmp_path):
    from painterly.web.guards import allowed_hosts

    server = live_server(tmp_path / "data", hosts=allowed_hosts("127.0.0.1", ["studio.lan"]))
    with server as url, httpx.Client(base_url=url, timeout=10) as http:
        assert http.get("/api/config", headers={"Host": "studio.lan:7860"}).status_code == 200
        assert http.get("/api/config", headers={"Host": "other.lan"}).status_code == 400


def test_every_answer_forbids_framing_and_sniffing(tmp_path):
    from painterly.web.guards import SECURITY_HEADERS

    with (
        live_server(tmp_path / "data", start_worker=False) as url,
        httpx.Client(base_url=url, timeout=10) as http,
    ):
        answers = [http.get(path) for path in ("/", "/static/app.js", "/api/config", "/api/jobs/nope")]
        answers.append(http.get("/", headers={"Host": "evil.example"}))  # refused by the Host check
        answers.append(http.post("/api/jobs", json={}, headers={"Origin": "https://evil.example"}))
        assert [a.status_code for a in answers] == [200, 200, 200, 404, 400, 403]
        for answer in answers:
            assert answer.headers["x-frame-options"] == "DENY"
            assert "frame-ancestors 'none'" in answer.headers["content-security-policy"]
            assert {k: answer.headers[k] for k in SECURITY_HEADERS} == SECURITY_HEADERS


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "https://evil.example"},
        {"Origin": "null"},
        {"Origin": "http://localhost:1"},  # another local app
        {"Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "same-site", "Origin": "http://127.0.0.1"},
    ],
)
def test_cross_site_state_changes_are_refused(tmp_path, headers):
    with (
        live_server(tmp_path / "data", start_worker=False) as url,
        httpx.Client(base_url=url, timeout=10) as http,
    ):
        upload = http.post(
            "/api/uploads", files={"file": ("a.png", png_bytes(), "image/png")}, headers=headers
        )
        assert upload.status_code == 403 and "cross-site" in upload.json()["detail"]
        body = {"content": "sample:astronaut", "styles": ["sample:starry_night"], "settings": TINY}
        # a "simple" cross-site request: a form post of JSON as text/plain
        job = http.post(
            "/api/jobs", content=str(body).encode(), headers={**headers, "content-type": "text/plain"}
        )
        assert job.status_code == 403
        job = http.post("/api/jobs", json=body)  # no browser headers: curl, scripts
        assert job.status_code == 200
        assert http.delete(f"/api/jobs/{job.json()['id']}", headers=headers).status_code == 403
        assert not list((tmp_path / "data" / "uploads").iterdir())
        port = urlsplit(url).port
        own = {"Origin": f"http://127.0.0.1:{port}", "Sec-Fetch-Site": "same-origin"}
        assert (
            http.post(
                "/api/uploads", files={"file": ("a.png", png_bytes(), "image/png")}, headers=own
            ).status_code
            == 200
        )
        # JSON sent as text/plain is refused even from the page (fastapi's strict content type)
        plain = http.post("/api/jobs", content=b"{}", headers={"content-type": "text/plain"})
        assert plain.status_code == 422


# --- a real server process --------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(data, port: int, *options: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "painterly.cli", "serve", "--port", str(port), "--data", str(data), *options],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_up(proc: subprocess.Popen, url: str) -> None:
    def up():
        if proc.poll() is not None:
            raise AssertionError(f"server exited: {proc.communicate()[1]}")
        try:
            return httpx.get(f"{url}/api/config", timeout=2).status_code == 200
        except httpx.TransportError:
            return False

    wait_for(up, timeout=60, interval=0.2)


@pytest.mark.slow
def test_kill_9_mid_run_then_restart_keeps_and_resumes_the_queue(tmp_path):
    data, port = tmp_path / "data", free_port()
    url = f"http://127.0.0.1:{port}"
    first = start_server(data, port)
    try:
        wait_up(first, url)
        assert oct(os.stat(data).st_mode & 0o777) == "0o700"  # the user's photos are private
        # a second server on the same folder: a one-line error naming the folder
        second = subprocess.run(
            [sys.executable, "-m", "painterly.cli", "serve", "--port", str(free_port()), "--data", str(data)],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert second.returncode == 2
        assert (
            second.stderr.strip()
            == f"painterly: error: data folder {data} is in use by another painterly server"
        )
        with httpx.Client(base_url=url, timeout=10) as http:
            body = {"content": "sample:astronaut", "styles": ["sample:starry_night"]}
            long = http.post(
                "/api/jobs", json={**body, "settings": {"size": 48, "scales": 1, "iterations": 2000}}
            )
            queued = [http.post("/api/jobs", json={**body, "settings": {**TINY, "seed": s}}) for s in (1, 2)]
            ids = [long.json()["id"]] + [q.json()["id"] for q in queued]
            wait_for(lambda: http.get(f"/api/jobs/{ids[0]}").json().get("live", {}).get("iteration", 0) >= 2)
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(30)

    restarted = start_server(data, port)
    try:
        wait_up(restarted, url)
        with httpx.Client(base_url=url, timeout=10) as http:
            # the run that was cut off is interrupted (resumable); the queued ones run by themselves
            assert http.get(f"/api/jobs/{ids[0]}").json()["status"] == "interrupted"
            for job_id in ids[1:]:
                job = wait_for(
                    lambda job_id=job_id: (
                        (j := http.get(f"/api/jobs/{job_id}").json())["status"] == "done" and j
                    ),
                    timeout=120,
                )
                assert http.get(job["result_url"]).status_code == 200
            assert http.get("/api/queue").json() == []
    finally:
        restarted.send_signal(signal.SIGINT)
        try:
            restarted.wait(30)
        except subprocess.TimeoutExpired:
            restarted.kill()
            restarted.wait(10)
