"""One scale's optimisation over the pixels, and the run state the scales hand on.

``RunState`` is where a run stands (scale, evaluations, canvas, best so far, latest losses): progress,
checkpoints and steering read it. ``ScaleOptimiser`` spends one scale's evaluations with L-BFGS
(strong-Wolfe line search) or Adam and returns the best iterate, never a diverged one.
"""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from .events import Event, Iteration, Preview
from .hardware import LBFGS_HISTORY
from .images import to_image
from .settings import Settings

# RMS pixel change (images in [0, 1]) of each scale's first L-BFGS step. torch's own first step,
# min(1, 1/|g|_1), moves a 512 px image by ~1e-6 and the line search then spends ~5 evaluations
# extrapolating before anything moves: measured, the 256 and 362 px scales of a draft did nothing
# at all. From 0.005: draft objective 1.20 -> 0.93 (Tubingen + Starry Night), 0.93 -> 0.73 (Scream).
FIRST_STEP_RMS = 0.005


@dataclass
class RunState:
    """Where a run stands; written by the scale steps, read by whoever watches or saves the run."""

    total: int  # planned evaluations over all scales (tiles count once each)
    done: int = 0  # evaluations so far
    scale: int = 0  # schedule index of the running scale
    canvas: torch.Tensor | None = None  # the image handed from scale to scale
    best: float = math.inf  # best objective evaluated at the running scale (or tile)
    best_image: torch.Tensor | None = None
    losses: dict[str, float] = field(default_factory=dict)
    started: float = field(default_factory=time.perf_counter)

    @property
    def elapsed(self) -> float:
        return time.perf_counter() - self.started


class _Stop(Exception):
    """Raised inside the optimiser's closure to end a scale (budget spent or stop requested)."""


class _Restart(Exception):
    """Raised inside the closure when steering changed the objective: the optimiser starts afresh."""


@functools.cache
def _skip_dynamo_import() -> None:
    """Spare ~2 s of start-up: torch.optim imports torch._dynamo on the first optimiser only to mark
    ``add_param_group``/``zero_grad`` as never-compiled. painterly never compiles, so fill torch's own
    per-function cache (``__dynamo_disable``) with the plain function. Harmless if torch changes."""
    import sys

    if "torch._dynamo" in sys.modules:
        return
    for method in (torch.optim.Optimizer.add_param_group, torch.optim.Optimizer.zero_grad):
        raw = getattr(method, "__wrapped__", None)
        if raw is not None and getattr(raw, "__dynamo_disable", None) is None:
            raw.__dynamo_disable = raw


Objective = Callable[[torch.Tensor], tuple[torch.Tensor, dict[str, torch.Tensor]]]


class ScaleOptimiser:
    """Spends ``iterations`` objective evaluations from a start image at one scale.

    Each evaluation counts as one iteration (line-search trials included), so costs are what the
    progress bar shows. The closure remembers its last evaluation: L-BFGS re-evaluates the point it
    starts each ``step`` from, and that repeat costs nothing.
    """

    def __init__(
        self,
        settings: Settings,
        state: RunState,
        objective: Objective,
        iterations: int,
        emit: Callable[[Event], None],
        preview_every: int,
        stopped: Callable[[], bool],
        steer: Callable[[int], bool] = lambda done: False,
    ) -> None:
        """``steer(done)`` applies changes due before the next evaluation; True if the objective changed."""
        self.settings, self.state, self.objective, self.steer = settings, state, objective, steer
        self.iterations, self.budget = iterations, iterations
        self.emit, self.preview_every, self.stopped = emit, preview_every, stopped
        self._last: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None

    def run(self, start: torch.Tensor) -> torch.Tensor:
        """Optimise from ``start``; return the best iterate (or the moving average, when asked)."""
        s = self.settings
        self.x = start.detach().clone().requires_grad_(True)
        self.state.best, self.state.best_image = math.inf, self.x.detach().clone()
        decay = s.ema_decay()
        self.ema = (self.x.detach().clone(), decay) if decay else None
        _skip_dynamo_import()
        while True:
            self.optimizer = self._optimizer()
            try:
                if s.optimizer == "lbfgs":
                    self._first_step()
                while self.budget > 0:
                    before = self.budget
                    self.optimizer.step(self._closure)
                    if self.budget == before:  # a step that evaluated nothing: a zero gradient, done
                        break
            except _Stop:
                pass
            except _Restart:
                # Values of the old objective say nothing of the new one: best and memo start again.
                # Restart from the best point so far (not a line-search trial).
                with torch.no_grad():
                    self.x.copy_(self.state.best_image)
                self._last, self.state.best = None, math.inf
                continue
            return self._result()

    def _optimizer(self) -> torch.optim.Optimizer:
        s = self.settings
        if s.optimizer == "adam":
            return torch.optim.Adam([self.x], lr=s.learning_rate or 0.02)
        return torch.optim.LBFGS(
            [self.x],
            lr=s.learning_rate or 1.0,
            max_iter=self.budget,
            max_eval=self.budget,
            history_size=LBFGS_HISTORY,
            tolerance_grad=0.0,
            tolerance_change=0.0,
            line_search_fn="strong_wolfe",
        )

    def _first_step(self) -> None:
        """One L-BFGS iteration whose initial step moves the pixels by FIRST_STEP_RMS."""
        self._closure()
        grad = self.x.grad.detach()
        rms = float(grad.pow(2).mean().sqrt())
        if rms == 0:
            return
        group = self.optimizer.param_groups[0]
        lr = group["lr"]
        # torch's first step is min(1, 1/|g|_1) * lr along -g: undo its factor, set the length.
        group["lr"] = lr * FIRST_STEP_RMS / rms * max(1.0, float(grad.abs().sum()))
        group["max_iter"] = 1
        self.optimizer.step(self._closure)
        group["lr"], group["max_iter"] = lr, self.budget

    def _closure(self) -> torch.Tensor:
        x = self.x
        if self.stopped():
            raise _Stop
        if self._last is not None and torch.equal(self._last[0], x.detach()):
            x.grad = self._last[2].clone()
            return self._last[1]
        if self.budget <= 0:
            raise _Stop
        if self.steer(self.state.done):
            raise _Restart
        self.budget -= 1
        self.optimizer.zero_grad(set_to_none=True)
        total, parts = self.objective(x)
        total.backward()
        self._record(float(total.detach()), parts)
        self._last = (x.detach().clone(), total.detach(), x.grad.detach().clone())
        return total

    def _record(self, value: float, parts: dict[str, torch.Tensor]) -> None:
        state, x = self.state, self.x.detach()
        if value < state.best:
            state.best, state.best_image = value, x.clone()
        if self.ema is not None:
            average, decay = self.ema
            average.mul_(decay).add_(x, alpha=1 - decay)
        state.done += 1
        state.losses = {k: float(v.detach()) for k, v in parts.items()} | {"total": value}
        self.emit(Iteration(state.done, state.total, state.scale, state.losses, state.elapsed))
        if self.preview_every and state.done % self.preview_every == 0:
            self.emit(Preview(state.done, to_image(x)))

    def _result(self) -> torch.Tensor:
        if self.ema is not None:
            # Asked-for averaging is the output: it trades a little objective for less noise.
            return self.ema[0].clamp(0, 1)
        # The last accepted step may not have been evaluated: score it against the best seen.
        x = self.x.detach()
        if self._last is None or not torch.equal(self._last[0], x):
            with torch.no_grad():
                if float(self.objective(x)[0]) < self.state.best:
                    self.state.best_image = x.clone()
        return self.state.best_image.clamp(0, 1)
