"""The web app's persistent state: a SQLite index (WAL mode) of jobs and uploads, files beside it.

Layout of the data folder::

    painterly.db            jobs (queue and gallery) and uploads
    uploads/<sha256>.<ext>  validated uploads, named by content hash
    runs/<job id>/          content.<ext>, style-<i>.<ext>, settings.json, result.png, record.json

Files are only ever looked up through a job or upload id found in the database, never by a path a
client sent. A job is ``done`` only after its result image (written atomically by ``Job.run``) and its
record are on disk, so a run cut short half-way is never listed as finished; ``recover`` (at start-up)
turns jobs that were queued or running when the server stopped into ``interrupted`` ones.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import sqlite3
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from ..queue import ACTIVE, FINISHED, Status, check_transition, sources

DB_NAME = "painterly.db"
RESULT = "result.png"
RECORD = "record.json"
SETTINGS = "settings.json"


def _sql_in(states: frozenset[Status]) -> str:
    """A SQL list literal of fixed Status values (never client text), e.g. ``('queued','running')``."""
    return "(" + ",".join(f"'{state.value}'" for state in sorted(states)) + ")"


ACTIVE_SQL = _sql_in(ACTIVE)

_ID = re.compile(r"^[0-9a-f]{32}$")
_SHA = re.compile(r"^[0-9a-f]{64}$")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    status TEXT NOT NULL,
    qseq INTEGER NOT NULL,
    created REAL NOT NULL,
    started REAL,
    finished REAL,
    client TEXT NOT NULL DEFAULT '',
    inputs TEXT NOT NULL,
    form TEXT NOT NULL,
    settings TEXT NOT NULL,
    preview_every INTEGER NOT NULL DEFAULT 0,
    record TEXT,
    history TEXT,
    error TEXT
);
CREATE INDEX IF NOT EXISTS jobs_status ON jobs (status, qseq);
CREATE TABLE IF NOT EXISTS uploads (
    sha TEXT PRIMARY KEY,
    file TEXT NOT NULL,
    name TEXT NOT NULL,
    width INTEGER NOT NULL,
    height INTEGER NOT NULL,
    created REAL NOT NULL
);
"""


def valid_id(job_id: str) -> bool:
    return bool(_ID.match(job_id))


def valid_sha(sha: str) -> bool:
    return bool(_SHA.match(sha))


