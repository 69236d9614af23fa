"""painterly explain: the reconstructions say what the paper says, the sheet and the CLI behave."""

import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch
from PIL import Image

import painterly
from painterly.engine import Stylizer
from painterly.images import fit, load_image, to_tensor
from painterly.inside import PanelDone, PanelStarted, explain
from painterly.losses import GramLoss
from painterly.settings import Settings
from painterly.sheets import Panel, load_panels, render_sheet, save_panels

SIZE = 48


def _mse(a: Image.Image, b: Image.Image) -> float:
    return float(np.mean((np.asarray(a, float) - np.asarray(b.resize(a.size), float)) ** 2))


@pytest.fixture(scope="module")
def panels(images):
    """One tiny run with every kind of panel, shared by the tests that only read it."""
    content, style = images / "tubingen.jpg", images / "starry_night.jpg"
    result = painterly.stylize(str(content), str(style), size=SIZE, scales=1, iterations=20)
    events = []
    out = explain(content, style, size=SIZE, quick=True, result=result, on_event=events.append, seed=1)
    return out, events


def test_shallow_content_reconstruction_is_closer_to_the_photo_than_deep(images, panels):
    by_title = {p.title: p for p in panels[0]}
    photo = by_title["content"].image
    shallow = _mse(by_title["content from relu1_2"].image, photo)
    deep = _mse(by_title["content from relu5_2"].image, photo)
    assert shallow < deep / 2, (shallow, deep)


def _gram_loss(image: Image.Image, style: Image.Image, layers: tuple[str, ...]) -> float:
    """Summed per-layer Gram loss of ``image`` against ``style`` fitted to its size (as the engine does)."""
    stylizer = Stylizer(Settings(styles=("s",), content_layers=(), style_layers=layers))
    net, _ = stylizer.network()
    with torch.no_grad():
        target = net(to_tensor(fit(style, max(image.size))), set(layers))
        feats = net(to_tensor(image), set(layers))
    return sum(float(GramLoss([GramLoss.target(target[n])], [1.0])(feats[n])) for n in layers)


def test_each_style_reconstruction_matches_its_grams_better_than_noise(images, panels):
    style = load_image(images / "starry_night.jpg")
    recons = [p for p in panels[0] if p.title.startswith("style from")]
    layers = Settings().style_layers
    assert len(recons) == len(layers)
    rng = np.random.default_rng(0)
    for k, panel in enumerate(recons):
        w, h = panel.image.size
        noise = Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8))
        ours, theirs = (_gram_loss(image, style, layers[: k + 1]) for image in (panel.image, noise))
        assert ours < 0.5 * theirs, (layers[: k + 1], ours, theirs)


def test_every_panel_has_a_title_caption_and_image_and_events_follow(panels):
    out, events = panels
    titles = [p.title for p in out]
    rows = {p.row for p in out}
    assert len(out) == 1 + 5 + 1 + 5 + 5 + 5 + 1  # photo, content, painting, style, features, grams, loss
    assert rows == {"content reconstructions", "style reconstructions", "feature maps", "style statistics"}
    assert "style loss per layer" in titles
    for panel in out:
        assert panel.caption and "\n" not in panel.caption and isinstance(panel.image, Image.Image)
    started = [e for e in events if isinstance(e, PanelStarted)]
    done = [e for e in events if isinstance(e, PanelDone)]
    assert [e.index for e in started] == [e.index for e in done] == list(range(len(out)))
    assert all(e.count == len(out) for e in started)
    sheet = render_sheet(out, "heading")
    assert sheet.width > 6 * SIZE and sheet.height > 4 * SIZE


