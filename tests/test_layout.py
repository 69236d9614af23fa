"""A print keeps its 512 px run's layout (``painterly.layout``): the lock itself, then in runs whose
layout size is made 128 px so that a "print" of 256 px paints in a second or two."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from painterly import checkpoints, schedule
from painterly.engine import Change, Iteration, Stylizer
from painterly.errors import PainterlyError
from painterly.images import load_image
from painterly.layout import LOCK_FRACTION, keep
from painterly.settings import Settings
from painterly.state import RunState


def coarse(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    return F.interpolate(x, size=size, mode="bicubic", antialias=True, align_corners=False)


def up(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    return F.interpolate(x, size=size, mode="bicubic", align_corners=False)


def test_the_lock_sets_the_coarse_frequencies_and_keeps_the_strokes():
    g = torch.Generator().manual_seed(0)
    layout = up(torch.rand(1, 3, 6, 8, generator=g), (48, 64)).clamp(0, 1)  # a 64 px picture
    drift = up(torch.rand(1, 3, 3, 4, generator=g) - 0.5, (384, 512)) * 0.3  # what finer scales moved
    strokes = (torch.rand(1, 3, 384, 512, generator=g) - 0.5) * 0.2
    x = (up(layout, (384, 512)) * 0.8 + 0.1 + drift + strokes).clamp(0, 1)
    lock = (round(48 * LOCK_FRACTION), round(64 * LOCK_FRACTION))
    before = (coarse(x, lock) - coarse(layout, lock)).abs().mean()
    original = x.clone()
    kept = keep(x, layout)
    assert kept is x and kept.min() >= 0 and kept.max() <= 1  # in place, still an image
    after = (coarse(kept, lock) - coarse(layout, lock)).abs().mean()
    assert after < 0.01 < before and after < before / 10

    def fine(y: torch.Tensor) -> torch.Tensor:  # above a 128 px image: the strokes
        return y - up(coarse(y, (96, 128)), (384, 512))

    assert (fine(kept) - fine(original)).abs().mean() < 0.1 * fine(original).abs().mean()


@pytest.fixture(scope="module")
def pair(images):
    return load_image(images / "tubingen.jpg"), load_image(images / "starry_night.jpg")


def settings(**kw) -> Settings:
    s = Settings(content="c", styles=("s",), size=256, quality="draft", iterations=6, coarse_iterations=4,
                 device="cpu", precision="fp32", protect_faces=False, style_weight=20.0).with_(**kw)  # fmt: skip
    assert [round(256 * f) for f, _ in s.schedule()] == [128, 181, 256]  # a head of one 128 px scale
    return s


def run(pair, monkeypatch, steering=(), state=None, stop_at_scale=None, **kw) -> Stylizer:
    """A 256 px "print" whose layout scale is 128 px; ``stop_at_scale``: stop at that scale's 2nd step."""
    monkeypatch.setattr(schedule, "LAYOUT_SIZE", 128)
    stylizer = Stylizer(settings(**kw), steering=steering)

    def stop(event) -> None:
        if isinstance(event, Iteration) and event.scale == stop_at_scale and event.iteration >= 2:
            stylizer.stop()

    stylizer.run(pair[0], [pair[1]], on_event=stop, state=state)
    return stylizer


def off_layout(canvas: torch.Tensor, layout: torch.Tensor) -> float:
    """How far ``canvas``'s frequencies below the lock are from ``layout``'s (mean abs, 0-1)."""
    lock = (round(96 * LOCK_FRACTION), round(128 * LOCK_FRACTION))
    return (coarse(canvas.float().cpu(), lock) - coarse(layout, lock)).abs().mean().item()


def test_a_print_keeps_its_layout_runs_layout_through_a_checkpoint(pair, monkeypatch, tmp_path):
    kept, free = run(pair, monkeypatch), run(pair, monkeypatch, keep_layout=False)
    layout = kept.state.layout
    assert layout is not None and layout.shape == (1, 3, 96, 128) and free.state.layout is None
    off = {"kept": off_layout(kept.state.canvas, layout), "free": off_layout(free.state.canvas, layout)}
    assert off["kept"] < 0.01 and off["free"] > 2 * off["kept"], off
    # stopped in the final scale, saved, read back as a new process would and resumed: still kept
    stopped = run(pair, monkeypatch, stop_at_scale=2).state
    assert stopped is not None and stopped.scale == 2 and torch.equal(stopped.layout, layout)
    checkpoints.save(tmp_path / "run.ckpt", checkpoints.identity(settings(), []), stopped)
    saved = RunState.from_dict(checkpoints.read(tmp_path / "run.ckpt")["state"])
    assert saved.layout is not stopped.layout and torch.equal(saved.layout, layout)
    resumed = run(pair, monkeypatch, state=saved)
    assert off_layout(resumed.state.canvas, layout) < 0.01


def test_steering_after_the_layout_scale_lets_the_print_move(pair, monkeypatch):
    """The layout was made by the objective before the change: the steered finer scales are not
    held to it."""
    monkeypatch.setattr(schedule, "LAYOUT_SIZE", 128)
    head = settings().schedule()[0][1]
    layout = run(pair, monkeypatch).state.layout
    steered = run(pair, monkeypatch, steering=(Change(head + 1, "style_weight", 40.0),))
    assert steered.state.layout is None and steered.state.changes[0].iteration == head + 1
    assert off_layout(steered.state.canvas, layout) > 0.01


def test_a_damaged_layout_is_refused_as_a_state():
    data = RunState(total=1, settings=settings(), canvas=torch.zeros(1, 3, 4, 4)).to_dict()
    with pytest.raises(PainterlyError, match="layout"):
        RunState.from_dict(data | {"layout": "not an image"})
