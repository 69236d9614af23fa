"""The ``painterly`` command: a thin face over ``jobs.Job``, one module per command group.

Heavy imports happen inside commands, so ``--help`` stays instant."""

from __future__ import annotations

from . import batch, explain, grid, run, serve, video  # noqa: F401  (each registers its commands)
from .app import cli, main

__all__ = ["cli", "main"]
