"""The ``painterly`` click group and its entry point: how commands parse and how failures exit."""

from __future__ import annotations

import sys

import click

from ..errors import user_message

EXIT_INTERRUPTED = 130


class _DefaultGroup(click.Group):
    """``painterly CONTENT STYLE ...`` means ``painterly run CONTENT STYLE ...``."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h", "--version"):
            args = ["run", *args]
        return super().parse_args(ctx, args)


def _fail(message: str, code: int = 2) -> None:
    click.echo(f"painterly: error: {message}", err=True)
    sys.exit(code)


@click.group(
    cls=_DefaultGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110}
)
@click.version_option(package_name="painterly")
def cli() -> None:
    """Neural style transfer: repaint a photo in the manner of a painting.

    \b
    painterly CONTENT STYLE [STYLE ...] -o OUT.png [options]   (same as: painterly run ...)
    painterly demo                                           (built-in photo and painting)
    """


def main() -> None:
    try:
        cli.main(standalone_mode=False)
    except click.exceptions.Abort:
        _fail("aborted", EXIT_INTERRUPTED)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        _fail("interrupted", EXIT_INTERRUPTED)
    except Exception as exc:
        message = user_message(exc, size="--size", device="--device")
        if message is None:
            raise
        _fail(message)
