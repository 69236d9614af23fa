"""The one error type for everything a user can cause."""


class PainterlyError(Exception):
    """A problem with the user's input or environment, worth one line of explanation.

    Faces (CLI, web) show ``str(error)`` and exit or report; any other exception is a bug.
    """


def device_out_of_memory(exc: BaseException) -> bool:
    """Whether ``exc`` is the accelerator running out of memory: torch raises a RuntimeError (CUDA's
    ``torch.OutOfMemoryError``, MPS's plain one) saying so. The user's fix is a smaller size, not a bug."""
    return isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower()
