"""A run as one value: where it stands, what it has painted, and everything needed to continue it.

``RunState`` is what the engine keeps while it paints (the scale steps and the optimiser write it;
progress, steering and checkpoints read it), what a stopped run hands back
(``StylizeResult.state``) and what ``Stylizer.run(..., state=...)`` continues from, in this process
or, through ``to_dict``/``from_dict`` (tensors, numbers, strings and lists only, so
``torch.load(weights_only=True)`` reads it without running pickled code), after a kill. Which inputs
and version a saved state belongs to is ``painterly.checkpoints``'s job.
"""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import torch

from .errors import PainterlyError
from .settings import Settings

# Settings a run takes while it paints (``Stylizer.update``): weights of the objective, face protection
# and colour strength (applied at the end). Layers, sizes and schedules would invalidate targets and plans.
STEERABLE = ("content_weight", "style_weight", "tv_weight", "style_blend", "face_weight", "color_strength")


@dataclass(frozen=True)
class Change:
    """A setting changed while a run painted, before evaluation ``iteration`` (0: before the first)."""

    iteration: int
    field: str
    value: Any


def steered(settings: Settings, name: str, value: Any) -> tuple[Settings, Any]:
    """``settings`` with steerable field ``name`` set to ``value``, and the value as ``Settings`` holds
    it (typed as a record's JSON is: an int is a float, a list a tuple); PainterlyError, never a
    TypeError, for anything a run could not take."""
    if name not in STEERABLE:
        raise PainterlyError(f"cannot change {name} while a run paints; only {', '.join(STEERABLE)}")
    value = Settings.typed(name, value)
    return settings.with_(**{name: value}).validated(), value


def checked_steering(settings: Settings, changes: Iterable[Any]) -> list[Change]:
    """A replay list for a run of ``settings``, in the order it applies (by iteration), each value
    checked as ``Stylizer.update`` checks it against the settings in force by then: a bad list is
    refused before the run, not half-way through it."""
    checked = []
    for change in changes:
        if not isinstance(change, Change):
            raise PainterlyError(
                f"a steering change must be a Change(iteration, field, value), not {change!r:.60}"
            )
        if type(change.iteration) is not int or change.iteration < 0:
            raise PainterlyError(
                f"steering change iteration must be a whole number >= 0, not {change.iteration!r:.40}"
            )
        checked.append(change)
    out = []
    for change in sorted(checked, key=lambda change: change.iteration):
        try:
            settings, value = steered(settings, change.field, change.value)
        except PainterlyError as exc:
            raise PainterlyError(f"steering change at iteration {change.iteration}: {exc}") from None
        out.append(Change(change.iteration, change.field, value))
    return out


