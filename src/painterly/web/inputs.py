"""A job's inputs: the references a client sends, the items a job keeps, the files a run reads.

References (never a client's path): ``upload:<sha>``, ``sample:<name>`` (a built-in painting or the demo
photo) and ``job:<id>:content`` / ``job:<id>:style-<i>`` (the input of an earlier job, for "re-run with
changed settings"). A job keeps an item per input, ``{ref, label}`` (or, from older versions, a legacy
``{job, file, label}``: a copy in a run folder), and finds its file again when it runs.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..errors import PainterlyError
from ..settings import Settings
from .jobstore import Jobs
from .results import Results
from .schema import valid_id
from .uploads import Uploads

DEMO_SAMPLE = "astronaut"
_STYLE_KEY = re.compile(r"^style-([0-9]{1,2})$")


def samples() -> dict[str, Path]:
    """The inputs every page may use by name: the demo photo and the built-in paintings."""
    from ..images import builtin_styles, demo_content

    return {DEMO_SAMPLE: demo_content(), **builtin_styles()}


def job_input(job: dict[str, Any], key: str) -> dict[str, Any] | None:
    """A job's input item by its key, ``content`` or ``style-<i>``; None for any other key."""
    inputs = job["inputs"]
    if key == "content":
        return inputs["content"]
    match = _STYLE_KEY.match(key)
    if match and int(match[1]) < len(inputs["styles"]):
        return inputs["styles"][int(match[1])]
    return None


class Inputs:
    """Resolves references against the uploads, the samples and earlier jobs."""

    def __init__(self, uploads: Uploads, results: Results, jobs: Jobs) -> None:
        self.uploads, self.results, self.jobs = uploads, results, jobs

    def submission(
        self, content: Any, styles: Sequence[Any], blend: Sequence[float], form: dict[str, Any]
    ) -> tuple[dict[str, Any], Settings]:
        """A submission's input items and its validated settings; PainterlyError if either is wrong."""
        items = [self.resolve(content), *(self.resolve(ref) for ref in styles)]
        weights = list(blend) or [1.0] * len(styles)
        inputs = {
            "content": items[0],
            "styles": [{**item, "weight": w} for item, w in zip(items[1:], weights, strict=True)],
        }
        settings = self._with_inputs(Settings(style_blend=tuple(blend), **form), inputs).validated()
        return inputs, settings

    def resolve(self, ref: Any) -> dict[str, Any]:
        """The input item that a reference names; PainterlyError if it names nothing known."""
        if not isinstance(ref, str):
            raise PainterlyError("inputs must be references (upload:..., sample:..., job:...)")
        kind, _, rest = ref.partition(":")
        item: dict[str, Any] | None = None
        if kind == "upload" and (info := self.uploads.get(rest)):
            item = {"ref": ref, "label": info["name"] or "upload"}
        elif kind == "sample" and rest in samples():
            item = {"ref": ref, "label": rest}
        elif kind == "job":
            job_id, _, key = rest.partition(":")
            job = self.jobs.get(job_id)
            found = job_input(job, key) if job else None
            if found is not None:
                item = {k: v for k, v in found.items() if k != "weight"}
                if "file" in item:
                    item.setdefault("job", job_id)
        if item is None or self.path(item) is None:
            raise PainterlyError(f"unknown or deleted input {str(ref)[:100]!r}; upload the image again")
        return item

    def path(self, item: dict[str, Any], job_id: str = "") -> Path | None:
        """The file of an input item, or None if it is gone (or was never kept)."""
        kind, _, rest = str(item.get("ref", "")).partition(":")
        if kind == "upload":
            info = self.uploads.get(rest)
            return info["path"] if info else None
        if kind == "sample":
            return samples().get(rest)
        owner = item.get("job", job_id)
        if "file" in item and valid_id(owner) and "/" not in item["file"]:
            path = self.results.run_dir(owner) / item["file"]
            return path if path.is_file() else None
        return None

    def run_settings(self, job: dict[str, Any]) -> Settings:
        """The job's settings with its inputs' current files; PainterlyError if one was deleted."""
        return self._with_inputs(Settings.from_dict(job["settings"]), job["inputs"], job["id"])

    def _with_inputs(self, settings: Settings, inputs: dict[str, Any], job_id: str = "") -> Settings:
        def path(item: dict[str, Any]) -> str:
            found = self.path(item, job_id)
            if found is None:
                raise PainterlyError(f"input {item.get('label', '')!r} was deleted; upload the image again")
            return str(found)

        return settings.with_(
            content=path(inputs["content"]), styles=tuple(path(s) for s in inputs["styles"])
        )
