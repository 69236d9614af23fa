"""Settings' fields as options: typed parsing of user text, and every face generated from them."""

from dataclasses import fields

import pytest

from painterly.errors import PainterlyError
from painterly.options import INPUTS, option, options
from painterly.settings import DEFAULTS, Settings


def test_every_field_but_the_inputs_is_an_option():
    assert [o.name for o in options()] == [f.name for f in fields(Settings) if f.name not in INPUTS]


@pytest.mark.parametrize(
    ("name", "text", "value"),
    [
        ("size", "256", 256),
        ("style_weight", "2.5", 2.5),
        ("style_layers", "relu1_1, relu2_1", ("relu1_1", "relu2_1")),
        ("style_blend", "0.7,0.3", (0.7, 0.3)),
        ("mask_styles", "0,-1", (0, -1)),
        ("quality", "draft", "draft"),
        ("size", "", DEFAULTS.size),
        ("style_blend", "", ()),
    ],
)
def test_parse(name, text, value):
    assert option(name).parse(text) == value
    assert option(name).parse(option(name).format(value)) == value


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("size", "big", "size must be an integer or auto, not 'big'"),
        ("style_weight", "nan", "style-weight must be a finite number"),
        ("content_weight", "inf", "content-weight must be a finite number"),
        ("quality", "fast", "quality must be one of draft, balanced, best"),
        ("mask_styles", "0,x", "mask-styles must be an integer"),
    ],
)
def test_bad_text_is_a_one_line_error(name, text, message):
    with pytest.raises(PainterlyError, match=message):
        option(name).parse(text)


def test_unknown_setting_is_a_one_line_error():
    with pytest.raises(PainterlyError, match="unknown setting 'colour'"):
        option("colour")
