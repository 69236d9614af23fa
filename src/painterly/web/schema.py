"""The SQLite index of the data folder: its tables, their migrations, and the one connection to it.

Tables: ``jobs`` (a run: the queue and the gallery), ``insides`` (a finished run's See inside task, one
per job, the same life cycle), ``uploads`` (validated files by content hash). The ``queue`` view orders
both kinds of task by one ``qseq``. States move only as ``painterly.queue`` allows: ``Database.move`` is
the one UPDATE that changes a task's state, guarded by the states it may leave.

Migrations: ``MIGRATIONS[i]`` brings a database at ``PRAGMA user_version`` i to i + 1, in a transaction;
a change to the schema is a new entry at the end, never an edit of an old one. Version 1 is written with
IF NOT EXISTS so that it also completes the unversioned databases of painterly 0.2.1 and earlier; a
database at a version past the list (a later painterly's) is refused, never opened.
"""

from __future__ import annotations

import contextlib
import re
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..errors import PainterlyError
from ..queue import ACTIVE, Status, sources
from ..version import painterly_version

DB_NAME = "painterly.db"
RUN = "run"  # the kinds of task in the ``queue`` view
INSIDE = "inside"

# The columns of a queued task, run or See inside (the ``queue`` view reads them). Part of version 1 as
# it stands: a later schema change is a new migration, never an edit here.
_TASK_COLUMNS = """    status TEXT NOT NULL,
    qseq INTEGER NOT NULL,
    created REAL NOT NULL,
    started REAL,
    finished REAL,
    client TEXT NOT NULL DEFAULT '',
"""
_VERSION_1 = f"""
CREATE TABLE IF NOT EXISTS jobs (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
{_TASK_COLUMNS}    inputs TEXT NOT NULL,
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
{_TASK_COLUMNS}    options TEXT NOT NULL,
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
MIGRATIONS: tuple[str, ...] = (_VERSION_1,)

NEXT_QSEQ = "(SELECT COALESCE(MAX(qseq), 0) + 1 FROM queue)"  # after every run and See inside task
_KEYS = {"jobs": "id", "insides": "job_id"}
_ID = re.compile(r"^[0-9a-f]{32}$")
_SHA = re.compile(r"^[0-9a-f]{64}$")


def valid_id(job_id: str) -> bool:
    """Whether ``job_id`` has the form of a job's key (and so of its run folder's name)."""
    return bool(_ID.match(job_id))


def valid_sha(sha: str) -> bool:
    """Whether ``sha`` has the form of an upload's key (a SHA-256 in hex)."""
    return bool(_SHA.match(sha))


def sql_in(states: frozenset[Status]) -> str:
    """A SQL list literal of fixed Status values (never client text), e.g. ``('queued','running')``."""
    return "(" + ",".join(f"'{state.value}'" for state in sorted(states)) + ")"


ACTIVE_SQL = sql_in(ACTIVE)


def migrate(db: sqlite3.Connection, path: Path) -> None:
    """Apply every migration the database has not had yet, each with its new version, atomically.
    PainterlyError for a database of a later painterly: what this version writes (recovery's bulk moves
    among them) would run on a schema it does not know."""
    (version,) = db.execute("PRAGMA user_version").fetchone()
    if version > len(MIGRATIONS):
        raise PainterlyError(
            f"{path} was written by a newer painterly (database version {version}; painterly "
            f"{painterly_version()} reads up to {len(MIGRATIONS)}): upgrade painterly or use another "
            "data folder"
        )
    for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
        db.executescript(f"BEGIN; {script} PRAGMA user_version = {number}; COMMIT;")


class Database:
    """The one connection (WAL mode), shared by the store's parts and threads behind one re-entrant
    lock: whatever reads then writes holds it throughout (``transaction``)."""

    def __init__(self, path: Path) -> None:
        self.lock = threading.RLock()
        self.conn = sqlite3.connect(path, check_same_thread=False)
        try:
            self.conn.row_factory = sqlite3.Row
            self.conn.execute("PRAGMA journal_mode=WAL")
            self.conn.execute("PRAGMA synchronous=NORMAL")
            self.conn.execute("PRAGMA busy_timeout=5000")
            migrate(self.conn, path)
        except BaseException:
            self.conn.close()
            raise

    def close(self) -> None:
        with self.lock:
            self.conn.close()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """The connection, locked, inside a transaction committed on leaving (rolled back on error)."""
        with self.lock, self.conn:
            yield self.conn

    def rows(self, sql: str, params: tuple = ()) -> list[sqlite3.Row]:
        """Every row a query answers (one read, under the lock)."""
        with self.lock:
            return self.conn.execute(sql, params).fetchall()

    def row(self, sql: str, params: tuple = ()) -> sqlite3.Row | None:
        with self.lock:
            return self.conn.execute(sql, params).fetchone()

    def move(
        self, task_id: str, new: Status, assignments: str, values: tuple[Any, ...], table: str = "jobs"
    ) -> bool:
        """Set ``new`` (and ``assignments``, a fixed SQL clause) if the task is in a state allowed to move
        there (``queue.sources``); whether a row changed. Call inside a transaction."""
        cursor = self.conn.execute(
            f"UPDATE {table} SET status=?, {assignments} WHERE {_KEYS[table]}=? AND status IN {sql_in(sources(new))}",
            (new, *values, task_id),
        )
        return cursor.rowcount == 1
