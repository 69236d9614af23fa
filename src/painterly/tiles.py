"""Print resolution: a scale too large for the memory budget runs in overlapping tiles.

A whole-image pass keeps every activation for the backward pass (``hardware.bytes_per_pixel``), so an
8192 px print would need ~130 GB. A scale whose whole pass exceeds the budget is optimised tile by
tile instead, in raster order, each tile starting from the canvas so far (so neighbours agree in the
overlap) and written back with a cosine ramp across the middle of the overlap (each tile's own border,
where zero padding distorts the features, never shows). Every tile is pulled towards the *global*
style statistics (one set of targets for the whole image, as an untiled run) and its own crop's
content features; so the style is not re-fitted per tile, only its placement is local.

The coarse scales, which fit, run whole as before: runs that fit are unchanged bit for bit.

Style targets of an image too large for one forward pass are summed over tiles too
(``painterly.style_tiles``).

Extra loss terms join the tiles they offer a part for (``for_tile``: face protection, cropped to the
faces a tile reaches); the others (video's temporal term) sit out the tiled scales, which start from
the whole scales' result.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from PIL import Image

from . import cost, hardware
from .errors import PainterlyError
from .events import TileStarted
from .hardware import bytes_per_pixel, optimizer_bytes_per_pixel

# The smallest tile worth optimising (its overlap must still cover relu4/relu5's receptive field) and
# the overlap between neighbours at full-size tiles (smaller tiles overlap by a third of their side).
MIN_TILE = 256
OVERLAP = 128
# Tile sides are whole multiples of this: the process's resident memory, which comes off a budget,
# moves by megabytes from run to run, and a side that followed it would tile (and paint) a rerun or a
# resumed run differently. In steps of 128 px the plan moves only when the footprint does by ~0.1 GiB.
TILE_STEP = 128
# Whole-image memory besides the tile: the float32 canvas and its upsampled copy (24 B/px), the
# content image at the scale and its crop (~6 B/px), the style image's tensor, headroom.
CANVAS_BYTES_PER_PIXEL = 48
# Style targets take a forward pass only (no activations kept for backward): ~1/3 of a training pass.
FORWARD_FRACTION = 0.35


Box = tuple[int, int, int, int]


# Share of the free memory a run takes when no --memory-budget is given: a print must not take the
# machine's whole memory (a 4096 px draft without a budget peaked at 13.8 of 23 GiB free, and its
# larger tiles were slower per pixel too). --memory-budget gives a run more, or less.
DEFAULT_SHARE = 0.5


def budget_note(gib: float, device: torch.device) -> str:
    """How a budget became the room a memory error quotes."""
    if gib <= 0:
        free = hardware.available_memory(device) / 2**30
        return f" ({DEFAULT_SHARE:.0%} of the {free:.1f} GiB free; --memory-budget gives more)"
    return f" (--memory-budget {gib:g} GiB less the {hardware.memory_in_use(device) / 2**30:.1f} GiB painterly holds)"


def budget(gib: float, device: torch.device) -> float:
    """Bytes a run may still spend: what ``gib`` leaves beside what the process already holds (so the
    budget bounds its peak, start-up included), else ``DEFAULT_SHARE`` of the free memory."""
    if gib > 0:
        return max(0.0, gib * 2**30 - hardware.memory_in_use(device))
    return hardware.available_memory(device) * DEFAULT_SHARE


def per_pixel(precision: str, iterations: int) -> float:
    """Bytes per pixel of a pass being optimised: activations plus the optimiser's history."""
    return bytes_per_pixel(precision) + optimizer_bytes_per_pixel(iterations)


def fits_whole(width: int, height: int, precision: str, room: float, iterations: int = 0) -> bool:
    return width * height * per_pixel(precision, iterations) <= room