@dataclass
class RunState:
    """Where a run stands. Between two optimiser steps (or tiles) it is complete: ``optimizer`` (a
    whole scale's optimiser state) or ``tiles`` (a tiled scale's next tile, unpainted start and
    painted weights) says where inside the scale ``canvas`` stands; both None at a scale's start."""

    total: int  # planned evaluations over all scales (tiles count once each)
    settings: Settings  # in force: the run's start settings with ``changes`` applied
    done: int = 0  # evaluations so far
    scale: int = 0  # schedule index of the running scale
    canvas: torch.Tensor | None = None  # the image handed from scale to scale (or step to step)
    best: float = math.inf  # best objective evaluated at the running scale (or tile)
    best_image: torch.Tensor | None = None
    losses: dict[str, float] = field(default_factory=dict)
    changes: list[Change] = field(default_factory=list)  # steering applied so far
    due: list[Change] = field(default_factory=list)  # replayed steering still to apply
    optimizer: dict[str, Any] | None = None
    tiles: dict[str, Any] | None = None
    generator: torch.Generator = field(default_factory=torch.Generator)  # seeded: noise, projections
    rng: torch.Tensor | None = None  # torch's global generator, as saved (set again on resume)
    room: float | None = None  # the memory its tiles were planned with: a resumed run plans the same
    deadline: float | None = None  # ``elapsed`` by which a run with a time budget ends
    stop_reason: str = ""  # why a scale ended before its iterations: "time budget"
    timings: list[list[float]] = field(
        default_factory=list
    )  # per finished scale: pixels, s/eval, evals, set-up s per tile, tiles
    layout: torch.Tensor | None = None  # a print's 512 px image, whose layout its finer scales keep
    earlier: float = 0.0  # seconds painted before this process took the run over
    started: float = field(default_factory=time.perf_counter)

    @property
    def elapsed(self) -> float:
        return self.earlier + time.perf_counter() - self.started

    @property
    def progress(self) -> float:
        """The share of the planned evaluations done, 0 to 1."""
        return min(1.0, self.done / self.total) if self.total else 0.0

    def to_dict(self, copy: bool = True) -> dict[str, Any]:
        """The state as plain data on the CPU: a copy, or without ``copy`` sharing the tensors already
        there, for a caller that saves it at once (checkpoints: copies of an 8192 px tiled scale's
        canvas and fades took 1.4 GB each time)."""
        cpu = functools.partial(to_cpu, copy=copy)
        return {
            "total": self.total,
            "settings": self.settings.to_json(),
            "done": self.done,
            "scale": self.scale,
            "canvas": cpu(self.canvas),
            "best": self.best,
            "best_image": cpu(self.best_image),
            "losses": dict(self.losses),
            "changes": [[c.iteration, c.field, c.value] for c in self.changes],
            "due": [[c.iteration, c.field, c.value] for c in self.due],
            "optimizer": cpu(self.optimizer),
            "tiles": cpu(self.tiles),
            "generator": self.generator.get_state(),
            "rng": torch.get_rng_state(),
            "room": self.room,
            "deadline": self.deadline,
            "stop_reason": self.stop_reason,
            "timings": [list(t) for t in self.timings],
            "layout": cpu(self.layout),
            "elapsed": self.elapsed,
        }

    @classmethod
    def from_dict(cls, data: Any) -> RunState:
        """A state from ``to_dict``'s data; PainterlyError when it is not one."""
        try:
            state = cls(
                total=int(data["total"]),
                settings=Settings.from_json(data["settings"]),
                done=int(data["done"]),
                scale=int(data["scale"]),
                canvas=data["canvas"],
                best=float(data["best"]),
                best_image=data["best_image"],
                losses={str(k): float(v) for k, v in data["losses"].items()},
                changes=[Change(int(i), str(f), Settings.typed(f, v)) for i, f, v in data["changes"]],
                due=[Change(int(i), str(f), Settings.typed(f, v)) for i, f, v in data["due"]],
                optimizer=data["optimizer" if "optimizer" in data else "optimiser"],  # older: "optimiser"
                tiles=data["tiles"],
                generator=torch.Generator().set_state(data["generator"]),
                rng=data["rng"],
                room=None if data["room"] is None else float(data["room"]),
                deadline=None if data["deadline"] is None else float(data["deadline"]),
                stop_reason=str(data["stop_reason"]),
                timings=[_timing(*t) for t in data["timings"]],
                earlier=float(data["elapsed"]),
                layout=data.get("layout"),  # none in checkpoints before the layout lock
            )
        except (KeyError, TypeError, ValueError, AttributeError, RuntimeError, PainterlyError):
            raise PainterlyError("not a painterly run state") from None
        if not isinstance(state.canvas, torch.Tensor) or state.canvas.dim() != 4:
            raise PainterlyError("not a painterly run state (no canvas)")
        if state.layout is not None and not (
            isinstance(state.layout, torch.Tensor) and state.layout.dim() == 4 and state.layout.shape[1] == 3
        ):
            raise PainterlyError("not a painterly run state (a layout that is no image)")
        return state


def to_cpu(value: Any, copy: bool = True) -> Any:
    """``value`` (tensors in dicts and lists) with every tensor on the CPU: copied, unless ``copy`` is
    False and it is there already."""
    if isinstance(value, torch.Tensor):
        value = value.detach()
        return value.clone() if copy and value.device.type == "cpu" else value.cpu()
    if isinstance(value, dict):
        return {key: to_cpu(item, copy) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(to_cpu(item, copy) for item in value)
    return value


def _timing(pixels: float, seconds: float, evaluations: int, setup: float, tiles: int = 1) -> list[float]:
    """A stored scale timing; checkpoints before tile counts were kept hold four values."""
    return [float(pixels), float(seconds), int(evaluations), float(setup), int(tiles)]
