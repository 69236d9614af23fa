"""The ``painterly`` command: a thin face over ``jobs.Job``. Heavy imports happen inside commands."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from dataclasses import fields, replace
from pathlib import Path
from typing import Any

import click

from .errors import PainterlyError, user_message
from .layers import FIGURE1_CONTENT_LAYERS
from .options import Option, option, options
from .settings import Settings, fields_of, named_files, path_fields
from .video.options import VideoOptions

EXIT_INTERRUPTED = 130


class _DefaultGroup(click.Group):
    """``painterly CONTENT STYLE ...`` means ``painterly run CONTENT STYLE ...``."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h", "--version"):
            args = ["run", *args]
        return super().parse_args(ctx, args)


def _click_option(opt: Option):
    """The click option of one Settings field: default and help from its declaration."""
    if opt.kind is bool:
        flag = f"{opt.flag}/--no-{opt.flag[2:]}"
        return click.option(flag, opt.name, default=opt.default, show_default=True, help=opt.help)
    if opt.choices:
        kind: Any = click.Choice(opt.choices)
    else:
        kind = str if opt.many else opt.kind
    default = (opt.format(opt.default) or None) if opt.many else opt.default
    return click.option(
        opt.flag, *opt.aliases, opt.name, type=kind, default=default, show_default=True, help=opt.help
    )


def _generated(declared: type | Sequence[Option]):
    """A decorator adding one click option per field of ``declared`` (a class, or options already
    read off one), from its declaration."""

    def decorate(func):
        for opt in reversed(options(declared) if isinstance(declared, type) else declared):
            func = _click_option(opt)(func)
        return func

    return decorate


settings_options = _generated(Settings)  # every engine option, shared by every command that runs jobs
video_options = _generated(VideoOptions)  # what a video adds
# explain's own defaults on the Settings options it takes (its content layers are Figure 1's)
EXPLAIN_OPTIONS = (
    replace(
        option("size"), default=None, help="longest side of the reconstructions [default: 512; --quick: 256]"
    ),
    replace(option("content_layers"), name="layers", default=FIGURE1_CONTENT_LAYERS, help="content layers"),
    replace(option("style_layers"), help="style layers"),
)


def option_values(declared: Sequence[Option] | None = None, **opts: Any) -> dict[str, Any]:
    """``settings_options`` values (or those of ``declared``) as field values (list options arrive as
    comma-separated text); unvalidated, as a batch adds its manifest rows first."""
    for opt in options() if declared is None else declared:
        if opt.many:
            opts[opt.name] = opt.parse(opts[opt.name] or "")
    return opts


def build_settings(content: str, styles: tuple[str, ...], **opts: Any) -> Settings:
    return Settings(content=content, styles=tuple(styles), **option_values(**opts)).validated()


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
        kept = f" ({job.output} kept as it was)" if record.output != str(job.output) else ""
        say(
            f"painterly: interrupted after {record.iterations} iterations; best image so far saved to "
            f"{record.output}{kept}"
        )
        sys.exit(EXIT_INTERRUPTED)
    say(f"painterly: wrote {job.output} in {_duration(record.elapsed)} (estimated {_duration(estimate)})")


def _stop_on_ctrl_c(job, quiet: bool):
    """First Ctrl-C asks the job (or token) to stop, so its best image is saved; a second one aborts."""
    from .interrupts import on_ctrl_c

    def stop() -> None:
        job.stop()
        if not quiet:
            click.echo(
                "\npainterly: stopping; saving the best image so far (Ctrl-C again to abort)", err=True
            )

    return on_ctrl_c(stop)


def _duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.1f} min"


