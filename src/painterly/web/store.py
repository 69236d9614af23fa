"""The web app's persistent state: a SQLite index (WAL mode) of jobs and uploads, files beside it.

Layout of the data folder (created 0700: it holds the user's photos)::

    .lock                   held (flock) by the one server using the folder
    painterly.db            jobs (queue and gallery) and uploads
    uploads/<sha256>.<ext>  validated uploads, named by content hash, shared by every job using them
    runs/<job id>/          settings.json, result.png, record.json
    runs/<job id>/inside/   the entry's "See inside" panels (``inside.save_panels``), once computed
    quarantine/<job id>-<t> run folders found without a database row and without a complete result

Jobs refer to their inputs (``upload:<sha>`` or ``sample:<name>``) instead of copying them; an upload no
job refers to is collected after a grace period. Files are only ever looked up through an id found in
the database, never by a path a client sent. A job is ``done`` only after its result image (written
atomically by ``Job.run``) and its record are on disk; job states move only as ``painterly.queue``
allows, by UPDATEs guarded by the state they leave.

A finished run's "See inside" panels are computed by the same queue: a row in ``insides`` (one per job,
the same life cycle) that the worker takes in turn with the runs, ordered by one ``qseq`` over both tables
(the ``queue`` view).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import math
import os
import re
import shutil
import sqlite3
import threading
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..errors import PainterlyError
from ..files import write_text_atomic
from ..queue import ACTIVE, Status, check_transition, recovered, sources
from ..settings import Settings, public_paths
from .limits import Limits

DB_NAME = "painterly.db"
LOCK_NAME = ".lock"
RESULT = "result.png"
RECORD = "record.json"
SETTINGS = "settings.json"
DEMO_SAMPLE = "astronaut"
UPLOAD_GRACE_SECONDS = 3600  # an upload no job uses yet is kept this long (the user is still choosing)
PANEL_MANIFEST = "panels.json"  # inside.MANIFEST (which imports torch; the store must not)
DISK_FULL = "the disk holding the data folder is full; free some space and try again"

_ID = re.compile(r"^[0-9a-f]{32}$")
_SHA = re.compile(r"^[0-9a-f]{64}$")
_STYLE_KEY = re.compile(r"^style-([0-9]{1,2})$")
_PANEL_FILE = re.compile(r"^panel-[0-9]{2,4}\.png$")

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
CREATE TABLE IF NOT EXISTS insides (
    job_id TEXT PRIMARY KEY,
    status TEXT NOT NULL,
    qseq INTEGER NOT NULL,
    created REAL NOT NULL,
    started REAL,
    finished REAL,
    client TEXT NOT NULL DEFAULT '',
    options TEXT NOT NULL,
    error TEXT
);
CREATE INDEX IF NOT EXISTS insides_status ON insides (status, qseq);
CREATE VIEW IF NOT EXISTS queue AS
    SELECT id, 'run' AS kind, status, qseq, client FROM jobs
    UNION ALL SELECT job_id, 'inside', status, qseq, client FROM insides;
CREATE TABLE IF NOT EXISTS uploads (
    sha TEXT PRIMARY KEY,
    file TEXT NOT NULL,
    name TEXT NOT NULL,
    width INTEGER NOT NULL,
    height INTEGER NOT NULL,
    created REAL NOT NULL
);
"""
# Every column but the loss history: what lists (gallery, queue) read.
_SUMMARY = "seq, id, status, qseq, created, started, finished, client, inputs, form, settings, preview_every, record, error"

_NEXT_QSEQ = "(SELECT COALESCE(MAX(qseq), 0) + 1 FROM queue)"  # after every run and See inside task
INSIDE = "inside"
RUN = "run"


class QueueFull(PainterlyError):
    """Too many jobs waiting (HTTP 429)."""


def _sql_in(states: frozenset[Status]) -> str:
    """A SQL list literal of fixed Status values (never client text), e.g. ``('queued','running')``."""
    return "(" + ",".join(f"'{state.value}'" for state in sorted(states)) + ")"


ACTIVE_SQL = _sql_in(ACTIVE)


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


def samples() -> dict[str, Path]:
    """The inputs every page may use by name: the demo photo and the built-in paintings."""
    from ..images import builtin_styles, demo_content

    return {DEMO_SAMPLE: demo_content(), **builtin_styles()}


