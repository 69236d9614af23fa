"""A print keeps its 512 px run's layout (``painterly.layout``): the lock itself, then in runs whose
layout size is made 128 px so that a "print" of 256 px paints in a second or two."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from painterly import schedule
from painterly.engine import Change, Stylizer
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


def run(pair, monkeypatch, steering=(), **kw) -> Stylizer:
    monkeypatch.setattr(schedule, "LAYOUT_SIZE", 128)
    s = Settings(content="c", styles=("s",), size=256, quality="draft", iterations=6, coarse_iterations=4,
                 device="cpu", precision="fp32", protect_faces=False, style_weight=20.0).with_(**kw)  # fmt: skip
    assert [round(256 * f) for f, _ in s.schedule()] == [128, 181, 256]  # a head of one 128 px scale
    stylizer = Stylizer(s, steering=steering)
    stylizer.run(pair[0], [pair[1]])
    return stylizer


def test_a_print_keeps_its_layout_runs_layout_and_a_checkpoint_keeps_it(pair, monkeypatch):
    kept, free = run(pair, monkeypatch), run(pair, monkeypatch, keep_layout=False)
    layout = kept.state.layout
    assert layout is not None and layout.shape == (1, 3, 96, 128) and free.state.layout is None
    lock = (round(96 * LOCK_FRACTION), round(128 * LOCK_FRACTION))
    target = coarse(layout, lock)
    off = {
        name: (coarse(stylizer.state.canvas.float().cpu(), lock) - target).abs().mean().item()
        for name, stylizer in (("kept", kept), ("free", free))
    }
    assert off["kept"] < 0.01 and off["free"] > 2 * off["kept"], off
    assert torch.equal(RunState.from_dict(kept.state.to_dict()).layout, layout)


def test_steering_after_the_layout_scale_lets_the_print_move(pair, monkeypatch):
    """The layout was made by the objective before the change: the steered finer scales are not
    held to it."""
    monkeypatch.setattr(schedule, "LAYOUT_SIZE", 128)
    head = Settings(styles=("s",), size=256, quality="draft", coarse_iterations=4).schedule()[0][1]
    stylizer = run(pair, monkeypatch, steering=(Change(head + 1, "style_weight", 40.0),))
    assert stylizer.state.layout is None and stylizer.state.changes[0].iteration == head + 1