def tile_side(width: int, height: int, precision: str, room: float, iterations: int = 0) -> int:
    """The largest square tile that fits next to the canvas (0 if not even a minimal one does)."""
    free = room - width * height * CANVAS_BYTES_PER_PIXEL
    side = math.isqrt(int(max(0.0, free) / per_pixel(precision, iterations)))
    smallest = min(MIN_TILE, max(width, height))
    if side < smallest:
        return 0
    return max(smallest, side // TILE_STEP * TILE_STEP)


# Per tile, besides its evaluations: its content features (a forward pass), the crop, blend and trim,
# and the optimiser's start, in megapixel-evaluations (~0.4 s here).
TILE_OVERHEAD_MPX = 0.2


def fastest_side(width: int, height: int, largest: int, iterations: int, device: str = "cpu") -> int:
    """The tile side, up to ``largest`` (what fits the memory) in ``TILE_STEP`` steps, that paints a
    scale in the least time: fewer tiles overlap less in all, but a tile sized to the memory left
    can overlap its neighbours by far more than ``OVERLAP`` (4096x3072 in 12 tiles of 1408 px works
    1.89x the image's pixels, in 12 of 1152 px 1.27x) and is slower per pixel on a CPU."""
    candidates = [side for side in range(TILE_STEP, largest + 1, TILE_STEP) if side >= MIN_TILE]
    candidates = [side for side in candidates if side < largest] + [largest]

    def seconds(side: int) -> float:
        boxes = Grid(width, height, side).boxes()
        worked = sum(cost.megapixels((r - left) * (b - top), device) for left, top, r, b in boxes)
        return worked * max(1, iterations) + len(boxes) * TILE_OVERHEAD_MPX

    return min(reversed(candidates), key=seconds)  # ties: the larger side, fewer tiles


def check(
    width: int,
    height: int,
    precision: str,
    room: float,
    device: torch.device,
    why: str = "",
    iterations: int = 0,
) -> None:
    """Raise PainterlyError unless a whole pass or, failing that, a tiled pass fits in ``room`` bytes
    (``why``: where that room comes from, for the message; ``iterations``: the scale's)."""
    if fits_whole(width, height, precision, room, iterations) or tile_side(
        width, height, precision, room, iterations
    ):
        return
    side = min(MIN_TILE, max(width, height))
    tile_bytes = side * side * per_pixel(precision, iterations)
    need = tile_bytes + width * height * CANVAS_BYTES_PER_PIXEL
    aspect = width / height
    pixels = max(0.0, room - tile_bytes) / CANVAS_BYTES_PER_PIXEL
    largest = int(math.sqrt(pixels * max(aspect, 1 / aspect)))
    advice = f"the largest size that fits is about {largest} px" if largest >= side else "no size fits"
    raise PainterlyError(
        f"{width}x{height} needs at least {need / 2**30:.1f} GiB (in tiles) but {room / 2**30:.1f} GiB is "
        f"available on {device.type}{why}; {advice}"
    )


# --- the grid --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Grid:
    width: int
    height: int
    side: int  # tile side (clipped to the image along a short dimension)

    @property
    def overlap(self) -> int:
        return min(OVERLAP, self.side // 3)

    def boxes(self) -> list[Box]:
        xs = _starts(self.width, self.side, self.overlap)
        ys = _starts(self.height, self.side, self.overlap)
        tw, th = min(self.side, self.width), min(self.side, self.height)
        return [(x, y, x + tw, y + th) for y in ys for x in xs]


def _starts(length: int, tile: int, overlap: int) -> list[int]:
    """Tile origins along one axis: evenly spread, every neighbour pair overlapping by >= ``overlap``."""
    if tile >= length:
        return [0]
    n = math.ceil((length - overlap) / (tile - overlap))
    return [round(i * (length - tile) / (n - 1)) for i in range(n)]


def plan(
    width: int, height: int, precision: str, room: float, iterations: int = 0, device: str = "cpu"
) -> Grid | None:
    """None if the scale runs whole, else its tile grid (the fastest side that fits, on ``device``)."""
    if fits_whole(width, height, precision, room, iterations):
        return None
    side = tile_side(width, height, precision, room, iterations)
    if not side:  # check() refuses this before a run; a caller that skipped it gets the same error
        raise PainterlyError(f"{width}x{height}: not even a {MIN_TILE} px tile fits in the memory left")
    return Grid(width, height, fastest_side(width, height, side, iterations, device))


def _ramp(length: int, overlap: int) -> torch.Tensor:
    """1 along a tile, rising 0 -> 1 (cosine) across the middle half of ``overlap`` at its start."""
    ramp = torch.ones(length)
    if overlap > 0:
        quarter = overlap // 4
        t = ((torch.arange(length) - quarter + 0.5) / max(1, overlap - 2 * quarter)).clamp(0, 1)
        ramp = 0.5 - 0.5 * torch.cos(math.pi * t)
    return ramp


def feather(box: Box, boxes: Sequence[Box]) -> torch.Tensor:
    """(1, 1, h, w) blend weight of ``box`` over the canvas: ramps where an earlier tile overlaps it."""
    left, top, right, bottom = box
    before = boxes[: boxes.index(box)]
    left_overlap = max((r - left for x0, y0, r, _ in before if y0 == top and x0 < left), default=0)
    top_overlap = max((b - top for x0, y0, _, b in before if x0 == left and y0 < top), default=0)
    wy = _ramp(bottom - top, top_overlap)[:, None]
    wx = _ramp(right - left, left_overlap)[None, :]
    return (wy * wx)[None, None]


def seam_ratio(image: torch.Tensor, boxes: Sequence[Box]) -> float:
    """How much a tile border stands out: gradient energy across each border line inside the image
    (the steps into and out of its first pixel, along the tile's extent) over that of the bands 3-12
    px either side, averaged over the borders. ~1 where blending hides the tiles, above 1 where a seam
    shows; local, so the content under a border (a facade or the sky) is not a seam. (1, 3, H, W)."""
    energy = (image[..., :, 1:] - image[..., :, :-1]).pow(2).mean((0, 1))  # (H, W-1): step x -> x+1
    across = (image[..., 1:, :] - image[..., :-1, :]).pow(2).mean((0, 1)).T  # (W, H-1)
    height, width = image.shape[-2:]
    found = []
    for left, top, right, bottom in boxes:
        found += [_border(energy[top:bottom], x) for x in (left, right) if 0 < x < width]
        found += [_border(across[left:right], y) for y in (top, bottom) if 0 < y < height]
    ratios = [r for r in found if r is not None]
    return sum(ratios) / len(ratios) if ratios else 1.0


def _border(steps: torch.Tensor, at: int) -> float | None:
    """``steps``: (n, length-1) energies of the steps i -> i+1 along lines crossing a border at
    ``at``; None where no band beside it lies inside the image."""
    line = steps[:, max(0, at - 1) : at + 1]
    near = torch.cat([steps[:, max(0, at - 12) : max(0, at - 3)], steps[:, at + 3 : at + 12]], dim=1)
    if not line.numel() or not near.numel():
        return None
    return float(line.mean() / near.mean().clamp_min(FLAT))


# Below this energy a band counts as flat (a quarter of an 8-bit level per step): a border through a
# clipped sky must not turn a rounding difference into a huge ratio.
FLAT = (0.25 / 255) ** 2


# --- running a tiled scale ---------------------------------------------------------------------------


def optimize(
    x: torch.Tensor,
    grid: Grid,
    content: Image.Image,
    mask: Image.Image | None,
    objective_for: Callable[[Image.Image, Image.Image | None, Box], Callable],
    optimize_tile: Callable[[torch.Tensor, Callable], torch.Tensor],
    emit: Callable[[TileStarted], None],
    stopped: Callable[[], bool],
    scale: int,
    between: Callable[[torch.Tensor, dict[str, Any]], None],
    resume: dict[str, Any] | None,
) -> torch.Tensor:
    """Optimise ``x`` (1, 3, H, W) tile by tile; return the blended canvas on ``x``'s device.

    ``objective_for(content_crop, mask_crop, box)`` builds a tile's objective (content targets of the
    crop, the run's global style targets); ``optimize_tile(start, objective)`` spends the scale's
    iterations on one tile. After each tile, ``between(canvas, progress)`` may keep the scale's
    progress (the next tile, the unpainted start, what is painted; a tile cut short by a stop is
    next again); ``resume`` continues from one.
    """
    device = x.device
    canvas = x.detach().float().cpu()
    base = canvas.clone()  # the scale's unpainted start, for the fades below
    painted = torch.zeros_like(canvas[:, :1])
    first = 0
    if resume is not None:
        if (
            resume.get("side") != grid.side
        ):  # planned by another version's tile sizes: ``next`` means another tile
            raise PainterlyError(
                f"the checkpoint was painting {resume.get('side', 'other')} px tiles where this version plans "
                f"{grid.side} px ones; remove it to start afresh"
            )
        first, base, painted = int(resume["next"]), resume["base"].float(), resume["painted"].float()
    if mask is not None:
        mask = mask.convert("RGB").resize((grid.width, grid.height), Image.NEAREST)
    boxes = grid.boxes()
    progress = lambda next_tile: {"next": next_tile, "side": grid.side, "base": base, "painted": painted}  # noqa: E731
    for index in range(first, len(boxes)):
        box = boxes[index]
        if stopped():
            between(canvas, progress(index))
            break
        emit(TileStarted(scale, index, len(boxes), box))
        left, top, right, bottom = box
        objective = objective_for(content.crop(box), mask.crop(box) if mask else None, box)
        crop = (..., slice(top, bottom), slice(left, right))
        # Painted neighbours fade into the unpainted start instead of ending at a hard edge, which
        # the tile's few iterations would not remove (a seam measured at 4096 px).
        start = base[crop] + (canvas[crop] - base[crop]) * painted[crop]
        tile = optimize_tile(start.to(device), objective).detach().float().cpu()
        weight = feather(box, boxes)
        canvas[crop].mul_(1 - weight).add_(tile * weight)
        torch.maximum(painted[crop], _fade_out(box, grid), out=painted[crop])
        del objective, tile
        hardware.release_memory(device)
        cut = stopped()  # the tile ended early: it is the next one again
        between(canvas, progress(index if cut else index + 1))
        if cut:
            break
    return canvas.to(device)


def _fade_out(box: Box, grid: Grid) -> torch.Tensor:
    """(1, 1, h, w): 1 inside a painted tile, falling to 0 (cosine) over the overlap at the sides
    where later tiles continue the canvas."""
    left, top, right, bottom = box

    def fall(length: int, inner: bool) -> torch.Tensor:
        if not inner:
            return torch.ones(length)
        t = ((length - 0.5 - torch.arange(length)) / grid.overlap).clamp(0, 1)
        return 0.5 - 0.5 * torch.cos(math.pi * t)

    return (
        fall(bottom - top, bottom < grid.height)[:, None] * fall(right - left, right < grid.width)[None, :]
    )[None, None]
