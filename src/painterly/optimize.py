"""One scale's optimisation over the pixels.

``ScaleOptimizer`` spends one scale's evaluations with L-BFGS (strong-Wolfe line search) or Adam and
returns the best iterate, never a diverged one, keeping the run's ``RunState`` (``painterly.state``)
as it goes. It takes one optimiser step at a time, so between steps its whole state can be saved
(``state_dict``) and a run killed later continues from there exactly (``run(start, resume=...)``).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import Any

import torch

from . import graphs
from .events import Event, Iteration, Preview
from .hardware import LBFGS_HISTORY, LBFGS_HISTORY_HOST_BOUND
from .images import to_image
from .state import RunState, to_cpu

# RMS pixel change (images in [0, 1]) of each scale's first L-BFGS step. torch's own first step,
# min(1, 1/|g|_1), moves a 512 px image by ~1e-6 and the line search then spends ~5 evaluations
# extrapolating before anything moves: measured, the 256 and 362 px scales of a draft did nothing
# at all. From 0.005: draft objective 1.20 -> 0.93 (Tubingen + Starry Night), 0.93 -> 0.73 (Scream).
FIRST_STEP_RMS = 0.005


class _Stop(Exception):
    """Raised inside the optimiser's closure to end a scale (budget spent or stop requested)."""


class _Restart(Exception):
    """Raised inside the closure when steering changed the objective: the optimiser starts afresh."""


@functools.cache
def _skip_dynamo_import() -> None:
    """Spare ~2 s of start-up: torch.optim imports torch._dynamo on the first optimiser only to mark
    ``add_param_group``/``zero_grad``/``state_dict``/``load_state_dict`` as never-compiled. painterly
    never compiles, so fill torch's own per-function cache (``__dynamo_disable``) with the plain
    function. Harmless if torch changes."""
    import sys

    if "torch._dynamo" in sys.modules:
        return
    optimizer = torch.optim.Optimizer
    for method in (
        optimizer.add_param_group,
        optimizer.zero_grad,
        optimizer.state_dict,
        optimizer.load_state_dict,
    ):
        raw = getattr(method, "__wrapped__", None)
        if raw is not None and getattr(raw, "__dynamo_disable", None) is None:
            raw.__dynamo_disable = raw


# What a scale's optimizer minimizes: an image -> (weighted total, parts by name). An ``Objective``
# (``painterly.objective``) is one; so is any function of that shape (tests, benchmarks).
LossFunction = Callable[[torch.Tensor], tuple[torch.Tensor, dict[str, torch.Tensor]]]


