"""The one error type for everything a user can cause."""


class PainterlyError(Exception):
    """A problem with the user's input or environment, worth one line of explanation.

    Faces (CLI, web) show ``str(error)`` and exit or report; any other exception is a bug.
    """


def device_out_of_memory(exc: BaseException) -> bool:
    """Whether ``exc`` is the accelerator running out of memory: torch raises a RuntimeError (CUDA's
    ``torch.OutOfMemoryError``, MPS's plain one) saying so. The user's fix is a smaller size, not a bug."""
    return isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower()


def disk_full(exc: BaseException) -> bool:
    """Whether ``exc``, or the error it was raised from (a PainterlyError telling a failed write), says the
    disk (or quota) is full: OSError ENOSPC/EDQUOT or SQLITE_FULL."""
    import errno
    import sqlite3

    if exc.__cause__ is not None and disk_full(exc.__cause__):
        return True
    if isinstance(exc, OSError):
        return exc.errno in (errno.ENOSPC, errno.EDQUOT)
    return isinstance(exc, sqlite3.OperationalError) and "full" in str(exc).lower()


def user_message(
    exc: BaseException,
    *,
    size: str = "size",
    device: str | None = None,
    disk: str = "the disk is full; free some space and try again",
) -> str | None:
    """The one line every face shows for ``exc`` when the user can act on it (bad input, too little
    memory, a full disk), else None: a bug, whose traceback the face keeps. ``size`` and ``device``
    name the options in the face's own words (``--size``); without ``device`` an accelerator running
    out of memory reads as any other out-of-memory; ``disk``: what to say when the disk is full, first (a
    failed write's own line names the file, which a web visitor must not see)."""
    if disk_full(exc):
        return disk
    if isinstance(exc, PainterlyError):
        return str(exc)
    if isinstance(exc, MemoryError) or (device is None and device_out_of_memory(exc)):
        return f"out of memory: try a smaller {size}"
    if device_out_of_memory(exc):
        return f"out of memory on the device: try a smaller {size} or {device} cpu"
    return None
