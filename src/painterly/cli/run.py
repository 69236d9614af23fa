"""The commands that make or read one image: run, demo, styles, info and rerun."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path
from typing import Any

import click

from ..errors import PainterlyError
from ..settings import Settings, fields_of, named_files, path_fields
from .app import cli
from .generated import build_settings, settings_options
from .running import checkpoint_option, execute, unused


@cli.command()
@click.argument("content")
@click.argument("styles", nargs=-1, required=True)
@click.option(
    "-o", "--output", help="output image (.png, .jpg, .webp) [default: CONTENT-STYLE.png, never overwriting]"
)
@click.option(
    "--save-every", type=int, default=0, help="also save the image every N iterations as OUT-NNNNN.png"
)
@click.option("--quiet", is_flag=True, help="no progress bar or messages")
@checkpoint_option()
@click.option("--resume", is_flag=True, help="continue the unfinished run of -o OUT from its checkpoint")
@click.option(
    "--interactive",
    is_flag=True,
    help="steer the run with keys (s/S style, c/C content, t/T smoothness, f/F faces, b blend, q stop; "
    "? lists them) in a terminal",
)
@settings_options
def run(
    content: str,
    styles: tuple[str, ...],
    output: str | None,
    save_every: int,
    quiet: bool,
    checkpoint_every: float,
    resume: bool,
    interactive: bool,
    **opts: Any,
) -> None:
    """Stylise CONTENT after one or more STYLE images (paths or built-in style names)."""
    if interactive:
        from .keyboard import check_terminal

        if quiet:
            raise PainterlyError("--interactive shows its keys under the progress bar: drop --quiet")
        check_terminal()
    settings = build_settings(content, styles, **opts)
    if resume and output is None:
        raise PainterlyError("--resume needs -o OUT, the output of the run to continue")
    default = unused(Path(f"{Path(content).stem}-{Path(styles[0]).stem}"))
    execute(
        settings,
        output or default,
        quiet=quiet,
        save_every=save_every,
        checkpoint_every=checkpoint_every,
        resume=resume,
        interactive=interactive,
    )


@cli.command()
@click.argument("output")
@checkpoint_option("seconds between checkpoints from here on; 0: none")
@click.option("--quiet", is_flag=True)
def resume(output: str, checkpoint_every: float, quiet: bool) -> None:
    """Finish the run that writes OUTPUT from its checkpoint (OUTPUT.ckpt), where it stopped: after
    Ctrl-C, a kill, a crash or a reboot. Same inputs, settings and painterly version only."""
    from ..checkpoints import path_for, settings_of

    settings = settings_of(path_for(output))
    execute(settings, output, quiet=quiet, checkpoint_every=checkpoint_every, resume=True)


@cli.command()
@click.option("-o", "--output", help="output image [default: painterly-demo.png, never overwriting]")
@click.option("--style", default="starry_night", show_default=True, help="built-in style name or image path")
@click.option("--quiet", is_flag=True)
def demo(output: str | None, style: str, quiet: bool) -> None:
    """Stylise the built-in photo (NASA's astronaut portrait) with a built-in painting."""
    from ..images import demo_content

    settings = Settings(content=str(demo_content()), styles=(style,))
    execute(settings, output or unused(Path("painterly-demo")), quiet=quiet)


@cli.command()
def styles() -> None:
    """List the built-in (public-domain) style paintings."""
    from ..images import builtin_styles

    for name, path in sorted(builtin_styles().items()):
        click.echo(f"{name}\t{path}")


@cli.command()
@click.argument("image")
def info(image: str) -> None:
    """Print the settings and provenance embedded in an image painterly wrote."""
    import json

    from ..images import read_metadata

    click.echo(json.dumps(read_metadata(image), indent=2, sort_keys=True))


def _record_paths(declared: type = Settings):
    """A decorator adding one option per path field of ``declared``: the file to use instead of the
    one a record names (``--style``, repeatable, for the list of styles)."""

    def decorate(func):
        many = {f.name: isinstance(f.default, tuple) for f in fields(declared)}
        for name, paths in reversed(path_fields(declared).items()):
            flag = "--" + (name.removesuffix("s") if many[name] else name).replace("_", "-")
            func = click.option(
                flag,
                name,
                multiple=many[name],
                default=None,
                help=f"a {paths.label} to use, repeatable (the record's paths are not followed)"
                if many[name]
                else f"the {paths.label} to use (the record's path is not followed)",
            )(func)
        return func

    return decorate


def unfollowed(settings: Settings, given: dict[str, Any]) -> tuple[str, str] | None:
    """The first (field, path) in ``settings`` naming a file that ``given`` does not replace: what
    ``rerun`` refuses to follow. Start kinds, built-in weights and built-in styles name no user file."""
    from ..images import builtin_styles

    values, declared = fields_of(settings), type(settings)
    for name, paths in path_fields(declared).items():
        safe = builtin_styles() if paths.builtin_styles else {}
        found = [path for path in named_files(values, name, declared) if path not in safe]
        if name not in given and found:
            return name, found[0]
    return None


@cli.command()
@click.argument("image")
@click.option(
    "-o", "--output", help="where to write the repeat [default: IMAGE-rerun.png, never overwriting]"
)
@_record_paths()
@click.option(
    "--trust-record",
    is_flag=True,
    help="follow the image and weights paths named in IMAGE (only for your own)",
)
@click.option("--quiet", is_flag=True)
def rerun(image: str, output: str | None, trust_record: bool, quiet: bool, **paths: Any) -> None:
    """Repeat the run that produced IMAGE, from the settings embedded in it.

    IMAGE may come from someone else: any file it names (content, styles, mask, init, weights) is
    refused unless given here (--content, --style, ...) or --trust-record is passed; built-in style
    names and start kinds need neither."""
    from ..jobs import read_record

    given = {name: value for name, value in paths.items() if value not in (None, ())}
    record = read_record(image)
    settings = record.settings_value().with_(**given)
    refused = None if trust_record else unfollowed(settings, given)
    if refused:
        name, path = refused
        flag = "--style" if name == "styles" else f"--{name.replace('_', '-')}"
        raise PainterlyError(
            f"{image} names the {name} path {path!r}; give it with {flag} PATH or pass --trust-record"
        )
    source = Path(image)
    target = output or unused(source.with_name(f"{source.stem}-rerun"))
    execute(settings, target, quiet=quiet, steering=record.steering())
