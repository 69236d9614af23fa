"""Checkpoint files: a run's ``RunState`` with what it belongs to, kept beside the output.

A checkpoint names the settings, the bytes of every input (SHA-256) and the painterly version it was
written by; it is used only for the same run of the same files on the same version, and anything else
(another run's, a damaged or foreign file) is refused with one line, never silently used or replaced.
Files are written atomically and loaded with ``weights_only=True``: they hold no pickled code.
``Checkpoints`` decides when a running job writes one.
"""

from __future__ import annotations

import json
import os
import pickle
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import PainterlyError
from .files import atomic_path, sha256_of
from .settings import Settings, as_saved
from .version import painterly_version

if TYPE_CHECKING:  # torch loads with the first checkpoint, not with the CLI's --help
    from .state import RunState

FORMAT = 1
SUFFIX = ".ckpt"
DEFAULT_EVERY = 60.0  # seconds between checkpoints


class Checkpoints:
    """Hands the run's state to ``save`` every ``every`` seconds, at step (or tile) boundaries."""

    def __init__(self, save: Callable[[RunState], None], every: float = DEFAULT_EVERY) -> None:
        self._save, self.every = save, every
        self.last = time.perf_counter()

    def due(self) -> bool:
        return time.perf_counter() - self.last >= self.every

    def save(self, state: RunState) -> None:
        self._save(state)
        self.last = time.perf_counter()


def path_for(output: str | os.PathLike) -> Path:
    """Where the checkpoint of a run writing ``output`` lives: ``OUT.png.ckpt``."""
    output = Path(output)
    return output.with_name(output.name + SUFFIX)


def identity(settings: Settings, inputs: Sequence[str]) -> dict[str, Any]:
    """What a checkpoint belongs to: format, version, settings and the digest of each input file."""
    return {
        "format": FORMAT,
        "version": painterly_version(),
        "settings": json.loads(settings.to_json()),
        "schedule": [[fraction, iterations] for fraction, iterations in settings.schedule()],
        "inputs": {path: sha256_of(path) for path in inputs if os.path.isfile(path)},
    }


def save(path: Path, owner: dict[str, Any], state: RunState) -> None:
    import torch

    with atomic_path(path) as tmp:
        torch.save({"painterly_checkpoint": owner, "state": state.to_dict(copy=False)}, tmp)


def read(path: Path) -> dict[str, Any]:
    """A checkpoint file's contents: its owner (``identity``) and ``state``, or a PainterlyError."""
    import torch

    if path.is_dir():
        raise PainterlyError(f"the checkpoint {path} is a folder; remove or rename it")
    if not path.is_file():
        raise PainterlyError(f"no checkpoint to resume from: {path}")
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except PermissionError:
        raise PainterlyError(f"cannot read the checkpoint {path}: permission denied") from None
    except (OSError, RuntimeError, EOFError, ValueError, pickle.UnpicklingError):
        raise PainterlyError(
            f"{path} is not a readable painterly checkpoint; remove it to start afresh"
        ) from None
    owner = data.get("painterly_checkpoint") if isinstance(data, dict) else None
    if (
        not isinstance(owner, dict)
        or owner.get("format") != FORMAT
        or not isinstance(owner.get("settings"), dict)
    ):
        raise PainterlyError(
            f"{path} is not a painterly checkpoint (or another format); remove it to start afresh"
        )
    return data


def settings_of(path: Path) -> Settings:
    """The settings of the run a checkpoint belongs to (to resume it without repeating them)."""
    data = read(path)
    try:
        return Settings.from_dict(data["painterly_checkpoint"]["settings"])
    except PainterlyError as exc:
        raise PainterlyError(f"{path}: {exc}") from None


def load(path: Path, owner: dict[str, Any]) -> RunState:
    """The run state in ``path`` if it belongs to ``owner`` (an ``identity``); else a PainterlyError."""
    from .state import RunState

    data = read(path)
    mismatch = _mismatch(data["painterly_checkpoint"], owner)
    if mismatch:
        raise PainterlyError(f"{path} belongs to another run ({mismatch}); remove it to start afresh")
    try:
        return RunState.from_dict(data.get("state"))
    except PainterlyError as exc:
        raise PainterlyError(f"{path}: {exc}; remove it to start afresh") from None


def _mismatch(found: dict[str, Any], owner: dict[str, Any]) -> str:
    """How a checkpoint's owner differs from this run's, in a few words ('' when it is this run's)."""
    if found.get("version") != owner["version"]:
        return f"written by painterly {found.get('version')}, this is {owner['version']}"
    settings = as_saved(found["settings"])
    changed = sorted(
        k for k in settings.keys() | owner["settings"].keys() if settings.get(k) != owner["settings"].get(k)
    )
    if changed:
        return f"other {', '.join(changed)}"
    # the same settings plan other scales under another painterly (a scale index would point elsewhere)
    if [list(scale) for scale in found.get("schedule") or []] != owner["schedule"]:
        return "planned with other scales"
    inputs = found.get("inputs")
    if not isinstance(inputs, dict):
        return "no input digests"
    for name, digest in owner["inputs"].items():
        if inputs.get(name) != digest:
            return f"{name} changed since"
    return ""
