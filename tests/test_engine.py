"""Engine on the real weights at tiny sizes."""

import numpy as np
import pytest
from PIL import Image

import painterly
from painterly.engine import Iteration, Preview, ScaleStarted, Stylizer
from painterly.images import load_image
from painterly.settings import Settings
from painterly.targets import TargetCache


@pytest.fixture(scope="module")
def pair(images):
    return load_image(images / "tubingen.jpg"), load_image(images / "starry_night.jpg")


def settings(**kw) -> Settings:
    base = dict(content="c", styles=("s",), size=64, scales=1, iterations=20)
    return Settings(**(base | kw))


def test_loss_falls_and_size_is_right(pair):
    content, style = pair
    events = []
    result = Stylizer(settings(size=128, iterations=60, init="noise")).run(
        content, [style], on_event=events.append
    )
    totals = [e.losses["total"] for e in events if isinstance(e, Iteration)]
    assert len(totals) == 60 == result.iterations
    assert totals[-1] < totals[0] / 5
    assert result.image.size == (128, 96)
    assert not result.interrupted and result.weights_sha256


def test_same_seed_same_output(pair):
    content, style = pair
    a = Stylizer(settings(init="noise", seed=3)).run(content, [style]).image
    b = Stylizer(settings(init="noise", seed=3)).run(content, [style]).image
    c = Stylizer(settings(init="noise", seed=4)).run(content, [style]).image
    assert a.tobytes() == b.tobytes()
    assert a.tobytes() != c.tobytes()


def test_coarse_to_fine_reaches_requested_size(pair):
    content, style = pair
    events = []
    result = Stylizer(settings(size=100, scales=3, iterations=3, coarse_iterations=4)).run(
        content, [style], on_event=events.append
    )
    scales = [e for e in events if isinstance(e, ScaleStarted)]
    assert [max(e.width, e.height) for e in scales] == [50, 71, 100]
    assert result.image.size == (100, 75)


def test_stop_returns_best_so_far(pair):
    content, style = pair
    stylizer = Stylizer(settings(iterations=200))

    def on_event(event):
        if isinstance(event, Iteration) and event.iteration == 5:
            stylizer.stop()

    result = stylizer.run(content, [style], on_event=on_event)
    assert result.interrupted and result.iterations == 5
    assert result.image.size == (64, 48)


def test_previews(pair):
    content, style = pair
    events = []
    Stylizer(settings(iterations=6)).run(content, [style], on_event=events.append, preview_every=2)
    previews = [e for e in events if isinstance(e, Preview)]
    assert [p.iteration for p in previews] == [2, 4, 6]


def _color_distance(a: Image.Image, b: Image.Image) -> float:
    return float(
        np.abs(np.asarray(a, float).mean((0, 1)) - np.asarray(b.resize(a.size), float).mean((0, 1))).sum()
    )


def test_multiple_styles_blend(images, pair):
    content, starry = pair
    scream = load_image(images / "the_scream.jpg")
    kw = dict(styles=("a", "b"), size=64, iterations=40, style_weight=50.0)
    only_starry = Stylizer(settings(**kw, style_blend=(1.0, 0.0))).run(content, [starry, scream]).image
    only_scream = Stylizer(settings(**kw, style_blend=(0.0, 1.0))).run(content, [starry, scream]).image
    assert _color_distance(only_starry, starry) < _color_distance(only_starry, scream)
    assert _color_distance(only_scream, scream) < _color_distance(only_scream, starry)


def test_preserve_colors(pair):
    content, style = pair
    kept = Stylizer(settings(preserve_colors="luminance", style_weight=50.0)).run(content, [style]).image
    free = Stylizer(settings(style_weight=50.0)).run(content, [style]).image
    assert _color_distance(kept, content) < _color_distance(free, content)
    matched = Stylizer(settings(preserve_colors="histogram", style_weight=50.0)).run(content, [style]).image
    assert _color_distance(matched, content) < _color_distance(free, content)


