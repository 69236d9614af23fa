"""Portrait protection: faces found in the content keep their features under the style.

Style losses are global, so a swirl is as welcome across an eye as across the sky. Where OpenCV's Haar
cascades find a face (offline: the cascades ship inside opencv-python-headless 4.x), a ``FaceTerm``
joins the objective: extra content loss at a shallow layer (edges: eyes, mouth) and at relu4_2 (the
content layer), weighted by a feathered ellipse over the face, so the painting still reaches the skin
and the transition has no edge. Photos without a face get no term and run exactly as before.

OpenCV is optional. Without it (or with OpenCV 5, which dropped the cascades) ``detect_faces`` finds
nothing and protection is skipped; ``--protect-faces`` is on by default, so it must not fail a run
that never needed it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

if TYPE_CHECKING:
    import torch

    from .engine import Stylizer
    from .objective import LossTerm

FACE_LAYERS = ("relu2_2", "relu4_2")
# The ellipse around a detector box: Haar boxes span brows to mouth, so widen and lengthen them to
# take in the forehead and chin; FEATHER is the fraction of the radius over which protection fades.
_WIDEN, _LENGTHEN, _FEATHER = 0.62, 0.8, 0.35
_CASCADES = (("haarcascade_frontalface_alt2.xml", 5), ("haarcascade_profileface.xml", 6))

Box = tuple[float, float, float, float]  # x, y, width, height as fractions of the image


def detect_faces(image: Image.Image) -> list[Box]:
    """Face boxes (fractions of the image's size), frontal and profile (both ways); [] without OpenCV."""
    try:
        import cv2
    except ImportError:
        return []
    if not hasattr(cv2, "CascadeClassifier") or not hasattr(cv2, "data"):
        return []
    gray = np.asarray(image.convert("L"))
    scale = min(1.0, 1024 / max(gray.shape))  # detection is scale-invariant; spare time on big photos
    if scale < 1:
        gray = cv2.resize(gray, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    gray = cv2.equalizeHist(gray)
    height, width = gray.shape
    smallest = max(20, min(width, height) // 20)
    boxes: list[Box] = []
    for name, neighbors in _CASCADES:
        cascade = cv2.CascadeClassifier(cv2.data.haarcascades + name)
        if cascade.empty():
            continue
        for flipped in (False, True) if "profile" in name else (False,):
            view = gray[:, ::-1].copy() if flipped else gray
            for x, y, w, h in cascade.detectMultiScale(view, 1.1, neighbors, minSize=(smallest, smallest)):
                x = width - x - w if flipped else x
                boxes.append((x / width, y / height, w / width, h / height))
    return boxes


def face_weights(boxes: Sequence[Box], width: int, height: int) -> np.ndarray:
    """(height, width) map in [0, 1]: 1 inside each face's ellipse, fading to 0 over its rim."""
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    xs, ys = (xs + 0.5) / width, (ys + 0.5) / height
    out = np.zeros((height, width), np.float32)
    for x, y, w, h in boxes:
        cx, cy = x + w / 2, y + h * 0.55
        r = np.sqrt(((xs - cx) / (w * _WIDEN)) ** 2 + ((ys - cy) / (h * _LENGTHEN)) ** 2)
        t = np.clip((1 - r) / _FEATHER, 0, 1)  # 1 inside r = 1 - FEATHER, 0 beyond r = 1
        out = np.maximum(out, t * t * (3 - 2 * t))  # smoothstep: no visible rim
    return out


class FaceTerm:
    """Content loss inside the faces' feathered ellipses (a ``LossTerm``), at FACE_LAYERS.

    Each layer's error is weighted by the face map at that layer's resolution and divided by the
    map's sum and the content features' mean square, so its size is that of the engine's own content
    loss restricted to the faces, whatever the image size. Content targets are computed once per scale.
    Tiled scales (prints) get a term per tile that a face reaches (``for_tile``). The weight is read
    at every evaluation, so steering the protection (or the style weight it is relative to) takes
    effect at the next one.
    """

    name = "faces"
    layers = FACE_LAYERS

    def __init__(
        self,
        features: Callable[[torch.Tensor, set[str]], dict[str, torch.Tensor]],
        content: Image.Image,
        boxes: Sequence[Box],
        strength: Callable[[], float],
        share: float = 1.0,
    ) -> None:
        """``features``: the run's network (``Stylizer.features``), for the content's own targets.
        ``strength()``: the whole image's weight now; ``share``: this part's multiple of it (a tile's)."""
        self.features, self.content, self.boxes = features, content, list(boxes)
        self.strength, self.share = strength, share
        self._size: tuple[int, int] | None = None
        self._targets: dict[str, tuple[torch.Tensor, torch.Tensor, float]] = {}
        self._map: tuple[tuple[int, int], np.ndarray] | None = None  # the faces at a tiled scale

    @property
    def weight(self) -> float:
        return self.strength() * self.share

    def _prepare(self, image: torch.Tensor) -> None:
        import torch
        import torch.nn.functional as F

        from .images import to_tensor

        h, w = image.shape[-2:]
        if self._size == (h, w):
            return
        scaled = to_tensor(self.content.convert("RGB").resize((w, h), Image.LANCZOS)).to(image.device)
        with torch.no_grad():
            feats = self.features(scaled, set(self.layers))
        weights = torch.from_numpy(face_weights(self.boxes, w, h))[None, None].to(image.device)
        self._targets = {}
        for layer in self.layers:
            target = feats[layer].detach().float()
            mask = F.interpolate(weights, size=target.shape[-2:], mode="area")
            self._targets[layer] = (target, mask, float(mask.sum()) * float(target.pow(2).mean()) + 1e-8)
        self._size = (h, w)

    def for_tile(self, box: tuple[int, int, int, int], size: tuple[int, int]) -> FaceTerm | None:
        """This term's part of one tile (``box`` in pixels of a ``size`` scale), or None if no face
        reaches it. Its weight is scaled by the tile's share of the faces per pixel, so a tile holding
        a sliver of a face protects that sliver as the whole-image term would, not as a whole face."""
        self._targets, self._size = {}, None  # a whole scale's targets: not needed while tiles run
        (left, top, right, bottom), (width, height) = box, size
        step = 8  # relu4_2's stride: the map of the faces at the deeper protected layer's density
        if self._map is None or self._map[0] != size:
            self._map = (size, face_weights(self.boxes, -(-width // step), -(-height // step)))
        faces = self._map[1]
        tile = faces[top // step : -(-bottom // step), left // step : -(-right // step)]
        if not tile.any():
            return None
        tw, th = (right - left) / width, (bottom - top) / height
        x0, y0 = left / width, top / height
        boxes = [((x - x0) / tw, (y - y0) / th, w / tw, h / th) for x, y, w, h in self.boxes]
        cw, ch = self.content.size  # the tile's crop exactly as the engine takes it from its scale
        crop = self.content.resize(
            (right - left, bottom - top),
            Image.LANCZOS,
            box=(left * cw / width, top * ch / height, right * cw / width, bottom * ch / height),
        )
        return FaceTerm(self.features, crop, boxes, self.strength, float(tile.mean() / faces.mean()))

    def __call__(self, image: torch.Tensor, features: Mapping[str, torch.Tensor]) -> torch.Tensor:
        self._prepare(image)
        total = image.new_zeros((), dtype=image.dtype)
        for layer, (target, mask, scale) in self._targets.items():
            error = (features[layer].float() - target).pow(2).mean(1, keepdim=True)
            total = total + (error * mask).sum() / scale
        return total / len(self.layers)


def face_terms(stylizer: Stylizer, content: Image.Image) -> list[LossTerm]:
    """The run's face term, if ``protect_faces`` is on and a face is found; else no term. Its weight
    is ``face_weight`` x ``style_weight`` of the settings in force (steering changes either)."""
    if not stylizer.settings.protect_faces:
        return []
    boxes = detect_faces(content)
    if not boxes:
        return []

    def strength() -> float:
        settings = stylizer.settings  # the running run's, steering included
        return settings.face_weight * settings.style_weight

    return [FaceTerm(stylizer.features, content, boxes, strength)]
