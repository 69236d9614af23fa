"""Scene-cut measures on clips made from ../shared/images: pans vs cuts, to set the thresholds in
painterly.video.cuts.

Pans: every photo panned at 0.5-8 px per frame (at 96 px; scaled with the size). Cuts: the first frame
of every photo after the last frame of every other. Printed per measure (hue-saturation histogram
distance, share of pixels the flow marks unreliable): the largest value over pans, the smallest over
cuts, and the false cuts and missed cuts of the detector, at each size.

    python benchmarks/cuts.py                     # 64, 96 and 256 px, about a minute on 2 cores
"""

from __future__ import annotations

import argparse
import itertools

from common import IMAGES
from PIL import Image

from painterly.images import load_image
from painterly.video import cuts
from painterly.video.flow import motion


def pan(photo: Image.Image, width: int, frames: int, speed: float) -> list[Image.Image]:
    """``frames`` views ``width`` wide moving ``speed`` px per frame across ``photo`` (stretched)."""
    height = width * 3 // 4
    wide = photo.resize((round(width * 1.6), height), Image.LANCZOS)
    return [wide.crop((round(speed * t), 0, round(speed * t) + width, height)) for t in range(frames)]


def measures(previous: Image.Image, current: Image.Image) -> tuple[float, float, bool]:
    moved = motion(previous, current)
    return (
        cuts.histogram_distance(previous, current),
        cuts.unreliable_share(moved),
        cuts.is_cut(previous, current, moved),
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[64, 96, 256])
    args = parser.parse_args()
    photos = {path.name: load_image(path) for path in sorted(IMAGES.glob("*.jpg"))}
    print(
        f"{len(photos)} photos; thresholds: histogram > {cuts.HISTOGRAM_DISTANCE}, "
        f"unreliable > {cuts.UNRELIABLE_SHARE}, both for a cut\n"
    )
    print(
        f"{'px':>5}{'pans':>6}{'hist max':>10}{'unrel max':>11}{'false':>7}"
        f"{'cuts':>6}{'hist min':>10}{'unrel min':>11}{'missed':>8}"
    )
    for width in args.sizes:
        pans = [
            measures(*pan(photo, width, 3, speed * width / 96)[1:])
            for photo in photos.values()
            for speed in (0.5, 1, 2, 4, 8)
        ]
        jumps = [
            measures(pan(photos[a], width, 1, 0)[0], pan(photos[b], width, 1, 0)[0])
            for a, b in itertools.permutations(photos, 2)
        ]
        print(
            f"{width:>5}{len(pans):>6}{max(p[0] for p in pans):>10.3f}{max(p[1] for p in pans):>11.3f}"
            f"{sum(p[2] for p in pans):>7}{len(jumps):>6}{min(c[0] for c in jumps):>10.3f}"
            f"{min(c[1] for c in jumps):>11.3f}{sum(not c[2] for c in jumps):>8}"
        )


if __name__ == "__main__":
    main()
