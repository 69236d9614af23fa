"""Click options generated from the option declarations, so every face offers the same ones."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import click

from ..options import Option, options
from ..settings import Settings


def _click_option(opt: Option):
    """The click option of one Settings field: default and help from its declaration."""
    if opt.kind is bool:
        flag = f"{opt.flag}/--no-{opt.flag[2:]}"
        return click.option(flag, opt.name, default=opt.default, show_default=True, help=opt.help)
    if opt.choices:
        kind: Any = click.Choice(opt.choices)
    elif opt.words:
        kind = _Worded(opt)
    else:
        kind = str if opt.many else opt.kind
    default = (opt.format(opt.default) or None) if opt.many else opt.default
    return click.option(
        opt.flag, *opt.aliases, opt.name, type=kind, default=default, show_default=True, help=opt.help
    )


class _Worded(click.ParamType):
    """A number that may also be given as a word (``--size auto``), parsed by its declaration."""

    def __init__(self, opt: Option) -> None:
        self.opt = opt
        self.name = f"{opt.kind.__name__}|{'|'.join(word for word, _ in opt.words)}"

    def convert(self, value: Any, param: Any, ctx: Any) -> Any:
        from ..errors import PainterlyError

        if not isinstance(value, str):
            return value
        try:
            return self.opt.parse(value)
        except PainterlyError as exc:
            self.fail(str(exc), param, ctx)


def click_options(declared: type | Sequence[Option]):
    """A decorator adding one click option per field of ``declared`` (a class, or options already
    read off one), from its declaration."""

    def decorate(func):
        for opt in reversed(options(declared) if isinstance(declared, type) else declared):
            func = _click_option(opt)(func)
        return func

    return decorate


settings_options = click_options(Settings)  # every engine option, shared by every command that runs jobs


def option_values(declared: Sequence[Option] | None = None, **opts: Any) -> dict[str, Any]:
    """``settings_options`` values (or those of ``declared``) as field values (list options arrive as
    comma-separated text); unvalidated, as a batch adds its manifest rows first."""
    for opt in options() if declared is None else declared:
        if opt.many:
            opts[opt.name] = opt.parse(opts[opt.name] or "")
    return opts


def build_settings(content: str, styles: tuple[str, ...], **opts: Any) -> Settings:
    return Settings(content=content, styles=tuple(styles), **option_values(**opts)).validated()
