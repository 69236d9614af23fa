"""Start-up recovery: make the index agree with the data folder after a stop, a crash or a lost database.

Never deletes a user's result: a run folder the database does not know is indexed again when it holds a
complete result (an older or lost ``painterly.db``), and moved to ``quarantine/`` otherwise; both are
logged. A job (or See inside task) that was running becomes interrupted; queued ones stay queued and
run as the worker takes them (``painterly.queue.recovered``); an interrupted run that left a checkpoint
is queued again in its place, and the worker continues it. The index writes only recovery makes (the


complete result (an older or lost ``painterly.db``), and moved to ``quarantine/`` otherwise; a known
run's record that no longer parses goes there too (a finished run with it fails, its image kept); all
are logged. A job (or See inside task) that was running becomes interrupted; queued ones stay queued and
run as the worker takes them (``painterly.queue.recovered``). The index writes only recovery makes (the
bulk interruption, rows for folders and uploads found on disk) are here; the rest go through the store's
parts.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import time
from pathlib import Path
from typing import Any

from ..checkpoints import path_for
from ..errors import PainterlyError
from ..images import READ_FORMATS, open_image, read_metadata, save_image
from ..queue import ACTIVE, FINISHED, Status, check_transition, recovered
from ..settings import Settings
from .forms import form_fields
from .inputs import samples
from .results import RECORD, finite, public_name, public_record
from .schema import Database, valid_id, valid_sha
from .store import Store

log = logging.getLogger("painterly.web")


def recover(store: Store) -> dict[str, int]:
    """Bring ``store`` in line with its files; return how many jobs/files each step changed."""
    changed = {
        "interrupted": _interrupt_active(store.db),
        "continued": _continue_checkpointed(store),
        "broken": 0,
        "hidden": 0,
        "reindexed": 0,
        "quarantined": 0,
    }
    for job_id in store.jobs.ids(FINISHED):
        try:
            broken = not complete(store, job_id)
        except OSError as exc:  # the system failed, not the file: check again at the next start
            log.warning("painterly: cannot check the result of job %s (%s); left as it is", job_id, exc)
            continue
        if broken and store.jobs.mark_broken(job_id):
            changed["broken"] += 1
        elif not broken and _hide_paths(store, job_id):
            changed["hidden"] += 1
    changed["uploads"] = _reindex_uploads(store)
    known = store.jobs.ids()
    for folder in sorted(store.results.runs.iterdir()):
        for tmp in [*folder.glob(".*.tmp"), *folder.glob("inside/.*.tmp")] if folder.is_dir() else ():
            tmp.unlink(missing_ok=True)  # half-written files of an atomic save (result, panels)
        stamp = int(time.time())
        try:
            if folder.name in known:
                record = folder / RECORD
                if record.is_file() and not _readable_record(record):  # else settings.json answers 500
                    _quarantine(store, record, f"{folder.name}-{stamp}.{RECORD}", "a damaged record")
                    changed["quarantined"] += 1
                continue
            reindexed = folder.is_dir() and valid_id(folder.name) and _reindex(store, folder)
        except OSError as exc:
            log.warning("painterly: cannot check %s (%s); left as it is", folder, exc)
            continue
        if reindexed:
            changed["reindexed"] += 1
            changed["hidden"] += _hide_paths(store, folder.name)
            log.warning("painterly: indexed %s again (its result had no database entry)", folder)
        else:
            _quarantine(store, folder, f"{folder.name}-{stamp}", "no database entry, no complete result")
            changed["quarantined"] += 1
    for tmp in store.uploads.folder.glob(".*.tmp"):
        tmp.unlink(missing_ok=True)
    store.uploads.collect()
    return changed


def _interrupt_active(db: Database) -> int:
    """Tasks running when the server stopped become interrupted; queued ones wait for the worker
    (``queue.recovered``). Returns how many moved."""
    moved = 0
    with db.transaction() as conn:
        for state in (s for s in ACTIVE if recovered(s) != s):
            for table in ("jobs", "insides"):
                cursor = conn.execute(
                    f"UPDATE {table} SET status=?, error=? WHERE status=?",
                    (recovered(state), "the server stopped before this run finished", state),
                )
                moved += cursor.rowcount
    return moved


def _continue_checkpointed(store: Store) -> int:
    """Queue again, in their place, the interrupted runs whose last run left a checkpoint; the worker
    continues them from it (or starts afresh, and logs why, if it cannot be used). One older than that
    run's start (by more than the tick that file times lag the clock) means the run got nowhere, say it
    was killed resuming: it waits for the user's Resume rather than loop. Returns how many went back."""
    moved = 0
    for job_id in store.jobs.ids(frozenset({Status.INTERRUPTED})):
        started = (store.jobs.get(job_id) or {}).get("started") or 0.0
        try:
            fresh = path_for(store.results.result_path(job_id)).stat().st_mtime > started - 1.0
        except OSError:  # none (or unreadable): it stays interrupted
            continue
        if fresh and store.jobs.resume(job_id, in_place=True):
            moved += 1
            log.warning("painterly: job %s was cut off by the server's stop; continuing it", job_id)
    return moved


