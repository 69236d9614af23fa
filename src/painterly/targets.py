"""Feature targets kept between runs: style statistics per (style image, options, scale), content
features per content image.

A batch that paints twenty photos after one painting, a sweep of weights, or a video's frames compute
each style's targets once. Keys name what a target was made from (a digest of the pixels, the layer,
the network and the scale), so two different images can never share an entry; entries are evicted
least-recently-used so a long video does not keep every frame's content features.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any

from PIL import Image


def fingerprint(image: Image.Image) -> str:
    """A digest of an image's pixels, size and mode: equal digests mean equal targets."""
    digest = hashlib.blake2b(digest_size=16)
    digest.update(f"{image.mode}:{image.size}".encode())
    digest.update(image.tobytes())
    return digest.hexdigest()


class TargetCache:
    """Least-recently-used store of computed targets, shared by any runs that pass the same object.

    ``style`` holds small per-layer statistics (Gram matrices, means) and is kept large; ``content``
    holds full feature maps, one entry per content image and scale, and is kept small.
    """

    def __init__(self, style_entries: int = 256, content_entries: int = 8) -> None:
        self._limits = {"style": style_entries, "content": content_entries}
        self._entries: dict[str, OrderedDict[Hashable, Any]] = {
            "style": OrderedDict(),
            "content": OrderedDict(),
        }
        self.hits = 0
        self.misses = 0

    def get(self, kind: str, key: Hashable, make: Callable[[], Any]) -> Any:
        """The entry for ``key``, made by ``make()`` on a miss."""
        entries = self._entries[kind]
        if key in entries:
            entries.move_to_end(key)
            self.hits += 1
            return entries[key]
        self.misses += 1
        value = make()
        entries[key] = value
        while len(entries) > self._limits[kind]:
            entries.popitem(last=False)
        return value

    def __len__(self) -> int:
        return sum(len(entries) for entries in self._entries.values())