def test_mask_keeps_unstyled_region_photographic(pair):
    content, style = pair
    mask = Image.new("RGB", (64, 48), "white")
    mask.paste((0, 0, 0), (32, 0, 64, 48))  # right half: second colour
    result = Stylizer(settings(iterations=40, style_weight=50.0, mask="m.png", mask_styles=(0, -1))).run(
        content, [style], mask=mask
    )
    photo = np.asarray(content.resize((64, 48)), float)
    out = np.asarray(result.image, float)
    styled_error = np.abs(out[:, 4:28] - photo[:, 4:28]).mean()
    unstyled_error = np.abs(out[:, 40:] - photo[:, 40:]).mean()
    assert unstyled_error < styled_error / 2


@pytest.mark.parametrize("loss", ["mean-std", "sliced-wasserstein"])
def test_other_style_losses_run(pair, loss):
    content, style = pair
    events = []
    # From the photo: the palette-matched default start leaves less of the loss to fall.
    Stylizer(settings(style_loss=loss, iterations=15, init="content")).run(
        content, [style], on_event=events.append
    )
    style_losses = [e.losses["style"] for e in events if isinstance(e, Iteration)]
    assert style_losses[-1] < style_losses[0] * 0.7


def test_adam_optimizer(pair):
    content, style = pair
    events = []
    Stylizer(settings(optimizer="adam", iterations=20)).run(content, [style], on_event=events.append)
    totals = [e.losses["total"] for e in events if isinstance(e, Iteration)]
    assert totals[-1] < totals[0]


def test_python_api_accepts_paths_arrays_and_builtin_names(images):
    array = np.asarray(load_image(images / "tubingen.jpg").resize((80, 60)))
    out = painterly.stylize(array, "starry_night", size=48, scales=1, iterations=3)
    assert out.size == (48, 36)
    out = painterly.stylize(
        str(images / "tubingen.jpg"), [images / "shipwreck.jpg"], size=32, scales=1, iterations=2
    )
    assert out.size == (32, 24)


def test_style_content_balance_is_stable_across_sizes(pair):
    content, style = pair
    balance = []
    for size in (64, 128):
        losses = Stylizer(settings(size=size, iterations=40)).run(content, [style]).losses
        balance.append(losses["style"] / losses["content"])
    assert 0.5 < balance[0] / balance[1] < 2, balance


def test_style_targets_computed_once_per_style_and_scale(pair, images, monkeypatch):
    content, style = pair
    other_content = load_image(images / "golden_gate.jpg")
    from painterly.objective import ObjectiveBuilder

    calls = []
    real = ObjectiveBuilder.style_targets

    def counting(self, style_image, longest, loss_type):
        calls.append((style_image.size, longest))
        return real(self, style_image, longest, loss_type)

    monkeypatch.setattr(ObjectiveBuilder, "style_targets", counting)
    cache = TargetCache()
    kw = dict(size=64, scales=2, iterations=2, coarse_iterations=2)
    first = Stylizer(settings(**kw), targets=cache).run(content, [style])
    assert len(calls) == 2  # one per scale
    Stylizer(settings(**kw, style_weight=50.0), targets=cache).run(other_content, [style])
    assert len(calls) == 2  # same style, other content and weights: reused
    scream = load_image(images / "the_scream.jpg")
    Stylizer(settings(**kw), targets=cache).run(content, [scream])
    assert len(calls) == 4  # another style image is never served the first one's targets
    again = Stylizer(settings(**kw), targets=cache).run(content, [style])
    assert again.image.tobytes() == first.image.tobytes()  # cached targets give the same result


def test_precision_environment_variable_forces_every_run(monkeypatch):
    from painterly.errors import PainterlyError

    monkeypatch.setenv("PAINTERLY_PRECISION", "fp32")
    assert Stylizer(settings(precision="bf16")).precision == "fp32"
    monkeypatch.setenv("PAINTERLY_PRECISION", "bf16")
    assert Stylizer(settings(precision="fp32")).precision == "bf16"
    monkeypatch.setenv("PAINTERLY_PRECISION", "fp16")
    with pytest.raises(PainterlyError, match="PAINTERLY_PRECISION"):
        Stylizer(settings())