def _quarantine(store: Store, path: Path, name: str, why: str) -> None:
    """Move ``path`` to ``quarantine/<name>``: out of the index's way, kept for the user, logged."""
    store.results.quarantine.mkdir(exist_ok=True, mode=0o700)
    target = store.results.quarantine / name
    os.replace(path, target)
    log.warning("painterly: moved %s (%s) to %s", path, why, target)


def complete(store: Store, job_id: str) -> bool:
    """Whether the job's folder holds its record (JSON that parses) and a result image that decodes.
    OSError if the system cannot tell (EMFILE, EIO, EACCES...): that says nothing about the file, which
    must not be given up."""
    from PIL import Image

    path = store.results.result_path(job_id)
    if not path.is_file() or not _readable_record(path.parent / RECORD):
        return False
    try:
        with Image.open(path, formats=READ_FORMATS) as image:
            image.verify()
    except OSError as exc:
        if exc.errno not in (None, errno.ENOENT):  # PIL's decoding errors carry no errno
            raise
        return False
    except Exception:  # noqa: BLE001 - any other decoding failure means the file is damaged
        return False
    return True


def _readable_record(path: Path) -> bool:
    """Whether ``path`` holds a run's record, JSON with its settings (a crash or a full disk can leave one
    cut short); OSError as for ``complete``."""
    try:
        record = json.loads(path.read_text())
    except (FileNotFoundError, ValueError):  # ValueError: not JSON, or not text
        return False
    return isinstance(record, dict) and isinstance(record.get("settings"), dict)


def _hide_paths(store: Store, job_id: str) -> bool:
    """Give a result saved by painterly < 0.2.1 (its embedded record named the server's folders and
    upload hashes) the visitor's record that new results carry; True if it had to be rewritten."""
    from PIL import Image

    path = store.results.result_path(job_id)
    try:
        if read_metadata(path).get("output") == public_name(job_id):
            return False
        public = public_record(json.loads((path.parent / RECORD).read_text()), job_id)
        with Image.open(path, formats=READ_FORMATS) as image:
            save_image(image.copy(), path, public)
    except (PainterlyError, OSError, ValueError, KeyError) as exc:
        log.warning("painterly: cannot hide the server's paths in the result of job %s (%s)", job_id, exc)
        return False
    return True


def _reindex(store: Store, folder: Path) -> bool:
    """Index a run folder holding a complete result; False if it holds none."""
    if not complete(store, folder.name):
        return False
    try:
        record = json.loads((folder / RECORD).read_text())
        settings = Settings.from_dict(record["settings"])
    except (OSError, ValueError, KeyError, TypeError, PainterlyError):
        return False
    inputs = {
        "content": _found_input(store, folder, settings.content),
        "styles": [
            {**_found_input(store, folder, path), "weight": weight}
            for path, weight in zip(settings.styles, settings.blend(), strict=True)
        ],
    }
    created = record.get("created")
    _add_finished(
        store.db,
        folder.name,
        Status.STOPPED if record.get("interrupted") else Status.DONE,
        created=created if isinstance(created, float) else time.time(),
        inputs=inputs,
        form={name: getattr(settings, name) for name in form_fields()},
        settings=settings,
        record=record,
    )
    return True


def _add_finished(
    db: Database,
    job_id: str,
    status: Status,
    *,
    created: float,
    inputs: dict,
    form: dict,
    settings: Settings,
    record: dict,
) -> None:
    """Index a finished run found on disk without a row."""
    with db.transaction() as conn:
        conn.execute(
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


def _found_input(store: Store, folder: Path, path: str) -> dict[str, Any]:
    """The input item of a re-indexed run for the file its settings name, if still here. Found by name,
    never by folder: the record names resolved paths, but the data folder may be given relative, through
    a symlink, or have moved since."""
    source = Path(path)
    upload = store.uploads.get(source.stem)
    if upload and upload["file"] == source.name:
        return {"ref": f"upload:{source.stem}", "label": upload["name"] or source.name}
    if source.parent.name == folder.name:  # inputs copied into the run folder by earlier versions
        return {"file": source.name, "label": source.name}
    sample = {file.name: name for name, file in samples().items()}.get(source.name)
    if sample:
        return {"ref": f"sample:{sample}", "label": sample}
    return {"label": source.name}


def _reindex_uploads(store: Store) -> int:
    """Rows for upload files that have none (a lost database); returns how many were added."""
    known, added = store.uploads.shas(), 0
    for path in store.uploads.folder.iterdir():
        if not valid_sha(path.stem) or path.stem in known or not path.is_file():
            continue
        try:
            with open_image(path) as image:
                width, height = image.size
        except (OSError, ValueError, SyntaxError, PainterlyError):
            continue
        store.uploads.add(path.stem, path.name, path.name, width, height)
        added += 1
    return added
