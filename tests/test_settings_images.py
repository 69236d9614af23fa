import json

import numpy as np
import pytest
from PIL import Image

from painterly.errors import PainterlyError
from painterly.images import (
    builtin_styles,
    keep_colors,
    load_image,
    match_colors,
    read_metadata,
    save_image,
)
from painterly.schedule import MIN_ITERATIONS, PRESETS
from painterly.settings import Settings


def test_settings_json_round_trip():
    s = Settings(content="a.jpg", styles=("b.jpg", "c.jpg"), style_blend=(0.7, 0.3), mask_styles=(0, -1))
    assert Settings.from_json(s.to_json()) == s
    assert json.loads(s.to_json())["style_blend"] == [0.7, 0.3]


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"size": -1}, "size"),
        ({"size": 100_000}, "size"),
        ({"style_weight": -1.0}, "style-weight"),
        ({"style_layers": ("relu9_9",)}, "unknown layer"),
        ({"style_blend": (1.0, 2.0)}, "blend"),
        ({"optimizer": "sgd"}, "optimizer"),
        ({"styles": ()}, "style"),
    ],
)
def test_settings_validation(changes, message):
    s = Settings(content="a.jpg", styles=("b.jpg",)).with_(**changes)
    with pytest.raises(PainterlyError, match=message):
        s.validated()


def test_unknown_or_mistyped_settings_rejected():
    with pytest.raises(PainterlyError, match="unknown setting"):
        Settings.from_json('{"colour": 1}')
    with pytest.raises(PainterlyError, match="size must be of type int"):
        Settings.from_json('{"size": "512"}')
    with pytest.raises(PainterlyError, match="styles must be a list"):
        Settings.from_json('{"styles": 3}')
    assert Settings.from_json('{"style_weight": 3}').style_weight == 3.0
    # a record someone else made: list items and the document itself are type-checked too
    with pytest.raises(PainterlyError, match="styles must be of type str"):
        Settings.from_json('{"styles": [1]}')
    with pytest.raises(PainterlyError, match="style_blend must be of type float"):
        Settings.from_json('{"style_blend": [true]}')
    with pytest.raises(PainterlyError, match="must be a JSON object"):
        Settings.from_dict([1, 2])


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"scales": 10**9}, "scales must be between 0 and 16"),
        ({"iterations": 10**9}, "iterations must be between 0 and 20000"),
        ({"coarse_iterations": 10**7}, "coarse-iterations must be between"),
        ({"style_scale": 100.0}, "style-scale must be between 0 and 4"),
        ({"style_scale": float("inf")}, "style-scale must be between"),
        ({"seed": -1}, "seed must be between"),
    ],
)
def test_costly_settings_have_upper_bounds(changes, message):
    with pytest.raises(PainterlyError, match=message):
        Settings(content="a.jpg", styles=("b.jpg",)).with_(**changes).validated()


def test_schedule_is_coarse_to_fine_by_sqrt2():
    schedule = Settings(size=512).schedule()
    fractions = [f for f, _ in schedule]
    assert len(schedule) == 5 and fractions[-1] == 1.0
    assert all(abs(b / a - 2**0.5) < 1e-9 for a, b in zip(fractions, fractions[1:], strict=False))
    assert Settings(size=512, scales=1, iterations=7).schedule() == [(1.0, 7)]


def test_load_errors(tmp_path):
    with pytest.raises(PainterlyError, match="not found"):
        load_image(tmp_path / "missing.png")
    (tmp_path / "text.png").write_text("hello")
    with pytest.raises(PainterlyError, match="not a readable image"):
        load_image(tmp_path / "text.png")
    (tmp_path / "empty.jpg").write_bytes(b"")
    with pytest.raises(PainterlyError, match="not a readable image"):
        load_image(tmp_path / "empty.jpg")
    with pytest.raises(PainterlyError, match="folder"):
        load_image(tmp_path)


def test_load_modes_and_exif(tmp_path):
    rgba = Image.new("RGBA", (4, 2), (255, 0, 0, 0))
    assert load_image(rgba).getpixel((0, 0)) == (255, 255, 255)  # transparent -> white
    assert load_image(np.zeros((3, 5), dtype=np.uint8)).size == (5, 3)
    assert load_image(np.full((2, 2, 3), 200, dtype=np.int64)).getpixel((0, 0)) == (200, 200, 200)
    assert load_image(np.full((2, 2, 1), 0.5)).getpixel((0, 0)) == (128, 128, 128)
    with pytest.raises(PainterlyError, match="array must be"):
        load_image(np.zeros((2, 2, 2)))
    image = Image.new("RGB", (6, 2))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90
    image.save(tmp_path / "rot.jpg", exif=exif.tobytes())
    assert load_image(tmp_path / "rot.jpg").size == (2, 6)