class _Progress:
    """Turns engine events into a tqdm bar and intermediate files."""

    def __init__(self, job, quiet: bool, save_every: int, total: int = 0) -> None:
        from tqdm import tqdm

        total = total or sum(i for _, i in job.settings.schedule())
        self.bar = tqdm(total=total, disable=quiet, unit="it", dynamic_ncols=True, file=sys.stderr)
        self.job, self.save_every = job, save_every
        self.tile: dict[str, str] = {}

    def __call__(self, event) -> None:
        from .engine import Iteration, Preview, ScaleStarted, TileStarted
        from .images import save_image

        if isinstance(event, ScaleStarted):
            self.bar.set_description(f"scale {event.index + 1}/{event.count} {event.width}x{event.height}")
            self.tile = {}
        elif isinstance(event, TileStarted):
            self.tile = {"tile": f"{event.index + 1}/{event.count}"}
        elif isinstance(event, Iteration):
            if event.total > self.bar.total:  # tiled scales spend their iterations once per tile
                self.bar.total = event.total
            losses = event.losses
            self.bar.set_postfix(
                **self.tile,
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
    from .images import builtin_styles

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
    from .jobs import read_record

    given = {name: value for name, value in paths.items() if value not in (None, ())}
    settings = read_record(image).settings_value().with_(**given)
    refused = None if trust_record else unfollowed(settings, given)
    if refused:
        name, path = refused
        flag = "--style" if name == "styles" else f"--{name.replace('_', '-')}"
        raise PainterlyError(
            f"{image} names the {name} path {path!r}; give it with {flag} PATH or pass --trust-record"
        )
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
    from .jobs import Job, partial_path

    weights = list(option("style_weight").with_many().parse(sweep_weights))
    scales = list(option("style_scale").with_many().parse(sweep_scales or ""))
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
    target = partial_path(job.output) if job.stopped else job.output
    save_image(sheet, target, {"grid": labels, "settings": json.loads(job.settings.to_json())})
    if job.stopped:
        if not quiet:
            click.echo(f"painterly: interrupted; {len(labels)} variant(s) saved to {target}", err=True)
        sys.exit(EXIT_INTERRUPTED)
    if not quiet:
        click.echo(f"painterly: wrote {job.output} ({len(labels)} variants)", err=True)


def _manifest_columns(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    if value:
        from .batch.manifest import describe_columns

        click.echo(describe_columns())
        ctx.exit()


@cli.command()
@click.argument("contents", nargs=-1)
@click.option(
    "--style", "batch_styles", multiple=True, help="style image, folder or built-in name (repeatable)"
)
@click.option("-o", "--outdir", required=True, help="folder for the outputs, results.json and overview.png")
@click.option(
    "--zip",
    "zip_",
    is_flag=True,
    help="pair the i-th content with the i-th style instead of every combination",
)
@click.option(
    "--manifest", type=click.Path(dir_okay=False), help="CSV or JSON list of jobs; any setting as a column"
)
@click.option(
    "--manifest-columns",
    is_flag=True,
    is_eager=True,
    expose_value=False,
    callback=_manifest_columns,
    help="list the manifest's columns and exit",
)
@click.option("--ray", help="run on Ray: a cluster address, auto (RAY_ADDRESS) or local")
@click.option(
    "--cpus-per-job",
    type=int,
    default=2,
    show_default=True,
    help="CPUs per job on a Ray cluster without GPUs",
)
@click.option("--workers", type=int, default=1, show_default=True, help="jobs at once, one per GPU")
@click.option("--quiet", is_flag=True, help="no progress bars: one log line per job")
@settings_options
def batch(contents, batch_styles, outdir, zip_, manifest, ray, cpus_per_job, workers, quiet, **opts) -> None:
    """Stylise every CONTENT (file or folder) with every --style; resumable: run it again to go on."""
    from .batch.command import build_plan, run_batch

    specs, columns = build_plan(
        list(contents), list(batch_styles), option_values(**opts), zip_=zip_, manifest=manifest
    )
    sys.exit(
        run_batch(
            specs, outdir, ray=ray, cpus_per_job=cpus_per_job, workers=workers, quiet=quiet, columns=columns
        )
    )


@cli.command()
@click.argument("content")
@click.argument("style", required=False)
@click.option("-o", "--output", help="the sheet [default: CONTENT-explain.png, never overwriting]")
@_generated(EXPLAIN_OPTIONS)
@click.option(
    "--quick", is_flag=True, help="fewer iterations, 256 px by default: about a minute, for teaching"
)
@click.option("--result", help="a stylisation of CONTENT after STYLE: adds its style loss per layer")
@click.option("--quiet", is_flag=True)
def explain(
    content: str, style: str | None, output: str | None, result: str | None, quiet: bool, **opts
) -> None:
    """See what the network sees: content and style reconstructions, feature maps and Gram matrices
    (Gatys et al.'s Figure 1) for CONTENT and an optional STYLE, as one labelled sheet."""
    from tqdm import tqdm

    from .engine import Iteration, StopToken
    from .images import check_output, save_image
    from .inside import PanelDone, PanelStarted, render_sheet
    from .inside import explain as make_panels

    out = check_output(output or _unused(Path(f"{Path(content).stem}-explain")), [content, style, result])
    opts = option_values(EXPLAIN_OPTIONS, **opts)
    token, bars = StopToken(), []  # the bar appears once the inputs passed their checks

    def progress(event) -> None:
        if isinstance(event, PanelStarted):
            if not bars:
                bars.append(tqdm(total=event.count, disable=quiet, unit="panel", file=sys.stderr))
            bars[0].set_description(event.title)
        elif isinstance(event, Iteration):
            bars[0].set_postfix_str(f"iteration {event.iteration}/{event.total}")
        elif isinstance(event, PanelDone):
            bars[0].update(1)

    with _stop_on_ctrl_c(token, quiet):
        try:
            panels = make_panels(content, style, result=result, on_event=progress, stop=token, **opts)
        finally:
            for bar in bars:
                bar.close()
    if panels:
        heading = " + ".join(Path(p).name for p in (content, style) if p)
        save_image(
            render_sheet(panels, f"painterly explain: {heading}"), out, {"explain": [p.title for p in panels]}
        )
    if token.stopped:
        if not quiet:
            click.echo(
                f"painterly: interrupted; {len(panels)} panel(s) saved to {out}; run again for all", err=True
            )
        sys.exit(EXIT_INTERRUPTED)
    if not quiet:
        click.echo(f"painterly: wrote {out} ({len(panels)} panels)", err=True)


@cli.command()
@click.argument("video_in", metavar="IN")
@click.argument("styles", nargs=-1, required=True)
@click.option("-o", "--output", required=True, help="output video (.mp4, .mov, .mkv, .webm)")
@video_options
@click.option("--quiet", is_flag=True, help="no progress bars or messages")
@settings_options
def video(video_in: str, styles: tuple[str, ...], output: str, quiet: bool, **opts: Any) -> None:
    """Stylise the video IN after STYLE images, frame by frame without flicker (needs painterly[video]).

    Finished frames stay in OUT.frames/ beside the output: the same command again continues there.
    """
    from .video.progress import run_video

    video_opts = VideoOptions(**{opt.name: opts.pop(opt.name) for opt in options(VideoOptions)})
    if run_video(build_settings(video_in, styles, **opts), output, video_opts, quiet).interrupted:
        sys.exit(EXIT_INTERRUPTED)


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=7860, show_default=True, type=int)
@click.option("--data", default=None, help="data folder for the gallery and queue [default: user data dir]")
@click.option(
    "--allow-host",
    "allow_hosts",
    multiple=True,
    help="also answer requests for this host name (repeatable); loopback names always work",
)
def serve(host: str, port: int, data: str | None, allow_hosts: tuple[str, ...]) -> None:
    """Start the web app (live preview, queue, gallery)."""
    from .web.server import serve as run_server

    run_server(host=host, port=port, data=data, allow_hosts=allow_hosts)


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


if __name__ == "__main__":
    main()
