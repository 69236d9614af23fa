"""The ``painterly`` command: a thin face over ``jobs.Job``. Heavy imports happen inside commands."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from pathlib import Path
from typing import Any

import click

from .errors import PainterlyError
from .settings import CHOICES, DEFAULTS, Settings, help_text

EXIT_INTERRUPTED = 130


class _DefaultGroup(click.Group):
    """``painterly CONTENT STYLE ...`` means ``painterly run CONTENT STYLE ...``."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h", "--version"):
            args = ["run", *args]
        return super().parse_args(ctx, args)


def _numbers(text: str | None, kind: type = float) -> tuple:
    """Comma-separated numbers of ``kind`` (float or int); empty text gives ()."""
    if not text:
        return ()
    try:
        return tuple(kind(v) for v in text.split(","))
    except ValueError:
        what = "integers" if kind is int else "numbers"
        raise PainterlyError(f"expected comma-separated {what}, got {text!r}") from None


def _names(text: str | None) -> tuple[str, ...]:
    return tuple(v.strip() for v in text.split(",") if v.strip()) if text else ()


def _opt(name: str, *decls: str, **kw: Any):
    """A click option whose default and help come from ``Settings`` (the one home of defaults)."""
    default = getattr(DEFAULTS, name)
    if isinstance(default, tuple):
        default = ",".join(map(str, default)) or None
    flag = "--" + name.replace("_", "-")
    if isinstance(default, bool):
        flag = f"{flag}/--no-{name.replace('_', '-')}"
    return click.option(flag, *decls, name, default=default, show_default=True, help=help_text(name), **kw)


