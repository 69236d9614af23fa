"""Uploads: streamed to a temporary file, checked (header, size, a full decode), stored by content hash.

The body's size is bounded before this runs (``guards.BodyLimit``); here the file part is bounded too
and opened only with painterly's format allow-list (``images.open_image``). ``uploads/<sha256>.<ext>``
is shared by every job using it: jobs refer to ``upload:<sha>`` instead of copying the file, and an
upload no job's settings name is collected after a grace period.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from fastapi import HTTPException, Request
from starlette.concurrency import run_in_threadpool

from ..errors import PainterlyError
from ..files import atomic_path
from ..images import READ_FORMATS, load_image, open_image
from .limits import Limits
from .schema import Database, valid_sha

KEPT_FORMATS = {
    "JPEG": ".jpg",
    "PNG": ".png",
    "WEBP": ".webp",
    "GIF": ".gif",
}  # stored as sent; others as PNG
DECODING = threading.Semaphore(2)  # full decodes at once: each may take a few hundred MB of memory
UPLOAD_GRACE_SECONDS = 3600  # an upload no job uses yet is kept this long (the user is still choosing)


class Uploads:
    """The ``uploads/`` folder and its rows: a file is placed and collected under the index's lock, so
    a collection never deletes the file of an upload indexed meanwhile."""

    def __init__(self, db: Database, root: Path) -> None:
        self.db = db
        self.folder = root / "uploads"
        self.folder.mkdir(exist_ok=True, mode=0o700)

    def add(
        self, sha: str, file: str, name: str, width: int, height: int, source: Path | None = None
    ) -> None:
        """Index an upload, first moving its checked file from ``source`` into place if given."""
        with self.db.transaction() as db:
            if source is not None:
                os.replace(source, self.folder / file)
            db.execute(
                "INSERT OR REPLACE INTO uploads (sha, file, name, width, height, created) VALUES (?,?,?,?,?,?)",
                (sha, file, name, width, height, time.time()),
            )

    def get(self, sha: str) -> dict[str, Any] | None:
        """An upload's row with its file's ``path``; None if unknown or its file is gone."""
        row = self.db.row("SELECT * FROM uploads WHERE sha=?", (sha,)) if valid_sha(sha) else None
        if row is None:
            return None
        data = dict(row)
        data["path"] = self.folder / data["file"]
        return data if data["path"].is_file() else None

    def shas(self) -> set[str]:
        return {row["sha"] for row in self.db.rows("SELECT sha FROM uploads")}

    def total_bytes(self) -> int:
        """Bytes in the uploads folder, uploads still being received included."""
        total = 0
        with os.scandir(self.folder) as entries:
            for entry in entries:
                with contextlib.suppress(FileNotFoundError):  # a temporary file, gone meanwhile
                    total += entry.stat().st_size if entry.is_file() else 0
        return total

    def collect(self, grace: float = UPLOAD_GRACE_SECONDS) -> int:
        """Delete uploads older than ``grace`` seconds whose file no job's settings name; return how many.
        The settings (a re-indexed run's: its record's) name every file the run reads, whatever became of
        its input references (a row re-indexed from a data folder given relative or through a
        symlink could lose them)."""
        with self.db.transaction() as db:
            rows = db.execute(
                "SELECT sha, file FROM uploads WHERE created < ? AND NOT EXISTS"
                " (SELECT 1 FROM jobs WHERE instr(jobs.settings, uploads.file) > 0)",
                (time.time() - grace,),
            ).fetchall()
            db.executemany("DELETE FROM uploads WHERE sha=?", [(row["sha"],) for row in rows])
            for row in rows:  # under the lock: an upload of the same file waits (``add``)
                (self.folder / row["file"]).unlink(missing_ok=True)
        return len(rows)


def check_upload(path: Path, name: str, limits: Limits) -> tuple[str, int, int]:
    """Validate an uploaded file; return (PIL format, width, height) or raise PainterlyError."""
    label = f"{name!r}" if name else "the upload"
    if path.stat().st_size == 0:
        raise PainterlyError(f"{label} is an empty file")
    try:
        with open_image(path) as opened:  # reads the header only: cheap even for a bomb
            fmt, (width, height) = opened.format or "", opened.size
    except PainterlyError as exc:
        raise PainterlyError(str(exc).replace(f"image {path}", label)) from None
    except (OSError, ValueError, SyntaxError):
        formats = ", ".join(READ_FORMATS)
        raise PainterlyError(f"{label} is not an image painterly can read (use {formats})") from None
    if width * height > limits.upload_pixels or max(width, height) > limits.upload_side:
        raise PainterlyError(
            f"{label} is too large ({width}x{height}); at most {limits.upload_pixels / 1e6:g} megapixels "
            f"and {limits.upload_side} px a side"
        )
    try:
        with DECODING:
            load_image(path, "upload")  # a full decode: catches truncated and corrupt files
    except PainterlyError as exc:
        raise PainterlyError(str(exc).replace(f"upload {path}", label)) from None
    return fmt, width, height


async def receive_upload(request: Request, uploads: Uploads, limits: Limits) -> dict[str, Any]:
    """Store the file of a multipart upload; return its reference and what the page shows of it."""
    form = await request.form(max_files=1, max_fields=4)
    try:
        item = form.get("file")
        if item is None or isinstance(item, str):
            raise PainterlyError("no file was sent")
        name = os.path.basename(item.filename or "")[:200]
        fd, tmp_name = tempfile.mkstemp(prefix=".upload.", suffix=".tmp", dir=uploads.folder)
        tmp = Path(tmp_name)
        try:
            digest, size = hashlib.sha256(), 0
            with os.fdopen(fd, "wb") as f:
                while chunk := await item.read(1 << 20):
                    size += len(chunk)
                    if size > limits.upload_bytes:
                        raise HTTPException(
                            413, f"the file is larger than {limits.upload_bytes / 2**20:g} MB"
                        )
                    digest.update(chunk)
                    f.write(chunk)
            if uploads.total_bytes() > limits.upload_total_bytes:  # this upload counted too
                raise HTTPException(
                    507, "the server's upload space is full; delete some runs from the gallery"
                )
            fmt, width, height = await run_in_threadpool(check_upload, tmp, name, limits)
            sha = digest.hexdigest()
            final = sha + KEPT_FORMATS.get(fmt, ".png")
            if fmt not in KEPT_FORMATS:  # e.g. TIFF or BMP: keep a PNG the browser can show
                await run_in_threadpool(_save_png, tmp)
            uploads.add(sha, final, name, width, height, source=tmp)
        finally:
            tmp.unlink(missing_ok=True)
    finally:
        await form.close()
    uploads.collect()  # older uploads no job took up
    return {
        "ref": f"upload:{sha}",
        "label": name,
        "width": width,
        "height": height,
        "url": f"/api/uploads/{sha}",
    }


def _save_png(path: Path) -> None:
    """Re-encode the file at ``path`` as PNG, in place."""
    with DECODING:
        image = load_image(path)
    with atomic_path(path) as out:
        image.save(out, format="PNG")