class ScaleOptimizer:
    """Spends ``iterations`` objective evaluations from a start image at one scale.

    Each evaluation counts as one iteration (line-search trials included), so costs are what the
    progress bar shows. L-BFGS steps one iteration per ``step`` call (its history lives in its state
    across calls); each call re-evaluates its start point, which the closure's memo answers for free
    (the last evaluation, and the lowest, which is where a line search that zoomed ends).
    """

    def __init__(
        self,
        state: RunState,
        objective: LossFunction,
        iterations: int,
        emit: Callable[[Event], None],
        preview_every: int,
        stopped: Callable[[], bool],
        steer: Callable[[int], bool] = lambda done: False,
        between: Callable[[ScaleOptimizer], None] = lambda optimizer: None,
        expires: float | None = None,
        planned: int | None = None,
    ) -> None:
        """``steer(done)`` applies changes due before the next evaluation; True if the objective changed.
        ``between(self)`` is called after every step, where ``state_dict`` is complete (checkpoints).
        The optimiser's own settings (kind, rate, averaging) are the state's, which steering keeps.
        ``expires``: the run's ``elapsed`` at which the scale ends, spent or not (a time budget); ending
        there before ``planned`` evaluations (default: all) is recorded as the run's ``stop_reason``."""
        self.state, self.objective, self.steer = state, objective, steer
        self.iterations, self.budget, self.between, self.expires = iterations, iterations, between, expires
        self.planned = iterations if planned is None else planned
        self.emit, self.preview_every, self.stopped = emit, preview_every, stopped
        self._memo: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = []
        self._graph: graphs.GraphedEvaluation | None = None
        self._capture = False  # whether to capture the next evaluation (``graphs``)

    def run(self, start: torch.Tensor, resume: dict[str, Any] | None = None) -> torch.Tensor:
        """Optimise from ``start``; return the best iterate (or the moving average, when asked).
        ``resume``: a ``state_dict`` saved at this scale, to continue from where it was taken."""
        s = self.state.settings
        self.x = start.detach().clone().requires_grad_(True)
        self.state.best, self.state.best_image = math.inf, self.x.detach().clone()
        decay = s.ema_decay()
        self.ema = (self.x.detach().clone(), decay) if decay else None
        _skip_dynamo_import()
        while True:
            self.optimizer = self._optimizer()
            try:
                fresh = resume is None or resume["optimizer"] is None
                if resume is not None:
                    self._restore(resume)
                    resume = None
                self._capture = graphs.worthwhile(self.objective, self.x, self.budget)  # what is left
                if fresh and s.optimizer == "lbfgs":
                    self._first_step()
                    self.between(self)
                while self.budget > 0:
                    before = self.budget
                    if s.optimizer == "lbfgs":  # its line search may spend all that is left
                        self.optimizer.param_groups[0]["max_eval"] = self.budget + 1
                    self.optimizer.step(self._closure)
                    if self.budget == before:  # a step that evaluated nothing: a zero gradient, done
                        break
                    self.between(self)
            except _Stop:
                pass
            except _Restart:
                # Values of the old objective say nothing of the new one: best and memo start again.
                # Restart from the best point so far (not a line-search trial).
                with torch.no_grad():
                    self.x.copy_(self.state.best_image)
                self._memo, self.state.best = [], math.inf
                continue
            finally:  # a graph holds private memory, and the weights of the objective it captured
                self._graph = None
            return self._result()

    def state_dict(self) -> dict[str, Any]:
        """Everything the scale's remaining steps depend on (CPU tensors), taken between steps."""
        cpu = lambda t: t.detach().cpu().clone()  # noqa: E731
        return {
            "x": cpu(self.x),
            "budget": self.budget,
            "optimizer": to_cpu(self.optimizer.state_dict()),
            "memo": [[cpu(x), cpu(loss), cpu(grad)] for x, loss, grad in self._memo],
            "ema": None if self.ema is None else cpu(self.ema[0]),
            "best": self.state.best,
            "best_image": cpu(self.state.best_image),
        }

    def after_stop(self) -> dict[str, Any]:
        """A ``state_dict`` to continue from after a stop, which may come mid-step: the best image so
        far with the scale's budget left, for a fresh optimiser (its history is not kept)."""
        saved = self.state_dict() | {"optimizer": None, "memo": [], "best": math.inf}
        saved["x"] = saved["best_image"]
        return saved

    def _restore(self, saved: dict[str, Any]) -> None:
        device = self.x.device
        with torch.no_grad():
            self.x.copy_(saved["x"])
        self.budget = int(saved["budget"])
        if saved["optimizer"] is not None:
            self.optimizer.load_state_dict(saved["optimizer"])
        self._memo = [(x.to(device), loss.to(device), grad.to(device)) for x, loss, grad in saved["memo"]]
        if self.ema is not None and saved["ema"] is not None:
            self.ema[0].copy_(saved["ema"])
        self.state.best, self.state.best_image = float(saved["best"]), saved["best_image"].to(device)

    def _optimizer(self) -> torch.optim.Optimizer:
        s = self.state.settings
        if s.optimizer == "adam":
            return torch.optim.Adam([self.x], lr=s.learning_rate or 0.02)
        return torch.optim.LBFGS(
            [self.x],
            lr=s.learning_rate or 1.0,
            max_iter=1,  # one iteration per step: a checkpoint can follow any of them
            max_eval=self.budget + 1,
            history_size=LBFGS_HISTORY_HOST_BOUND if graphs.host_bound(self.x) else LBFGS_HISTORY,
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
        self.optimizer.step(self._closure)
        group["lr"] = lr

    def _closure(self) -> torch.Tensor:
        x = self.x
        if self.stopped():
            raise _Stop
        for point, value, grad in self._memo:
            if torch.equal(point, x.detach()):
                x.grad = grad.clone()
                return value
        if self.budget <= 0:
            raise _Stop
        if self.expires is not None and self.state.elapsed >= self.expires:
            if self.iterations - self.budget < self.planned:
                self.state.stop_reason = "time budget"
            raise _Stop
        if self.steer(self.state.done):
            raise _Restart
        self.budget -= 1
        total, parts = self._evaluate(x)
        self._record(float(total.detach()), parts)
        self._remember(x.detach().clone(), total.detach(), x.grad.detach().clone())
        return total

    def _evaluate(self, x: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The objective at ``x``, its gradient left in ``x.grad``: from a CUDA graph where one pays."""
        if self._capture:
            self._capture, self._graph = False, graphs.capture(self.objective, x)
        if self._graph is not None:
            total, parts, x.grad = self._graph(x)
            return total, parts
        self.optimizer.zero_grad(set_to_none=True)
        total, parts = self.objective(x)
        total.backward()
        return total, parts

    def _remember(self, x: torch.Tensor, value: torch.Tensor, grad: torch.Tensor) -> None:
        """Keep the latest evaluation and the lowest before it: a step ends at one of them."""
        earlier = min(self._memo, key=lambda entry: float(entry[1]), default=None)
        self._memo = [(x, value, grad)]
        if earlier is not None and float(earlier[1]) < float(value):
            self._memo.append(earlier)

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
        if not any(torch.equal(point, x) for point, _, _ in self._memo):
            with torch.no_grad():
                if float(self.objective(x)[0]) < self.state.best:
                    self.state.best_image = x.clone()
        return self.state.best_image.clamp(0, 1)