def test_builtin_styles_are_the_public_domain_three():
    assert set(builtin_styles()) == {"starry_night", "shipwreck", "the_scream"}
    assert max(load_image("starry_night").size) <= 1024


def test_atomic_save_with_metadata(tmp_path):
    image = Image.new("RGB", (3, 3), (10, 20, 30))
    for ext in ("png", "jpg", "webp"):
        out = save_image(image, tmp_path / f"o.{ext}", {"settings": {"size": 3}})
        assert read_metadata(out) == {"settings": {"size": 3}}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["o.jpg", "o.png", "o.webp"]  # no temp files left


def test_keep_colors_keeps_chroma_and_luminance():
    content = Image.new("RGB", (8, 8), (200, 40, 40))
    stylized = Image.new("RGB", (8, 8), (90, 90, 90))
    out = np.asarray(keep_colors(stylized, content), dtype=float)[0, 0]
    assert out[0] > out[1] + 50  # red again
    assert abs(out @ [0.299, 0.587, 0.114] - 90) < 2  # brightness of the stylised image
    assert keep_colors(stylized, content, 0.0).tobytes() == stylized.tobytes()


def test_match_colors_moves_style_statistics_to_content():
    rng = np.random.default_rng(0)
    style = Image.fromarray(rng.integers(0, 80, (16, 16, 3), dtype=np.uint8))
    content = Image.fromarray((rng.integers(100, 250, (16, 16, 3))).astype(np.uint8))
    out = np.asarray(match_colors(style, content), dtype=float)
    assert np.allclose(
        out.reshape(-1, 3).mean(0), np.asarray(content, dtype=float).reshape(-1, 3).mean(0), atol=3
    )