def finite(value: Any) -> Any:
    """JSON-safe copy: NaN and infinities become None (browsers reject them in JSON)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [finite(v) for v in value]
    return value


class Store:
    """Thread-safe access to the data folder. One connection, serialised by a lock."""

    def __init__(self, root: str | os.PathLike) -> None:
        self.root = Path(root).expanduser()
        self.runs = self.root / "runs"
        self.uploads = self.root / "uploads"
        for folder in (self.root, self.runs, self.uploads):
            folder.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._db = sqlite3.connect(self.root / DB_NAME, check_same_thread=False)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA busy_timeout=5000")
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # --- paths ---------------------------------------------------------------------------------

    def run_dir(self, job_id: str) -> Path:
        if not valid_id(job_id):
            raise ValueError(f"bad job id {job_id!r}")
        return self.runs / job_id

    def result_path(self, job_id: str) -> Path:
        return self.run_dir(job_id) / RESULT

    # --- start-up ------------------------------------------------------------------------------

    def recover(self) -> dict[str, int]:
        """Make the index agree with the files after a stop or crash; return what was changed."""
        changed = {"interrupted": 0, "broken": 0, "orphans": 0}
        with self._lock, self._db:
            cursor = self._db.execute(
                f"UPDATE jobs SET status=?, error=? WHERE status IN {ACTIVE_SQL}",
                (Status.INTERRUPTED, "the server stopped before this run finished"),
            )
            changed["interrupted"] = cursor.rowcount
            rows = self._db.execute(f"SELECT id FROM jobs WHERE status IN {_sql_in(FINISHED)}").fetchall()
            for row in rows:
                if not self._complete(row["id"]):
                    self._db.execute(
                        "UPDATE jobs SET status=?, record=NULL, error=? WHERE id=?",
                        (Status.FAILED, "the result file is missing or damaged", row["id"]),
                    )
                    changed["broken"] += 1
            known = {row["id"] for row in self._db.execute("SELECT id FROM jobs")}
        for folder in self.runs.iterdir():
            if folder.is_dir() and valid_id(folder.name) and folder.name not in known:
                shutil.rmtree(folder, ignore_errors=True)  # created but never indexed
                changed["orphans"] += 1
            elif folder.is_dir():
                for tmp in folder.glob(".*.tmp"):
                    tmp.unlink(missing_ok=True)  # half-written files of an atomic save
        for tmp in self.uploads.glob(".*.tmp"):
            tmp.unlink(missing_ok=True)
        return changed

    def _complete(self, job_id: str) -> bool:
        from PIL import Image

        path = self.result_path(job_id)
        if not path.is_file() or not (path.parent / RECORD).is_file():
            return False
        try:
            with Image.open(path) as image:
                image.verify()
        except Exception:  # noqa: BLE001 - any decoding failure means the file is damaged
            return False
        return True

    # --- uploads -------------------------------------------------------------------------------

    def add_upload(self, sha: str, file: str, name: str, width: int, height: int) -> None:
        with self._lock, self._db:
            self._db.execute(
                "INSERT OR REPLACE INTO uploads (sha, file, name, width, height, created) VALUES (?,?,?,?,?,?)",
                (sha, file, name, width, height, time.time()),
            )

    def upload(self, sha: str) -> dict[str, Any] | None:
        if not valid_sha(sha):
            return None
        with self._lock:
            row = self._db.execute("SELECT * FROM uploads WHERE sha=?", (sha,)).fetchone()
        if row is None:
            return None
        data = dict(row)
        data["path"] = self.uploads / data["file"]
        return data if data["path"].is_file() else None

    # --- jobs ----------------------------------------------------------------------------------

    @staticmethod
    def new_id() -> str:
        return uuid.uuid4().hex

    def add_job(
        self,
        job_id: str,
        *,
        inputs: dict[str, Any],
        form: dict[str, Any],
        settings_json: str,
        preview_every: int,
        client: str = "",
    ) -> None:
        with self._lock, self._db:
            self._db.execute(
                "INSERT INTO jobs (id, status, qseq, created, client, inputs, form, settings, preview_every)"
                " VALUES (?, 'queued', (SELECT COALESCE(MAX(qseq), 0) + 1 FROM jobs), ?, ?, ?, ?, ?, ?)",
                (
                    job_id,
                    time.time(),
                    client,
                    json.dumps(inputs),
                    json.dumps(form),
                    settings_json,
                    preview_every,
                ),
            )

    def get(self, job_id: str) -> dict[str, Any] | None:
        if not valid_id(job_id):
            return None
        with self._lock:
            row = self._db.execute("SELECT * FROM jobs WHERE id=?", (job_id,)).fetchone()
        return _decode(row) if row else None

    def claim_next(self) -> dict[str, Any] | None:
        """The oldest queued job, now marked running; None if the queue is empty.

        The UPDATE re-checks the status and its row count is checked, so a job cancelled (or claimed)
        between the SELECT and the UPDATE is skipped rather than run twice."""
        with self._lock:
            while True:
                with self._db:
                    row = self._db.execute(
                        "SELECT id FROM jobs WHERE status=? ORDER BY qseq LIMIT 1", (Status.QUEUED,)
                    ).fetchone()
                    if row is None:
                        return None
                    if self._move(row["id"], Status.RUNNING, "started=?, error=NULL", (time.time(),)):
                        return _decode(
                            self._db.execute("SELECT * FROM jobs WHERE id=?", (row["id"],)).fetchone()
                        )

    def _move(self, job_id: str, new: Status, assignments: str, values: tuple) -> bool:
        """Set ``new`` (and ``assignments``, a fixed SQL clause) if the job is in a state allowed to move
        there (``queue.sources``); whether a row changed. Call inside a transaction."""
        cursor = self._db.execute(
            f"UPDATE jobs SET status=?, {assignments} WHERE id=? AND status IN {_sql_in(sources(new))}",
            (new, *values, job_id),
        )
        return cursor.rowcount == 1

    def finish(
        self,
        job_id: str,
        status: str,
        *,
        record: dict[str, Any] | None = None,
        history: list | None = None,
        error: str | None = None,
    ) -> bool:
        """End a running job in ``status``; False if it was not running (nothing changes then)."""
        new = check_transition(Status.RUNNING, status)
        with self._lock, self._db:
            return self._move(
                job_id,
                new,
                "finished=?, record=?, history=?, error=?",
                (
                    time.time(),
                    json.dumps(finite(record)) if record is not None else None,
                    json.dumps(finite(history)) if history is not None else None,
                    error,
                ),
            )

    def active(self) -> list[dict[str, Any]]:
        """Running job first, then the queue in order."""
        with self._lock:
            rows = self._db.execute(
                f"SELECT * FROM jobs WHERE status IN {ACTIVE_SQL} ORDER BY status='running' DESC, qseq"
            ).fetchall()
        return [_decode(row) for row in rows]

    def position(self, job_id: str) -> int | None:
        """How many runs are ahead of a queued job (the running one included); None if not queued."""
        with self._lock:
            row = self._db.execute("SELECT status, qseq FROM jobs WHERE id=?", (job_id,)).fetchone()
            if row is None or row["status"] != "queued":
                return None
            (ahead,) = self._db.execute(
                "SELECT COUNT(*) FROM jobs WHERE status='running' OR (status='queued' AND qseq < ?)",
                (row["qseq"],),
            ).fetchone()
        return ahead

    def gallery(self) -> list[dict[str, Any]]:
        """Every job that is not waiting or running, newest first."""
        with self._lock:
            rows = self._db.execute(
                f"SELECT * FROM jobs WHERE status NOT IN {ACTIVE_SQL} ORDER BY created DESC, seq DESC"
            ).fetchall()
        return [_decode(row) for row in rows]

    def cancel_queued(self, job_id: str) -> bool:
        """Drop a job that has not started yet (row and folder). False if it is not queued."""
        return self._remove(job_id, f"status = '{Status.QUEUED.value}'")

    def resume(self, job_id: str) -> bool:
        """Put an interrupted (or failed) job back at the end of the queue."""
        with self._lock, self._db:
            return self._move(
                job_id,
                Status.QUEUED,
                "qseq=(SELECT COALESCE(MAX(qseq), 0) + 1 FROM jobs),"
                " started=NULL, finished=NULL, record=NULL, history=NULL, error=NULL",
                (),
            )

    def delete(self, job_id: str) -> bool:
        """Remove a job that is not running, with its files."""
        return self._remove(job_id, f"status != '{Status.RUNNING.value}'")

    def _remove(self, job_id: str, condition: str) -> bool:
        """Delete the row of ``job_id`` if ``condition`` (a fixed SQL clause) holds, then its folder."""
        with self._lock, self._db:
            cursor = self._db.execute(f"DELETE FROM jobs WHERE id=? AND {condition}", (job_id,))
        if cursor.rowcount:
            shutil.rmtree(self.run_dir(job_id), ignore_errors=True)
        return bool(cursor.rowcount)


def _decode(row: sqlite3.Row) -> dict[str, Any]:
    data = dict(row)
    for key in ("inputs", "form", "record", "history"):
        if data.get(key):
            data[key] = json.loads(data[key])
    data["settings"] = json.loads(data["settings"])
    return data
