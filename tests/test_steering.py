"""Steering is checked like any input and never dropped: bad values and replay lists are one-line
errors, an update before the run or after its last evaluation counts, face protection and a masked
run's blend follow the settings in force."""

from __future__ import annotations

import math

import pytest
import torch
from PIL import Image

from painterly.engine import Change, Iteration, Stylizer
from painterly.errors import PainterlyError
from painterly.images import demo_content, load_image, to_tensor
from painterly.settings import Settings


@pytest.fixture(scope="module")
def pair(images):
    return load_image(images / "tubingen.jpg"), load_image(images / "starry_night.jpg")


def settings(**kw) -> Settings:
    return Settings(**(dict(content="c", styles=("s",), size=64, scales=1, iterations=6) | kw))


def refused(call, *args, **kw) -> str:
    """The message of the PainterlyError ``call`` raises (a TypeError would fail the test)."""
    with pytest.raises(PainterlyError) as raised:
        call(*args, **kw)
    message = str(raised.value)
    assert message and "\n" not in message
    return message


@pytest.mark.parametrize(
    "change, message",
    [
        ({"content_weight": "5"}, "content_weight must be of type float"),
        ({"content_weight": None}, "content_weight must be of type float"),
        ({"style_weight": True}, "style_weight must be of type float"),
        ({"style_weight": math.nan}, "style-weight must be a finite number"),
        ({"style_blend": [1, "a"]}, "style_blend must be of type float"),
        ({"style_blend": "12"}, "style_blend must be a list"),
        ({"style_blend": [1.0]}, "one positive-sum blend weight per style"),
        ({"face_weight": -1.0}, "face-weight must be a finite number >= 0"),
        ({"color_strength": 2}, "color-strength must be between 0 and 1"),
        ({"size": 128}, "cannot change size"),
        ({"style_weight": 2.0, "weights": "torchvision"}, "cannot change weights"),
    ],
)
def test_a_bad_update_is_a_one_line_error_and_queues_nothing(change, message):
    stylizer = Stylizer(settings(styles=("a", "b")))
    assert message in refused(stylizer.update, **change)
    assert stylizer._pending == []


def test_updates_are_typed_as_a_records_settings_are():
    stylizer = Stylizer(settings(styles=("a", "b")))
    stylizer.update(style_blend=[1, 3], style_weight=20)  # JSON: a list, an int
    assert stylizer._pending == [("style_blend", (1.0, 3.0)), ("style_weight", 20.0)]


@pytest.mark.parametrize(
    "change, message",
    [
        (Change(3, "content_layers", ("relu1_1",)), "iteration 3: cannot change content_layers"),
        (Change(2, "style_blend", [1, "a"]), "iteration 2: setting style_blend must be of type float"),
        (Change(2, "style_blend", (1.0, 2.0, 3.0)), "one positive-sum blend weight per style"),
        (Change(1, "size", 128), "cannot change size"),
        (Change(1, "weights", "torchvision"), "cannot change weights"),
        (Change(-1, "style_weight", 1.0), "iteration must be a whole number >= 0"),
        (Change(1.5, "style_weight", 1.0), "iteration must be a whole number >= 0"),
        ((4, "style_weight", 1.0), "must be a Change"),
    ],
)
def test_a_bad_replay_list_is_refused_when_the_stylizer_is_built(change, message):
    good = Change(1, "style_weight", 9.0)
    assert message in refused(Stylizer, settings(styles=("a", "b")), steering=[good, change])


def test_a_replay_list_is_typed_and_ordered():
    steering = [Change(5, "style_blend", [1, 3]), Change(2, "content_weight", 2)]
    stylizer = Stylizer(settings(styles=("a", "b")), steering=steering)
    assert stylizer.steering == [Change(2, "content_weight", 2.0), Change(5, "style_blend", (1.0, 3.0))]


def test_an_update_before_the_run_starts_is_applied_at_iteration_0(pair):
    content, style = pair
    stylizer = Stylizer(settings())
    stylizer.update(style_weight=50.0)
    steered = stylizer.run(content, [style])
    assert steered.changes == (Change(0, "style_weight", 50.0),)
    started = Stylizer(settings(style_weight=50.0)).run(content, [style])
    assert steered.image.tobytes() == started.image.tobytes()


def test_a_color_strength_change_after_the_last_evaluation_counts(pair):
    content, style = pair
    base = settings(preserve_colors="luminance")
    stylizer = Stylizer(base)

    def at_the_end(event) -> None:
        if isinstance(event, Iteration) and event.iteration == event.total:
            stylizer.update(color_strength=0.3)

    steered = stylizer.run(content, [style], on_event=at_the_end)
    assert steered.changes == (Change(6, "color_strength", 0.3),)
    started = Stylizer(base.with_(color_strength=0.3)).run(content, [style])
    assert steered.image.tobytes() == started.image.tobytes()
    replayed = Stylizer(base, steering=steered.changes).run(content, [style])
    assert replayed.image.tobytes() == steered.image.tobytes()


def test_face_protection_is_steered_and_replayed():
    from painterly.portraits import face_terms

    content, style = load_image(str(demo_content()), "content image"), load_image("starry_night")
    base = settings(styles=("starry_night",), iterations=8)
    stylizer = Stylizer(base)
    terms = face_terms(stylizer, content)
    if not terms:
        pytest.skip("no face found (OpenCV without its Haar cascades)")
    weights: dict[int, float] = {}  # iteration -> the faces term's weight in its evaluation

    def on_event(event) -> None:
        if isinstance(event, Iteration):
            weights[event.iteration] = terms[0].weight
            if event.iteration == 3:
                stylizer.update(face_weight=0.2)

    steered = stylizer.run(content, [style], terms=terms, on_event=on_event)
    assert steered.changes == (Change(3, "face_weight", 0.2),)
    assert weights[3] == 0.01 * 5.0 and weights[4] == 0.2 * 5.0  # x the style weight in force
    again = Stylizer(base, steering=steered.changes)
    replayed = again.run(content, [style], terms=face_terms(again, content))
    assert replayed.image.tobytes() == steered.image.tobytes()


def test_a_masked_run_reblends(pair, images):
    content, starry = pair
    styles = [starry, load_image(images / "the_scream.jpg")]
    mask = Image.new("RGB", (64, 48), "white")
    mask.paste((0, 0, 0), (32, 0, 64, 48))  # left region: style 0, right: style 1
    two = settings(styles=("a", "b"), mask="m.png")
    objective = Stylizer(two).objective(content.resize((64, 48)), styles, mask=mask)
    image = to_tensor(content.resize((64, 48)))
    torch.manual_seed(0)
    image = (image + 0.1 * torch.randn_like(image)).clamp(0, 1)

    def style(blend: tuple[float, ...]) -> float:
        objective.state.settings = two.with_(style_blend=blend)
        with torch.no_grad():
            return float(objective(image)[1]["style"])

    left_only = Stylizer(two.with_(mask_styles=(0, -1))).objective(
        content.resize((64, 48)), styles, mask=mask
    )
    with torch.no_grad():
        left = float(left_only(image)[1]["style"])
    equal = style(())
    assert style((1.0, 1.0)) == equal  # an equal blend weighs each region as before
    assert style((1.0, 0.0)) == pytest.approx(2 * left, rel=1e-5)  # all on style 0's region
    assert style((1.0, 3.0)) == pytest.approx(0.5 * left + 1.5 * (equal - left), rel=1e-5)
