"""Shared fixtures: the classic test images in ../shared/images and tiny, fast settings."""

from __future__ import annotations

from pathlib import Path

import pytest

IMAGES = Path(__file__).resolve().parents[2] / "shared" / "images"


@pytest.fixture(scope="session")
def images() -> Path:
    if not (IMAGES / "tubingen.jpg").is_file():
        pytest.fail(f"test images missing: expected ../shared/images beside the checkout ({IMAGES})")
    return IMAGES


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    """Keep the weights cache shared across tests but out of the user's real cache when CI sets one."""
    cache = tmp_path_factory.getbasetemp().parent / "painterly-cache"
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache))
