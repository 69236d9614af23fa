"""painterly's version, read from the installed package's metadata so that it cannot go stale."""

from __future__ import annotations


def painterly_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("painterly")
    except PackageNotFoundError:  # a source tree that was never installed
        return "unknown"
