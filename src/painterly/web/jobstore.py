"""The web queue and gallery: rows of ``jobs`` moved through ``painterly.queue``'s life cycle.

A job is ``done`` only after its result image and its record are on disk (the worker writes them before
``finish``). ``claim_next`` takes the oldest task of the ``queue`` view, a run or a See inside task
(``insides``), so both kinds wait in one line and count against the same caps.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import time
import uuid
from typing import Any

from ..errors import PainterlyError
from ..files import write_text_atomic
from ..queue import Status, check_transition
from ..settings import Settings
from .limits import Limits
from .results import SETTINGS, Results, finite
from .schema import ACTIVE_SQL, INSIDE, NEXT_QSEQ, RUN, Database, sql_in, valid_id
from .uploads import Uploads

# Every column but the loss history: what lists (gallery, queue) read.
_SUMMARY = "seq, id, status, qseq, created, started, finished, client, inputs, form, settings, preview_every, record, error"


class QueueFull(PainterlyError):
    """Too many jobs waiting (HTTP 429)."""


def check_queue(db: sqlite3.Connection, client: str, max_queued: int, max_per_client: int) -> None:
    """QueueFull if the queue, or ``client``'s share of it, is at its cap. Call inside a transaction."""
    (total,) = db.execute(f"SELECT COUNT(*) FROM queue WHERE status IN {ACTIVE_SQL}").fetchone()
    if total >= max_queued:
        raise QueueFull(f"the queue is full ({total} runs waiting); try again when some have finished")
    (mine,) = db.execute(
        f"SELECT COUNT(*) FROM queue WHERE status IN {ACTIVE_SQL} AND client=?", (client,)
    ).fetchone()
    if mine >= max_per_client:
        raise QueueFull(f"you have {mine} runs waiting, the most allowed; wait for one to finish")


def decode(row: sqlite3.Row) -> dict[str, Any]:
    """A job row as a dict, its JSON columns parsed (``history`` None when not read)."""
    data = dict(row)
    for key in ("inputs", "form", "record", "history"):
        if data.get(key):
            data[key] = json.loads(data[key])
    data.setdefault("history", None)
    data["settings"] = json.loads(data["settings"])
    return data