def settings_options(func):
    """Every engine option; shared by ``run`` and ``grid``."""
    options = [
        _opt("size", "-s", type=int),
        _opt("quality", "-q", type=click.Choice(CHOICES["quality"])),
        _opt("scales", type=int),
        _opt("iterations", "-n", type=int),
        _opt("coarse_iterations", type=int),
        _opt("content_weight", type=float),
        _opt("style_weight", type=float),
        _opt("tv_weight", type=float),
        _opt("style_blend", type=str),
        _opt("style_scale", type=float),
        _opt("content_layers", type=str),
        _opt("style_layers", type=str),
        _opt("style_layer_weights", type=str),
        _opt("style_loss", type=click.Choice(CHOICES["style_loss"])),
        _opt("pooling", type=click.Choice(CHOICES["pooling"])),
        _opt("init", type=str),
        _opt("optimizer", type=click.Choice(CHOICES["optimizer"])),
        _opt("learning_rate", "--lr", type=float),
        _opt("ema", type=float),
        _opt("seed", type=int),
        _opt("device", type=click.Choice(CHOICES["device"])),
        _opt("precision", type=click.Choice(CHOICES["precision"])),
        _opt("preserve_colors", type=click.Choice(CHOICES["preserve_colors"])),
        _opt("color_strength", type=float),
        _opt("mask", type=str),
        _opt("mask_styles", type=str),
        _opt("protect_faces"),
        _opt("weights", type=str),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def build_settings(content: str, styles: tuple[str, ...], **opts: Any) -> Settings:
    for key in ("style_blend", "style_layer_weights"):
        opts[key] = _numbers(opts[key])
    for key in ("content_layers", "style_layers"):
        opts[key] = _names(opts[key])
    opts["mask_styles"] = _numbers(opts["mask_styles"], int)
    opts["mask"] = opts["mask"] or ""
    return Settings(content=content, styles=tuple(styles), **opts).validated()


def _fail(message: str, code: int = 2) -> None:
    click.echo(f"painterly: error: {message}", err=True)
    sys.exit(code)


def _unused(base: Path) -> Path:
    """``base.png``, or ``base-N.png`` with the first N that names no existing file."""
    candidate = base.with_name(f"{base.name}.png")
    n = 1
    while candidate.exists():
        candidate = base.with_name(f"{base.name}-{n}.png")
        n += 1
    return candidate


def execute(settings: Settings, output: str | os.PathLike, *, quiet: bool, save_every: int = 0) -> None:
    """Run a job with a progress bar, Ctrl-C handling and intermediate saves; exit non-zero on failure."""
    from .jobs import Job

    job = Job(settings, output)
    inputs = job.load_inputs()
    say = (lambda *a, **k: None) if quiet else (lambda msg: click.echo(msg, err=True))
    estimate = job.estimate_seconds(inputs[0])
    width, height = job.stylizer.output_size(inputs[0])
    say(
        f"painterly: {width}x{height}, {len(settings.schedule())} scale(s), "
        f"{sum(i for _, i in settings.schedule())} iterations on {job.stylizer.device.type} "
        f"({job.stylizer.precision}); estimated {_duration(estimate)}"
    )
    on_event = _Progress(job, quiet, save_every)
    with _stop_on_ctrl_c(job, quiet):
        try:
            record = job.run(on_event, preview_every=save_every, inputs=inputs)
        finally:
            on_event.close()
    if record.interrupted:
        say(
            f"painterly: interrupted after {record.iterations} iterations; best image so far saved to {job.output}"
        )
        sys.exit(EXIT_INTERRUPTED)
    say(f"painterly: wrote {job.output} in {_duration(record.elapsed)} (estimated {_duration(estimate)})")


@contextlib.contextmanager
def _stop_on_ctrl_c(job, quiet: bool):
    """First Ctrl-C asks the job to stop (it then saves its best image); a second one aborts."""
    previous = signal.getsignal(signal.SIGINT)

    def interrupt(signum, frame):
        job.stop()
        if not quiet:
            click.echo(
                "\npainterly: stopping; saving the best image so far (Ctrl-C again to abort)", err=True
            )
        signal.signal(signal.SIGINT, previous)

    signal.signal(signal.SIGINT, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.1f} min"


class _Progress:
    """Turns engine events into a tqdm bar and intermediate files."""

    def __init__(self, job, quiet: bool, save_every: int, total: int = 0) -> None:
        from tqdm import tqdm

        total = total or sum(i for _, i in job.settings.schedule())
        self.bar = tqdm(total=total, disable=quiet, unit="it", dynamic_ncols=True, file=sys.stderr)
        self.job, self.save_every = job, save_every

    def __call__(self, event) -> None:
        from .engine import Iteration, Preview, ScaleStarted
        from .images import save_image

        if isinstance(event, ScaleStarted):
            self.bar.set_description(f"scale {event.index + 1}/{event.count} {event.width}x{event.height}")
        elif isinstance(event, Iteration):
            losses = event.losses
            self.bar.set_postfix(
                content=f"{losses['content']:.3g}",
                style=f"{losses['style']:.3g}",
                tv=f"{losses['tv']:.3g}",
                refresh=False,
            )
            self.bar.update(1)
        elif isinstance(event, Preview) and self.save_every:
            out = self.job.output
            save_image(event.image, out.with_name(f"{out.stem}-{event.iteration:05d}{out.suffix}"))

    def close(self) -> None:
        self.bar.close()


# --- commands -------------------------------------------------------------------------------------


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
@settings_options
def run(
    content: str, styles: tuple[str, ...], output: str | None, save_every: int, quiet: bool, **opts: Any
) -> None:
    """Stylise CONTENT after one or more STYLE images (paths or built-in style names)."""
    settings = build_settings(content, styles, **opts)
    default = _unused(Path(f"{Path(content).stem}-{Path(styles[0]).stem}"))
    execute(settings, output or default, quiet=quiet, save_every=save_every)


@cli.command()
@click.option("-o", "--output", help="output image [default: painterly-demo.png, never overwriting]")
@click.option("--style", default="starry_night", show_default=True, help="built-in style name or image path")
@click.option("--quiet", is_flag=True)
def demo(output: str | None, style: str, quiet: bool) -> None:
    """Stylise the built-in photo (NASA's astronaut portrait) with a built-in painting."""
    from .images import demo_content

    settings = Settings(content=str(demo_content()), styles=(style,))
    execute(settings, output or _unused(Path("painterly-demo")), quiet=quiet)


@cli.command()
def styles() -> None:
    """List the built-in (public-domain) style paintings."""
    from .images import builtin_styles

    for name, path in sorted(builtin_styles().items()):
        click.echo(f"{name}\t{path}")


@cli.command()
@click.argument("image")
def info(image: str) -> None:
    """Print the settings and provenance embedded in an image painterly wrote."""
    import json

    from .images import read_metadata

    click.echo(json.dumps(read_metadata(image), indent=2, sort_keys=True))


@cli.command()
@click.argument("image")
@click.option(
    "-o", "--output", help="where to write the repeat [default: IMAGE-rerun.png, never overwriting]"
)
@click.option("--quiet", is_flag=True)
def rerun(image: str, output: str | None, quiet: bool) -> None:
    """Repeat the run that produced IMAGE, from the settings embedded in it."""
    from .jobs import read_record

    settings = read_record(image).settings_value()
    source = Path(image)
    execute(settings, output or _unused(source.with_name(f"{source.stem}-rerun")), quiet=quiet)


@cli.command()
@click.argument("content")
@click.argument("styles", nargs=-1, required=True)
@click.option(
    "--style-weights", "sweep_weights", required=True, help="comma-separated style weights, one column each"
)
@click.option(
    "--style-scales", "sweep_scales", default=None, help="comma-separated style scales, one row each"
)
@click.option("-o", "--output", help="the contact sheet [default: grid.png, never overwriting]")
@click.option("--quiet", is_flag=True)
@settings_options
def grid(
    content: str,
    styles: tuple[str, ...],
    sweep_weights: str,
    sweep_scales: str | None,
    output: str,
    quiet: bool,
    **opts,
) -> None:
    """Render CONTENT x STYLE at several style weights (and style scales) as one labelled sheet."""
    import json

    from .grid import sweep
    from .images import save_image
    from .jobs import Job

    weights, scales = list(_numbers(sweep_weights)), list(_numbers(sweep_scales))
    if any(w < 0 for w in weights + scales) or not weights:
        raise PainterlyError("--style-weights and --style-scales take numbers >= 0")
    job = Job(build_settings(content, styles, **opts), output or _unused(Path("grid")))
    per_run = sum(i for _, i in job.settings.schedule())
    progress = _Progress(job, quiet, 0, total=per_run * len(weights) * max(1, len(scales)))
    with _stop_on_ctrl_c(job, quiet):
        try:
            sheet, labels = sweep(job, weights, scales or None, on_event=progress)
        finally:
            progress.close()
    save_image(sheet, job.output, {"grid": labels, "settings": json.loads(job.settings.to_json())})
    if job.stopped:
        if not quiet:
            click.echo(f"painterly: interrupted; {len(labels)} variant(s) saved to {job.output}", err=True)
        sys.exit(EXIT_INTERRUPTED)
    if not quiet:
        click.echo(f"painterly: wrote {job.output} ({len(labels)} variants)", err=True)


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=7860, show_default=True, type=int)
@click.option("--data", default=None, help="data folder for the gallery and queue [default: user data dir]")
def serve(host: str, port: int, data: str | None) -> None:
    """Start the web app (live preview, queue, gallery)."""
    from .web.server import serve as run_server

    run_server(host=host, port=port, data=data)


def main() -> None:
    try:
        cli.main(standalone_mode=False)
    except click.exceptions.Abort:
        _fail("aborted", EXIT_INTERRUPTED)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except PainterlyError as exc:
        _fail(str(exc))
    except KeyboardInterrupt:
        _fail("interrupted", EXIT_INTERRUPTED)
    except MemoryError:
        _fail("out of memory: try a smaller --size")
    except RuntimeError as exc:
        if "out of memory" not in str(exc).lower():
            raise
        _fail("out of memory on the device: try a smaller --size or --device cpu")


if __name__ == "__main__":
    main()
