"""The web app's persistent state: the data folder, its SQLite index and the parts that keep each thing.

Layout of the data folder (created 0700: it holds the user's photos)::

    .lock                   held (flock) by the one server using the folder
    painterly.db            the index: jobs (queue and gallery), See inside tasks, uploads (``schema``)
    uploads/<sha256>.<ext>  validated uploads, named by content hash (``uploads.Uploads``)
    runs/<job id>/          settings.json, result.png, record.json, inside/ (``results.Results``)
    quarantine/<job id>-<t> run folders found without a database row and without a complete result;
                            ``<job id>-<t>.record.json``: a known run's record that no longer parsed

``Store`` opens the folder and hands out its parts, which share one ``schema.Database``: ``jobs`` (runs,
``jobstore``), ``insides`` (See inside tasks), ``uploads``, ``results`` (run folders) and ``inputs``
(references to files). ``recovery`` brings them in line with the files at start-up.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from ..errors import PainterlyError
from .inputs import Inputs
from .insides import Insides
from .jobstore import Jobs
from .results import Results
from .schema import DB_NAME, Database
from .uploads import Uploads

LOCK_NAME = ".lock"
# What a visitor is told of a full disk and of a bug: never the failure's own text, which names server paths.
DISK_FULL = "the disk holding the data folder is full; free some space and try again"
INTERNAL_ERROR = "internal error; the server log has the details"


class Store:
    """Thread-safe access to the data folder, which it locks against a second server."""

    def __init__(self, root: str | os.PathLike) -> None:
        self.root = Path(root).expanduser()
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.results = Results(self.root)
        self._lock_fd = _lock_folder(self.root)
        try:
            self.db = Database(self.root / DB_NAME)
        except BaseException:
            os.close(self._lock_fd)
            raise
        self.uploads = Uploads(self.db, self.root)
        self.jobs = Jobs(self.db, self.results, self.uploads)
        self.insides = Insides(self.db, self.results)
        self.inputs = Inputs(self.uploads, self.results, self.jobs)

    def close(self) -> None:
        with self.db.lock:
            self.db.close()
            os.close(self._lock_fd)  # releases the folder lock


def _lock_folder(root: Path) -> int:
    """An exclusive lock on ``root`` for this process's lifetime (the kernel drops it if we die)."""
    fd = os.open(root / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise PainterlyError(f"data folder {root} is in use by another painterly server") from None
    return fd
