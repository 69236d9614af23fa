"""Run folders and what a visitor may see of them.

``runs/<job id>/`` holds settings.json (as queued), result.png (written atomically by ``Job.run``, with the
visitor's record embedded), record.json (the server's own record) and ``inside/``, the entry's See inside
panels (``sheets.save_panels``). A folder is only ever found through a job id the index knows, never
through a path a client sent. The visitor's records name a job's inputs by reference (``job:<id>:...``),
never by the server paths that would show the data folder, the home folder and upload hashes.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

from ..settings import public_paths
from .schema import valid_id

RESULT = "result.png"
RECORD = "record.json"
SETTINGS = "settings.json"
PANEL_MANIFEST = "panels.json"  # sheets.MANIFEST (which imports torch; the store must not)
_INSIDE_FOLDER = "inside"
_PANEL_FILE = re.compile(r"^panel-[0-9]{2,4}\.png$")


def finite(value: Any) -> Any:
    """JSON-safe copy: NaN and infinities become None (browsers reject them in JSON)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [finite(v) for v in value]
    return value


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


class Results:
    """The ``runs/`` folder of the data folder, and ``quarantine/`` for run folders recovery gave up."""

    def __init__(self, root: Path) -> None:
        self.runs = root / "runs"
        self.quarantine = root / "quarantine"
        self.runs.mkdir(exist_ok=True, mode=0o700)

    def run_dir(self, job_id: str) -> Path:
        if not valid_id(job_id):
            raise ValueError(f"bad job id {job_id!r}")
        return self.runs / job_id

    def result_path(self, job_id: str) -> Path:
        return self.run_dir(job_id) / RESULT

    def inside_dir(self, job_id: str) -> Path:
        return self.run_dir(job_id) / _INSIDE_FOLDER

    def drop_result(self, job_id: str) -> None:
        """Remove a run's result and record (a resumed run starts without them)."""
        for name in (RESULT, RECORD):
            (self.run_dir(job_id) / name).unlink(missing_ok=True)

    def public_file(self, job_id: str) -> dict[str, Any] | None:
        """The settings download of a run: its record once it has one, else its settings as queued, both
        as a visitor may see them; None if the folder holds neither."""
        folder = self.run_dir(job_id)
        path = folder / RECORD if (folder / RECORD).is_file() else folder / SETTINGS
        if not path.is_file():
            return None
        data = json.loads(path.read_text())
        return finite(public_record(data, job_id) if path.name == RECORD else public_settings(data, job_id))

    def inside_panels(self, job_id: str) -> list[dict[str, str]] | None:
        """The cached panels' titles, captions, rows and files (names in the job's ``inside/``), as
        ``sheets.save_panels`` listed them; None if there are none or the cache is damaged."""
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
