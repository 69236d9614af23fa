"""VGG19's layer names and widths: plain data, so settings can validate layers without importing torch."""

from __future__ import annotations

from .errors import PainterlyError

# (block, convs per block) of VGG19's feature extractor, and the channel count of each block.
BLOCKS = ((1, 2), (2, 2), (3, 4), (4, 4), (5, 4))
CHANNELS = {1: 64, 2: 128, 3: 256, 4: 512, 5: 512}


def layer_names() -> list[str]:
    """All layer names in network order: conv1_1, relu1_1, ..., pool5."""
    names = []
    for block, convs in BLOCKS:
        for i in range(1, convs + 1):
            names += [f"conv{block}_{i}", f"relu{block}_{i}"]
        names.append(f"pool{block}")
    return names


LAYERS = layer_names()
# The content layers of Gatys et al.'s Figure 1 (the paper's conv1_2 ... are the ReLU outputs: Caffe's
# ReLUs overwrite their conv's blob in place).
FIGURE1_CONTENT_LAYERS = ("relu1_2", "relu2_2", "relu3_2", "relu4_2", "relu5_2")


def check_layers(names: list[str]) -> None:
    for name in names:
        if name not in LAYERS:
            raise PainterlyError(
                f"unknown layer {name!r}; valid layers are conv1_1 ... relu5_4, pool1 ... pool5"
            )
