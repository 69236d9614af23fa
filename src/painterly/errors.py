"""The one error type for everything a user can cause."""


class PainterlyError(Exception):
    """A problem with the user's input or environment, worth one line of explanation.

    Faces (CLI, web) show ``str(error)`` and exit or report; any other exception is a bug.
    """