class Jobs:
    """The runs: queued, claimed, finished, resumed and deleted, each move guarded by the state it leaves."""

    def __init__(self, db: Database, results: Results, uploads: Uploads) -> None:
        self.db, self.results, self.uploads = db, results, uploads

    def create(
        self,
        inputs: dict[str, Any],
        form: dict[str, Any],
        settings: Settings,
        *,
        preview_every: int,
        client: str,
        limits: Limits,
    ) -> str:
        """Queue a run of validated ``settings`` and return its id; PainterlyError (QueueFull) if it cannot
        be. ``client`` is the address the request came from: the per-client queue cap counts by it."""
        limits.check_run(settings)
        job_id = uuid.uuid4().hex
        folder = self.results.run_dir(job_id)
        folder.mkdir(mode=0o700)
        try:
            write_text_atomic(folder / SETTINGS, settings.to_json())
            with self.db.transaction() as db:
                check_queue(db, client, limits.queued, limits.queued_per_client)
                db.execute(
                    "INSERT INTO jobs (id, status, qseq, created, client, inputs, form, settings, preview_every)"
                    f" VALUES (?, ?, {NEXT_QSEQ}, ?, ?, ?, ?, ?, ?)",
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

    def get(self, job_id: str) -> dict[str, Any] | None:
        row = self.db.row("SELECT * FROM jobs WHERE id=?", (job_id,)) if valid_id(job_id) else None
        return decode(row) if row else None

    def ids(self, states: frozenset[Status] | None = None) -> set[str]:
        """Ids of every job, or of those in ``states``."""
        where = f" WHERE status IN {sql_in(states)}" if states else ""
        return {row["id"] for row in self.db.rows(f"SELECT id FROM jobs{where}")}

    def claim_next(self) -> dict[str, Any] | None:
        """The oldest queued run or See inside task, now marked running; None if the queue is empty.

        A run comes back as its job (``kind`` "run"); a See inside task as ``{"kind": "inside", "id",
        "options", "job"}``, ``job`` being the finished run it explains. The UPDATE re-checks the status
        and its row count is checked, so a task cancelled (or claimed) between the SELECT and the UPDATE
        is skipped rather than run twice."""
        with self.db.lock:
            while True:
                with self.db.transaction() as db:
                    row = db.execute(
                        "SELECT id, kind FROM queue WHERE status=? ORDER BY qseq LIMIT 1", (Status.QUEUED,)
                    ).fetchone()
                    if row is None:
                        return None
                    job_id, table = row["id"], "jobs" if row["kind"] == RUN else "insides"
                    if self.db.move(job_id, Status.RUNNING, "started=?, error=NULL", (time.time(),), table):
                        return self._claimed(db, job_id, row["kind"])

    @staticmethod
    def _claimed(db: sqlite3.Connection, job_id: str, kind: str) -> dict[str, Any]:
        job = decode(db.execute("SELECT * FROM jobs WHERE id=?", (job_id,)).fetchone())
        if kind == RUN:
            return {**job, "kind": RUN}
        task = db.execute("SELECT options FROM insides WHERE job_id=?", (job_id,)).fetchone()
        return {"kind": INSIDE, "id": job_id, "options": json.loads(task["options"]), "job": job}

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
        values = (
            time.time(),
            json.dumps(finite(record)) if record is not None else None,
            json.dumps(finite(history)) if history is not None else None,
            error,
        )
        with self.db.transaction():
            return self.db.move(job_id, new, "finished=?, record=?, history=?, error=?", values)

    def mark_broken(self, job_id: str) -> bool:
        """A finished job whose result turned out missing or damaged becomes failed (``recovery``)."""
        with self.db.transaction():
            return self.db.move(
                job_id, Status.FAILED, "record=NULL, error=?", ("the result file is missing or damaged",)
            )

    def active(self) -> list[dict[str, Any]]:
        """Running task first, then the queue in order: id, kind ("run" or "inside"), status, client."""
        rows = self.db.rows(
            f"SELECT id, kind, status, client FROM queue WHERE status IN {ACTIVE_SQL}"
            " ORDER BY status='running' DESC, qseq"
        )
        return [dict(row) for row in rows]

    def position(self, job_id: str, kind: str = RUN) -> int | None:
        """How many tasks are ahead of a queued one (the running one included); None if not queued."""
        with self.db.lock:
            row = self.db.row("SELECT status, qseq FROM queue WHERE id=? AND kind=?", (job_id, kind))
            if row is None or row["status"] != Status.QUEUED:
                return None
            (ahead,) = self.db.row(
                "SELECT COUNT(*) FROM queue WHERE status=? OR (status=? AND qseq < ?)",
                (Status.RUNNING, Status.QUEUED, row["qseq"]),
            )
        return ahead

    def gallery(self, limit: int, before: int | None = None) -> list[dict[str, Any]]:
        """Up to ``limit`` jobs that are not waiting or running, newest first, older than the job with
        sequence number ``before``; without their loss history (a page shows many)."""
        rows = self.db.rows(
            f"SELECT {_SUMMARY} FROM jobs WHERE status NOT IN {ACTIVE_SQL} AND seq < ?"
            " ORDER BY seq DESC LIMIT ?",
            (before if before is not None else 2**62, limit),
        )
        return [decode(row) for row in rows]

    def cancel_queued(self, job_id: str) -> bool:
        """Drop a job that has not started yet (row and folder). False if it is not queued."""
        return self._remove(job_id, f"status = '{Status.QUEUED.value}'")

    def resume(self, job_id: str, *, in_place: bool = False) -> bool:
        """Put an interrupted (or failed) job back in the queue, dropping its partial result: at the
        end, or ``in_place`` (before the tasks queued after it: a run the server's stop cut off)."""
        place = "qseq" if in_place else NEXT_QSEQ
        with self.db.transaction():
            moved = self.db.move(
                job_id,
                Status.QUEUED,
                f"qseq={place}, started=NULL, finished=NULL, record=NULL, history=NULL, error=NULL",
                (),
            )
        if moved:  # the index says "no result": so must the folder, or the new run would keep it
            self.results.drop_result(job_id)
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
        with self.db.transaction() as db:
            cursor = db.execute(f"DELETE FROM jobs WHERE id=? AND {condition}", (job_id,))
            if cursor.rowcount:
                db.execute("DELETE FROM insides WHERE job_id=?", (job_id,))
        if cursor.rowcount:
            shutil.rmtree(self.results.run_dir(job_id), ignore_errors=True)
            self.uploads.collect()
        return bool(cursor.rowcount)