def test_content_only_and_python_api(images):
    out = painterly.explain(str(images / "tubingen.jpg"), size=32, quick=True, layers=("relu1_2",))
    assert [p.title for p in out] == ["content", "content from relu1_2", "relu1_2 feature maps"]


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"style": None, "result": "{i}/tubingen.jpg"}, "needs the STYLE"),
        ({"layers": ("relu9_1",)}, "unknown layer"),
        ({"size": 4}, "size must be"),
    ],
)
def test_bad_options_fail_before_any_work(images, kwargs, message):
    kwargs = {k: v.format(i=images) if isinstance(v, str) else v for k, v in kwargs.items()}
    style = kwargs.pop("style", images / "starry_night.jpg")
    events = []
    with pytest.raises(painterly.PainterlyError, match=message):
        explain(images / "tubingen.jpg", style, on_event=events.append, **kwargs)
    assert events == []


def _cli(*args):
    return subprocess.run(
        [sys.executable, "-m", "painterly.cli", "explain", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_cli_writes_the_sheet_with_the_loss_panel(images, tmp_path):
    result = tmp_path / "result.png"
    painterly.stylize(str(images / "tubingen.jpg"), "starry_night", size=32, scales=1, iterations=3).save(
        result
    )
    out = tmp_path / "sheet.png"
    proc = _cli(
        images / "tubingen.jpg", "starry_night", "-o", out, "--size", 32, "--quick", "--result", result
    )
    assert proc.returncode == 0, proc.stderr
    with Image.open(out) as sheet:
        assert "style loss per layer" in sheet.info["painterly"]


@pytest.mark.parametrize(
    "args, message",
    [
        (["{d}/missing.jpg"], "content image not found"),
        (["{i}/tubingen.jpg", "{d}/missing.jpg"], "style image not found"),
        (["{i}/tubingen.jpg", "--layers", "relu9_1"], "unknown layer"),
        (["{i}/tubingen.jpg", "--size", "0"], "size must be"),
        (["{i}/tubingen.jpg", "--result", "{i}/tubingen.jpg"], "needs the STYLE"),
        (["{i}/tubingen.jpg", "-o", "{i}/tubingen.jpg"], "overwrite the input"),
        (["{i}/tubingen.jpg", "-o", "{d}/nofolder/sheet.png"], "output folder does not exist"),
    ],
)
def test_cli_bad_input_is_one_line_exit_2_nothing_written(images, tmp_path, args, message):
    args = [a.format(i=images, d=tmp_path) for a in args]
    if "-o" not in args:
        args += ["-o", str(tmp_path / "sheet.png")]
    proc = _cli(*args, "--quick")
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.count("\n") == 1 and message in proc.stderr, proc.stderr
    assert list(tmp_path.iterdir()) == []


def test_cli_ctrl_c_keeps_the_finished_panels_exit_130(images, tmp_path):
    out = tmp_path / "sheet.png"
    args = [images / "tubingen.jpg", "-o", out, "--size", 64]
    proc = subprocess.Popen(
        [sys.executable, "-m", "painterly.cli", "explain", *map(str, args)], stderr=subprocess.PIPE, text=True
    )
    seen, deadline = "", time.time() + 120
    while time.time() < deadline and "content relu2_2" not in seen and proc.poll() is None:
        seen += proc.stderr.read(1)
    proc.send_signal(signal.SIGINT)
    rest = proc.communicate(timeout=60)[1]
    assert proc.returncode == 130, seen + rest
    assert "2 panel(s) saved" in rest
    with Image.open(out) as sheet:
        assert sheet.info["painterly"] == '{"explain": ["content", "content from relu1_2"]}'


def test_panels_round_trip_through_a_folder(tmp_path):
    assert load_panels(tmp_path) is None
    images = [Image.new("RGB", (8, 6), color) for color in ("red", "blue")]
    panels = [Panel(f"t{i}", f"caption {i}", image, "row") for i, image in enumerate(images)]
    save_panels(panels, tmp_path / "cache")
    back = load_panels(tmp_path / "cache")
    assert [(p.title, p.caption, p.row) for p in back] == [(p.title, p.caption, p.row) for p in panels]
    assert [p.image.getpixel((0, 0)) for p in back] == [(255, 0, 0), (0, 0, 255)]
    (tmp_path / "cache" / "panels.json").write_text("[{}]")
    with pytest.raises(painterly.PainterlyError, match="damaged panel cache"):
        load_panels(tmp_path / "cache")
