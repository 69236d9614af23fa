"""``painterly explain``: what the network sees (Gatys et al.'s Figure 1) as one sheet."""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

import click

from ..layers import FIGURE1_CONTENT_LAYERS
from ..options import option
from .app import EXIT_INTERRUPTED, cli
from .generated import click_options, option_values
from .running import stop_on_ctrl_c, unused

# explain's own defaults on the Settings options it takes (its content layers are Figure 1's)
EXPLAIN_OPTIONS = (
    replace(
        option("size"), default=None, help="longest side of the reconstructions [default: 512; --quick: 256]"
    ),
    replace(option("content_layers"), name="layers", default=FIGURE1_CONTENT_LAYERS, help="content layers"),
    replace(option("style_layers"), help="style layers"),
)


@cli.command()
@click.argument("content")
@click.argument("style", required=False)
@click.option("-o", "--output", help="the sheet [default: CONTENT-explain.png, never overwriting]")
@click_options(EXPLAIN_OPTIONS)
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

    from ..engine import Iteration, StopToken
    from ..images import check_output, save_image
    from ..inside import PanelDone, PanelStarted
    from ..inside import explain as make_panels
    from ..sheets import render_sheet

    out = check_output(output or unused(Path(f"{Path(content).stem}-explain")), [content, style, result])
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

    with stop_on_ctrl_c(token, quiet):
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
