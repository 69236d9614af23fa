"""One evaluation of an objective (its value, its parts and the gradient) captured as a CUDA graph.

At 512 px on an H200 an evaluation kept the GPU busy ~2.2 ms of every ~10 ms: the rest was the host
launching ~350 small kernels (torch profiler). A graph launches them all at once. It pays where a
scale runs many evaluations on a small image; a coarse-to-fine draft's scales run a handful each
and its large ones are bound by the GPU, so those stay eager. Only objectives that declare
themselves ``capturable`` are captured (no host reads, no random draws, no user terms); a capture
that fails anyway leaves the scale eager.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

# A scale is captured when it has at least this many evaluations left (on an H200 a capture cost
# about what 25-45 graphed evaluations saved) and its image at most this many pixels (above it the
# GPU, not the host launching kernels, is the limit).
MIN_EVALUATIONS = 64
MAX_PIXELS = 1 << 20
_WARMUP = 2  # eager evaluations on a side stream first: cuBLAS/cuDNN set up outside the graph

Evaluation = tuple[torch.Tensor, dict[str, torch.Tensor], torch.Tensor]


def host_bound(image: torch.Tensor) -> bool:
    """Whether evaluations on ``image`` wait on the host (launches, reads back), not on the GPU."""
    return image.is_cuda and image.shape[-1] * image.shape[-2] <= MAX_PIXELS


def worthwhile(objective: object, image: torch.Tensor, evaluations: int) -> bool:
    """Whether capturing ``objective`` on ``image`` for ``evaluations`` more evaluations pays."""
    return host_bound(image) and getattr(objective, "capturable", False) and evaluations >= MIN_EVALUATIONS


class GraphedEvaluation:
    """``objective`` and its gradient at one image shape, replayed from a CUDA graph.

    Calling it on an image of the captured shape returns ``(total, parts, gradient)``, each a fresh
    tensor (the graph's own outputs are overwritten by the next replay). Values the objective reads
    from the run's settings are fixed at capture: capture again after steering changes them.
    """

    def __init__(self, objective: Callable, like: torch.Tensor) -> None:
        self.x = like.detach().clone().requires_grad_(True)
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            for _ in range(_WARMUP):
                self.x.grad = None
                objective(self.x)[0].backward()
        torch.cuda.current_stream().wait_stream(side)
        self.x.grad = None
        self.graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(self.graph):
            self.total, self.parts = objective(self.x)
            self.total.backward()
        self.gradient = self.x.grad

    def __call__(self, image: torch.Tensor) -> Evaluation:
        with torch.no_grad():
            self.x.copy_(image)
        self.graph.replay()
        parts = {name: value.detach().clone() for name, value in self.parts.items()}
        return self.total.detach().clone(), parts, self.gradient.clone()


def capture(objective: Callable, like: torch.Tensor) -> GraphedEvaluation | None:
    """A graph of ``objective`` at ``like``'s shape, or None where the capture fails (the scale then
    runs eager: a graph is a speed-up, never a requirement)."""
    stream = torch.cuda.current_stream()
    try:
        return GraphedEvaluation(objective, like)
    except RuntimeError:
        torch.cuda.set_stream(stream)  # a capture that failed to end leaves its own stream current
        torch.cuda.synchronize()
        return None