@pytest.mark.parametrize("fmt", ["PCX", "ICO", "TGA", "EPS"])
def test_only_plain_raster_formats_are_decoded(tmp_path, fmt):
    """Pillow reads these, painterly refuses them (EPS would start Ghostscript where installed)."""
    path = tmp_path / f"x.{fmt.lower()}"
    if fmt == "EPS":
        path.write_bytes(b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 8 8\nshowpage\n")
    else:
        Image.new("RGB", (8, 8), "red").save(path, format=fmt)
    with pytest.raises(PainterlyError, match="not a readable image"):
        load_image(path, "style image")
    with pytest.raises(PainterlyError, match="not a readable image"):
        read_metadata(path)


def test_metadata_is_read_without_decoding_pixels(tmp_path):
    """``info``/``rerun`` read the header only: a damaged pixel stream or a bomb costs nothing."""
    save_image(Image.new("RGB", (64, 64), "blue"), tmp_path / "a.png", {"seed": 3})
    data = (tmp_path / "a.png").read_bytes()
    idat = data.index(b"IDAT")
    (tmp_path / "cut.png").write_bytes(data[: idat + 10])  # metadata intact, pixels truncated
    assert read_metadata(tmp_path / "cut.png") == {"seed": 3}
    from test_web_support import bomb_png

    (tmp_path / "bomb.png").write_bytes(bomb_png(30000, 30000))
    with pytest.raises(PainterlyError, match="too large"):
        read_metadata(tmp_path / "bomb.png")


@pytest.mark.parametrize("quality", ["draft", "balanced", "best"])
def test_a_smaller_image_never_costs_more(quality, monkeypatch):
    """Every preset's plan grows with the size (no switch to 300 single-scale iterations below 182 px,
    no dip where a print starts with a 512 px run's scales), so the cost model's work never falls.
    Memory is ample here: where a scale switches to tiles, smaller tiles are cheaper per pixel, so the
    estimate may rightly dip a little (the switch itself moves with the memory free at the time)."""
    from painterly import hardware
    from painterly.jobs import estimate_seconds

    monkeypatch.setattr(hardware, "available_memory", lambda device: 1 << 40)

    works = [
        estimate_seconds(Settings(styles=("s",), size=n, quality=quality), n, n) for n in range(16, 2049, 3)
    ]
    assert all(b >= a for a, b in zip(works, works[1:], strict=False))
    small, large = (Settings(styles=("s",), size=n, quality=quality) for n in (96, 256))
    assert estimate_seconds(small, 96, 72) < estimate_seconds(large, 256, 192)


def test_draft_schedule():
    assert Settings(size=512, quality="draft").schedule()[-1] == (1.0, PRESETS["draft"][0])
    assert [i for _, i in Settings(size=512, quality="draft").schedule()] == [8, 6, 4, 4, 10]
    assert Settings(size=96, quality="draft").schedule() == [(1.0, 12)]  # final + half the next scale's
    assert Settings(size=96, scales=1).schedule() == [(1.0, 300)]  # asked for a single long run


@pytest.mark.parametrize("quality", ["draft", "balanced"])
def test_a_print_starts_with_the_whole_512_px_schedule(quality):
    """Its layout is settled as a 512 px run's is, then the finer scales paint strokes; the final
    scale's own count (``iterations``) applies to the final scale only."""
    small = Settings(size=512, quality=quality).schedule()
    for size in (609, 725, 1000, 4096, 8192):
        for iterations in (0, 77):
            schedule = Settings(size=size, quality=quality, iterations=iterations).schedule()
            head = schedule[: len(small)]
            assert [round(size * f) for f, _ in head] == [round(512 * f) for f, _ in small]
            assert [i for _, i in head] == [i for _, i in small]
            assert schedule[-1] == (1.0, iterations or small[-1][1]) and len(schedule) > len(small)
            assert {i for _, i in schedule[len(small) : -1]} <= {MIN_ITERATIONS}  # they carry it up
            fractions = [f for f, _ in schedule]
            assert all(1 < b / a <= 2**0.5 + 1e-9 for a, b in zip(fractions, fractions[1:], strict=False))
    near = Settings(size=600, quality=quality).schedule()  # within a quarter step: no 512 px repeat
    assert [round(600 * f) for f, _ in near][-2:] == [424, 600]
    asked = Settings(size=4096, quality=quality, scales=11).schedule()  # scales asked for: as before
    assert [i for _, i in asked][:5] != [i for _, i in small]


def test_style_colors_moves_the_content_to_the_styles_palette(images):
    from painterly.images import _srgb_to_lab, style_colors

    content = load_image(str(images / "tubingen.jpg")).resize((128, 96))
    lab = lambda im: _srgb_to_lab(np.asarray(im, float) / 255)  # noqa: E731
    gray = lambda im: np.asarray(im.convert("L"), float).ravel()  # noqa: E731
    for name in ("seated-nude", "the_scream"):
        style = load_image(str(images / f"{name}.jpg")).resize((96, 128))
        out = style_colors(content, [style], [1.0])
        assert out.size == content.size
        flat_out, flat_style = lab(out).reshape(-1, 3), lab(style).reshape(-1, 3)
        # The painting's lightness distribution and average colour (Lab units, L: 0-100).
        quantiles = [0.1, 0.5, 0.9]
        assert (
            np.abs(np.quantile(flat_out[:, 0], quantiles) - np.quantile(flat_style[:, 0], quantiles)).max()
            < 1
        )
        assert np.abs(flat_out.mean(0) - flat_style.mean(0)).max() < 1.5
        assert np.abs(lab(content).reshape(-1, 3).mean(0) - flat_style.mean(0)).max() > 10
        # The content's structure: lightness keeps its order.
        assert np.corrcoef(gray(out), gray(content))[0, 1] > 0.9
    # The sky takes the colour The Scream gives that lightness: orange, not the photo's blue.
    scream = load_image(str(images / "the_scream.jpg")).resize((96, 128))
    out = style_colors(content, [scream], [1.0])
    sky_before, sky_after = lab(content)[:15, 20:100].mean((0, 1)), lab(out)[:15, 20:100].mean((0, 1))
    assert sky_before[2] < -20 and sky_after[1] > 5 and sky_after[2] > 10
    # Blend weights need not sum to 1; a flat photo (one shared value) gets the painting's middle.
    assert style_colors(content, [scream, scream], [2.0, 2.0]).tobytes() == out.tobytes()
    flat = lab(style_colors(Image.new("RGB", (40, 30), "white"), [scream], [1.0]))[0, 0, 0]
    assert abs(flat - np.median(lab(scream)[..., 0])) < 2
