"""See inside tasks: a finished run's panels (``painterly explain``), computed by the queue, cached.

One ``insides`` row per job, the life cycle of a run (``painterly.queue``), in line with the runs through
the ``queue`` view (``Jobs.claim_next`` takes both). The panels go to the run's ``inside/`` folder
(``Results.inside_panels`` reads them) and are deleted with the job.
"""

from __future__ import annotations

import json
import shutil
import time
from typing import Any

from ..queue import ACTIVE, Status, check_transition
from .jobstore import check_queue
from .results import Results
from .schema import NEXT_QSEQ, Database, valid_id


class Insides:
    """The See inside tasks of the gallery's runs."""

    def __init__(self, db: Database, results: Results) -> None:
        self.db, self.results = db, results

    def get(self, job_id: str) -> dict[str, Any] | None:
        """The See inside task of a job (status, options, times, error), or None if never asked for."""
        row = self.db.row("SELECT * FROM insides WHERE job_id=?", (job_id,)) if valid_id(job_id) else None
        return {**dict(row), "options": json.loads(row["options"])} if row else None

    def request(
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
        with self.db.transaction() as db:
            job = db.execute("SELECT status FROM jobs WHERE id=?", (job_id,)).fetchone()
            if job is None or job["status"] != Status.DONE:
                return None
            task = db.execute("SELECT status FROM insides WHERE job_id=?", (job_id,)).fetchone()
            if task and (task["status"] in ACTIVE or self.results.inside_panels(job_id) is not None):
                return False
            check_queue(db, client, max_queued, max_queued_per_client)
            shutil.rmtree(self.results.inside_dir(job_id), ignore_errors=True)  # a stale or partial cache
            db.execute(
                "INSERT OR REPLACE INTO insides (job_id, status, qseq, created, client, options)"
                f" VALUES (?, ?, {NEXT_QSEQ}, ?, ?, ?)",
                (job_id, Status.QUEUED, time.time(), client, json.dumps(options)),
            )
        return True

    def finish(self, job_id: str, status: str, *, error: str | None = None) -> bool:
        """End a running See inside task in ``status``; False if it was not running."""
        new = check_transition(Status.RUNNING, status)
        with self.db.transaction():
            return self.db.move(job_id, new, "finished=?, error=?", (time.time(), error), table="insides")

    def cancel_queued(self, job_id: str) -> bool:
        """Drop a See inside task that has not started yet. False if it is not queued."""
        with self.db.transaction() as db:
            cursor = db.execute("DELETE FROM insides WHERE job_id=? AND status=?", (job_id, Status.QUEUED))
        return bool(cursor.rowcount)