def public_settings(settings: dict[str, Any], job_id: str) -> dict[str, Any]:
    """Settings as a visitor may see them: the job's input references instead of server paths (which
    name the data folder, the home folder and upload hashes), and only the file name of other paths
    (``settings.public_paths``: every field not declared public)."""
    styles = settings.get("styles") or []
    return {
        **public_paths(settings),
        "content": f"job:{job_id}:content",
        "styles": [f"job:{job_id}:style-{i}" for i in range(len(styles))],
    }


def public_name(job_id: str) -> str:
    """The file name a visitor downloads a result under."""
    return f"painterly-{job_id[:8]}.png"


def public_record(record: dict[str, Any], job_id: str) -> dict[str, Any]:
    """A run's record as a visitor may see it (a download, the metadata inside result.png)."""
    return {**record, "settings": public_settings(record["settings"], job_id), "output": public_name(job_id)}


class Store:
    """Thread-safe access to the data folder, which it locks against a second server."""

    def __init__(self, root: str | os.PathLike) -> None:
        self.root = Path(root).expanduser()
        self.runs = self.root / "runs"
        self.uploads = self.root / "uploads"
        self.quarantine = self.root / "quarantine"
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
        for folder in (self.runs, self.uploads):
            folder.mkdir(exist_ok=True, mode=0o700)
        self._lock_fd = _lock_folder(self.root)
        self._lock = threading.RLock()
        try:
            self._db = sqlite3.connect(self.root / DB_NAME, check_same_thread=False)
            self._db.row_factory = sqlite3.Row
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute("PRAGMA busy_timeout=5000")
            self._db.executescript(_SCHEMA)
        except BaseException:
            os.close(self._lock_fd)
            raise

    def close(self) -> None:
        with self._lock:
            self._db.close()
            os.close(self._lock_fd)  # releases the folder lock

    # --- paths ---------------------------------------------------------------------------------

    def run_dir(self, job_id: str) -> Path:
        if not valid_id(job_id):
            raise ValueError(f"bad job id {job_id!r}")
        return self.runs / job_id

    def result_path(self, job_id: str) -> Path:
        return self.run_dir(job_id) / RESULT

    def inside_dir(self, job_id: str) -> Path:
        return self.run_dir(job_id) / INSIDE

    # --- start-up (used by ``recovery``) --------------------------------------------------------

    def interrupt_active(self) -> int:
        """Jobs running when the server stopped become interrupted; queued ones wait for the worker
        (``queue.recovered``)."""
        moved = 0
        with self._lock, self._db:
            for state in (s for s in ACTIVE if recovered(s) != s):
                for table in ("jobs", "insides"):
                    cursor = self._db.execute(
                        f"UPDATE {table} SET status=?, error=? WHERE status=?",
                        (recovered(state), "the server stopped before this run finished", state),
                    )
                    moved += cursor.rowcount
        return moved

    def ids(self, states: frozenset[Status] | None = None) -> set[str]:
        """Ids of every job, or of those in ``states``."""
        where = f" WHERE status IN {_sql_in(states)}" if states else ""
        with self._lock:
            return {row["id"] for row in self._db.execute(f"SELECT id FROM jobs{where}")}

    def mark_broken(self, job_id: str) -> bool:
        """A finished job whose result turned out missing or damaged becomes failed."""
        with self._lock, self._db:
            return self._move(
                job_id, Status.FAILED, "record=NULL, error=?", ("the result file is missing or damaged",)
            )

    def add_finished(
        self,
        job_id: str,
        status: Status,
        *,
        created: float,
        inputs: dict,
        form: dict,
        settings: Settings,
        record: dict,
    ) -> None:
        """Index a finished run found on disk without a row (``recovery``)."""
        with self._lock, self._db:
            self._db.execute(
                "INSERT INTO jobs (id, status, qseq, created, finished, inputs, form, settings, record)"
                " VALUES (?, ?, 0, ?, ?, ?, ?, ?, ?)",
                (
                    job_id,
                    check_transition(Status.RUNNING, status),
                    created,
                    created,
                    json.dumps(inputs),
                    json.dumps(form),
                    settings.to_json(),
                    json.dumps(finite(record)),
                ),
            )

    def upload_shas(self) -> set[str]:
        with self._lock:
            return {row["sha"] for row in self._db.execute("SELECT sha FROM uploads")}

    # --- uploads -------------------------------------------------------------------------------

    def add_upload(
        self, sha: str, file: str, name: str, width: int, height: int, source: Path | None = None
    ) -> None:
        """Index an upload, first moving its checked file from ``source`` into place if given: both
        under the lock, so ``collect_uploads`` never deletes a file between the move and the row."""
        with self._lock, self._db:
            if source is not None:
                os.replace(source, self.uploads / file)
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

    def upload_bytes(self) -> int:
        """Bytes in the uploads folder, uploads still being received included."""
        total = 0
        with os.scandir(self.uploads) as entries:
            for entry in entries:
                with contextlib.suppress(FileNotFoundError):  # a temporary file, gone meanwhile
                    total += entry.stat().st_size if entry.is_file() else 0
        return total

    def collect_uploads(self, grace: float = UPLOAD_GRACE_SECONDS) -> int:
        """Delete uploads older than ``grace`` seconds that no job refers to; return how many."""
        with self._lock, self._db:
            rows = self._db.execute(
                "SELECT sha, file FROM uploads WHERE created < ? AND NOT EXISTS"
                " (SELECT 1 FROM jobs WHERE instr(jobs.inputs, 'upload:' || uploads.sha) > 0)",
                (time.time() - grace,),
            ).fetchall()
            self._db.executemany("DELETE FROM uploads WHERE sha=?", [(row["sha"],) for row in rows])
            for row in rows:  # under the lock: an upload of the same file waits (``add_upload``)
                (self.uploads / row["file"]).unlink(missing_ok=True)
        return len(rows)

    # --- inputs --------------------------------------------------------------------------------

    def resolve(self, ref: Any) -> dict[str, Any]:
        """The input item ({ref, label} or a legacy {job, file, label}) that a reference names.

        ``upload:<sha>``, ``sample:<name>`` or ``job:<id>:content`` / ``job:<id>:style-<i>`` (the
        input of an earlier job). PainterlyError if it names nothing known."""
        if not isinstance(ref, str):
            raise PainterlyError("inputs must be references (upload:..., sample:..., job:...)")
        kind, _, rest = ref.partition(":")
        item: dict[str, Any] | None = None
        if kind == "upload" and (info := self.upload(rest)):
            item = {"ref": ref, "label": info["name"] or "upload"}
        elif kind == "sample" and rest in samples():
            item = {"ref": ref, "label": rest}
        elif kind == "job":
            job_id, _, key = rest.partition(":")
            job = self.get(job_id)
            found = self.job_input(job, key) if job else None
            if found is not None:
                item = {k: v for k, v in found.items() if k != "weight"}
                if "file" in item:
                    item.setdefault("job", job_id)
        if item is None or self.input_path(item) is None:
            raise PainterlyError(f"unknown or deleted input {str(ref)[:100]!r}; upload the image again")
        return item

    @staticmethod
    def job_input(job: dict[str, Any], key: str) -> dict[str, Any] | None:
        """A job's input item by its key, ``content`` or ``style-<i>``; None for any other key."""
        inputs = job["inputs"]
        if key == "content":
            return inputs["content"]
        match = _STYLE_KEY.match(key)
        if match and int(match[1]) < len(inputs["styles"]):
            return inputs["styles"][int(match[1])]
        return None

    def input_path(self, item: dict[str, Any], job_id: str = "") -> Path | None:
        """The file of an input item, or None if it is gone (or was never kept)."""
        kind, _, rest = str(item.get("ref", "")).partition(":")
        if kind == "upload":
            info = self.upload(rest)
            return info["path"] if info else None
        if kind == "sample":
            return samples().get(rest)
        owner = item.get("job", job_id)
        if "file" in item and valid_id(owner) and "/" not in item["file"]:
            path = self.run_dir(owner) / item["file"]
            return path if path.is_file() else None
        return None

    def run_settings(self, job: dict[str, Any]) -> Settings:
        """The job's settings with its inputs' current files; PainterlyError if one was deleted."""
        return self._with_inputs(Settings.from_dict(job["settings"]), job["inputs"], job["id"])

    def _with_inputs(self, settings: Settings, inputs: dict[str, Any], job_id: str = "") -> Settings:
        def path(item: dict[str, Any]) -> str:
            found = self.input_path(item, job_id)
            if found is None:
                raise PainterlyError(f"input {item.get('label', '')!r} was deleted; upload the image again")
            return str(found)

        return settings.with_(
            content=path(inputs["content"]), styles=tuple(path(s) for s in inputs["styles"])
        )

    # --- jobs ----------------------------------------------------------------------------------

    @staticmethod
    def new_id() -> str:
        return uuid.uuid4().hex

    def create_job(
        self,
        content: Any,
        styles: Sequence[Any],
        blend: Sequence[float],
        form: dict[str, Any],
        *,
        preview_every: int,
        client: str,
        limits: Limits,
    ) -> str:
        """Validate a submission, queue it and return its id; PainterlyError (QueueFull) if it cannot be.
        ``client`` is the address the request came from: the per-client queue cap counts by it.

        Inputs are references resolved here; nothing is written before everything is valid."""
        items = [self.resolve(content), *(self.resolve(ref) for ref in styles)]
        weights = list(blend) or [1.0] * len(styles)
        inputs = {
            "content": items[0],
            "styles": [{**item, "weight": w} for item, w in zip(items[1:], weights, strict=True)],
        }
        settings = self._with_inputs(Settings(style_blend=tuple(blend), **form), inputs).validated()
        limits.check_run(settings)
        job_id = self.new_id()
        folder = self.run_dir(job_id)
        folder.mkdir(mode=0o700)
        try:
            write_text_atomic(folder / SETTINGS, settings.to_json())
            with self._lock, self._db:
                self._check_queue(client, limits.queued, limits.queued_per_client)
                self._db.execute(
                    "INSERT INTO jobs (id, status, qseq, created, client, inputs, form, settings, preview_every)"
                    f" VALUES (?, ?, {_NEXT_QSEQ}, ?, ?, ?, ?, ?, ?)",
                    (
                        job_id,
                        Status.QUEUED,
                        time.time(),
                        client,
                        json.dumps(inputs),
                        json.dumps(form),
                        settings.to_json(),
                        preview_every,
                    ),
                )
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        return job_id

    def _check_queue(self, client: str, max_queued: int, max_per_client: int) -> None:
        (total,) = self._db.execute(f"SELECT COUNT(*) FROM queue WHERE status IN {ACTIVE_SQL}").fetchone()
        if total >= max_queued:
            raise QueueFull(f"the queue is full ({total} runs waiting); try again when some have finished")
        (mine,) = self._db.execute(
            f"SELECT COUNT(*) FROM queue WHERE status IN {ACTIVE_SQL} AND client=?", (client,)
        ).fetchone()
        if mine >= max_per_client:
            raise QueueFull(f"you have {mine} runs waiting, the most allowed; wait for one to finish")

    def get(self, job_id: str) -> dict[str, Any] | None:
        if not valid_id(job_id):
            return None
        with self._lock:
            row = self._db.execute("SELECT * FROM jobs WHERE id=?", (job_id,)).fetchone()
        return _decode(row) if row else None

    def claim_next(self) -> dict[str, Any] | None:
        """The oldest queued run or See inside task, now marked running; None if the queue is empty.

        A run comes back as its job (``kind`` "run"); a See inside task as ``{"kind": "inside", "id",
        "options", "job"}``, ``job`` being the finished run it explains. The UPDATE re-checks the status
        and its row count is checked, so a task cancelled (or claimed) between the SELECT and the UPDATE
        is skipped rather than run twice."""
        with self._lock:
            while True:
                with self._db:
                    row = self._db.execute(
                        "SELECT id, kind FROM queue WHERE status=? ORDER BY qseq LIMIT 1", (Status.QUEUED,)
                    ).fetchone()
                    if row is None:
                        return None
                    job_id, started = row["id"], (time.time(),)
                    if row["kind"] == RUN:
                        if self._move(job_id, Status.RUNNING, "started=?, error=NULL", started):
                            job = self._db.execute("SELECT * FROM jobs WHERE id=?", (job_id,)).fetchone()
                            return {**_decode(job), "kind": RUN}
                    elif self._move_inside(job_id, Status.RUNNING, "started=?, error=NULL", started):
                        task = self._db.execute("SELECT options FROM insides WHERE job_id=?", (job_id,))
                        job = self._db.execute("SELECT * FROM jobs WHERE id=?", (job_id,)).fetchone()
                        options = json.loads(task.fetchone()["options"])
                        return {"kind": INSIDE, "id": job_id, "options": options, "job": _decode(job)}

    def _move(self, job_id: str, new: Status, assignments: str, values: tuple, table: str = "jobs") -> bool:
        """Set ``new`` (and ``assignments``, a fixed SQL clause) if the job is in a state allowed to move
        there (``queue.sources``); whether a row changed. Call inside a transaction."""
        key = "job_id" if table == "insides" else "id"
        cursor = self._db.execute(
            f"UPDATE {table} SET status=?, {assignments} WHERE {key}=? AND status IN {_sql_in(sources(new))}",
            (new, *values, job_id),
        )
        return cursor.rowcount == 1

    def _move_inside(self, job_id: str, new: Status, assignments: str, values: tuple) -> bool:
        return self._move(job_id, new, assignments, values, table="insides")

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
        """Running task first, then the queue in order: id, kind ("run" or "inside"), status, client."""
        with self._lock:
            rows = self._db.execute(
                f"SELECT id, kind, status, client FROM queue WHERE status IN {ACTIVE_SQL}"
                " ORDER BY status='running' DESC, qseq"
            ).fetchall()
        return [dict(row) for row in rows]

    def position(self, job_id: str, kind: str = RUN) -> int | None:
        """How many tasks are ahead of a queued one (the running one included); None if not queued."""
        with self._lock:
            row = self._db.execute(
                "SELECT status, qseq FROM queue WHERE id=? AND kind=?", (job_id, kind)
            ).fetchone()
            if row is None or row["status"] != Status.QUEUED:
                return None
            (ahead,) = self._db.execute(
                "SELECT COUNT(*) FROM queue WHERE status=? OR (status=? AND qseq < ?)",
                (Status.RUNNING, Status.QUEUED, row["qseq"]),
            ).fetchone()
        return ahead

    def gallery(self, limit: int, before: int | None = None) -> list[dict[str, Any]]:
        """Up to ``limit`` jobs that are not waiting or running, newest first, older than the job with
        sequence number ``before``; without their loss history (a page shows many)."""
        with self._lock:
            rows = self._db.execute(
                f"SELECT {_SUMMARY} FROM jobs WHERE status NOT IN {ACTIVE_SQL} AND seq < ?"
                " ORDER BY seq DESC LIMIT ?",
                (before if before is not None else 2**62, limit),
            ).fetchall()
        return [_decode(row) for row in rows]

    def cancel_queued(self, job_id: str) -> bool:
        """Drop a job that has not started yet (row and folder). False if it is not queued."""
        return self._remove(job_id, f"status = '{Status.QUEUED.value}'")

    def resume(self, job_id: str) -> bool:
        """Put an interrupted (or failed) job back at the end of the queue, dropping its partial result."""
        with self._lock, self._db:
            moved = self._move(
                job_id,
                Status.QUEUED,
                f"qseq={_NEXT_QSEQ}, started=NULL, finished=NULL, record=NULL, history=NULL, error=NULL",
                (),
            )
        if moved:  # the index says "no result": so must the folder, or the new run would keep it
            for name in (RESULT, RECORD):
                (self.run_dir(job_id) / name).unlink(missing_ok=True)
        return moved

    def delete(self, job_id: str) -> bool:
        """Remove a job that is not running, and whose See inside panels are not being computed, with its
        files (the panels included)."""
        return self._remove(
            job_id,
            f"status != '{Status.RUNNING.value}' AND NOT EXISTS"
            f" (SELECT 1 FROM insides WHERE job_id=jobs.id AND status = '{Status.RUNNING.value}')",
        )

    def _remove(self, job_id: str, condition: str) -> bool:
        """Delete the row of ``job_id`` if ``condition`` (a fixed SQL clause) holds, then its folder."""
        with self._lock, self._db:
            cursor = self._db.execute(f"DELETE FROM jobs WHERE id=? AND {condition}", (job_id,))
            if cursor.rowcount:
                self._db.execute("DELETE FROM insides WHERE job_id=?", (job_id,))
        if cursor.rowcount:
            shutil.rmtree(self.run_dir(job_id), ignore_errors=True)
            self.collect_uploads()
        return bool(cursor.rowcount)

    # --- See inside ----------------------------------------------------------------------------

    def inside(self, job_id: str) -> dict[str, Any] | None:
        """The See inside task of a job (status, options, times, error), or None if never asked for."""
        if not valid_id(job_id):
            return None
        with self._lock:
            row = self._db.execute("SELECT * FROM insides WHERE job_id=?", (job_id,)).fetchone()
        return {**dict(row), "options": json.loads(row["options"])} if row else None

    def request_inside(
        self,
        job_id: str,
        options: dict[str, Any],
        *,
        client: str,
        max_queued: int,
        max_queued_per_client: int,
    ) -> bool | None:
        """Queue the See inside panels of a done job unless they are cached or on their way.

        True if a task was queued, False if there was nothing to do, None if the job is not done (or
        unknown). A failed, interrupted or cancelled task, or a done one whose files are gone, starts
        afresh; QueueFull as for runs."""
        if not valid_id(job_id):
            return None
        folder = self.inside_dir(job_id)
        with self._lock, self._db:
            job = self._db.execute("SELECT status FROM jobs WHERE id=?", (job_id,)).fetchone()
            if job is None or job["status"] != Status.DONE:
                return None
            task = self._db.execute("SELECT status FROM insides WHERE job_id=?", (job_id,)).fetchone()
            if task and (task["status"] in ACTIVE or self.inside_panels(job_id) is not None):
                return False
            self._check_queue(client, max_queued, max_queued_per_client)
            shutil.rmtree(folder, ignore_errors=True)  # a stale or partial cache
            self._db.execute(
                "INSERT OR REPLACE INTO insides (job_id, status, qseq, created, client, options)"
                f" VALUES (?, ?, {_NEXT_QSEQ}, ?, ?, ?)",
                (job_id, Status.QUEUED, time.time(), client, json.dumps(options)),
            )
        return True

    def finish_inside(self, job_id: str, status: str, *, error: str | None = None) -> bool:
        """End a running See inside task in ``status``; False if it was not running."""
        new = check_transition(Status.RUNNING, status)
        with self._lock, self._db:
            return self._move_inside(job_id, new, "finished=?, error=?", (time.time(), error))

    def cancel_queued_inside(self, job_id: str) -> bool:
        """Drop a See inside task that has not started yet. False if it is not queued."""
        with self._lock, self._db:
            cursor = self._db.execute(
                "DELETE FROM insides WHERE job_id=? AND status=?", (job_id, Status.QUEUED)
            )
        return bool(cursor.rowcount)

    def inside_panels(self, job_id: str) -> list[dict[str, str]] | None:
        """The cached panels' titles, captions, rows and files (names in the job's ``inside/``), as
        ``inside.save_panels`` listed them; None if there are none or the cache is damaged."""
        if not valid_id(job_id):
            return None
        folder = self.inside_dir(job_id)
        try:
            entries = json.loads((folder / PANEL_MANIFEST).read_text())
            panels = [
                {key: str(entry[key]) for key in ("title", "caption", "row", "file")} for entry in entries
            ]
        except (OSError, ValueError, KeyError, TypeError):
            return None
        ok = all(_PANEL_FILE.match(p["file"]) and (folder / p["file"]).is_file() for p in panels)
        return panels if ok else None


def _lock_folder(root: Path) -> int:
    """An exclusive lock on ``root`` for this process's lifetime (the kernel drops it if we die)."""
    fd = os.open(root / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise PainterlyError(f"data folder {root} is in use by another painterly server") from None
    return fd


def _decode(row: sqlite3.Row) -> dict[str, Any]:
    data = dict(row)
    for key in ("inputs", "form", "record", "history"):
        if data.get(key):
            data[key] = json.loads(data[key])
    data.setdefault("history", None)
    data["settings"] = json.loads(data["settings"])
    return data
