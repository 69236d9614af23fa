"""The short-term temporal loss of Ruder et al. 2016 as an engine ``LossTerm``."""

from __future__ import annotations

from collections.abc import Mapping

import torch
import torch.nn.functional as F


class TemporalLoss:
    """Keeps a frame close to its predecessor's stylisation moved along the optical flow.

    ``(1/D) * sum(c * (x - w)^2)`` with ``w`` the warped previous stylised frame, ``c`` the reliability
    mask (0 where the flow cannot be trusted: there the frame is free), D the number of values. Works
    at any running scale: target and mask are resized to the iterate's size (once per size).
    """

    layers: tuple[str, ...] = ()

    def __init__(self, warped: torch.Tensor, reliable: torch.Tensor, weight: float, name: str = "temporal"):
        """``warped``: (1, 3, H, W) in [0, 1]; ``reliable``: (1, 1, H, W) in [0, 1]."""
        self.name, self.weight = name, weight
        self._target, self._mask = warped.detach().float(), reliable.detach().float()
        self._sized: dict[tuple, tuple[torch.Tensor, torch.Tensor]] = {}

    def _at(self, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        key = (tuple(like.shape[-2:]), like.device)
        if key not in self._sized:
            target, mask = self._target, self._mask
            if target.shape[-2:] != like.shape[-2:]:
                target = F.interpolate(target, size=like.shape[-2:], mode="bilinear", align_corners=False)
                mask = F.interpolate(mask, size=like.shape[-2:], mode="area")
            self._sized[key] = (target.to(like.device), mask.to(like.device))
        return self._sized[key]

    def __call__(self, image: torch.Tensor, features: Mapping[str, torch.Tensor]) -> torch.Tensor:
        target, mask = self._at(image)
        return (mask * (image.float() - target) ** 2).sum() / image.numel()
