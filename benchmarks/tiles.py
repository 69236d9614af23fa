"""Print resolution: a tiled 4096 px run's time, peak RSS and seam ratio, with crops across a border.

The CLI runs in its own process under ``/usr/bin/time -v`` (peak RSS); the tile grid of the final
scale is recomputed from the same budget, and ``tiles.seam_ratio`` compares the gradient energy in the
overlaps with the whole image's. Crops centred on a tile corner go to results/ to look at.

    flock /tmp/painterly-heavy.lock python benchmarks/tiles.py            # ~5-10 min on 2 cores
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
IMAGES = ROOT.parent / "shared" / "images"
RESULTS = ROOT / "results"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", type=int, default=4096)
    ap.add_argument("--budget", type=float, default=4.0, help="--memory-budget in GiB")
    ap.add_argument("--iterations", type=int, default=2)
    ap.add_argument("--coarse-iterations", type=int, default=4)
    ap.add_argument("--scales", type=int, default=0, help="0: the automatic schedule")
    ap.add_argument("--content", type=Path, default=IMAGES / "tubingen.jpg")
    ap.add_argument("--style", type=Path, default=IMAGES / "starry_night.jpg")
    args = ap.parse_args()
    from PIL import Image

    from painterly import tiles
    from painterly.images import to_tensor

    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"tiles-{args.size}.png"
    cmd = [sys.executable, "-m", "painterly.cli", str(args.content), str(args.style), "-o", str(out),
           "--size", str(args.size), "--quality", "draft", "--iterations", str(args.iterations),
           "--coarse-iterations", str(args.coarse_iterations), "--scales", str(args.scales), "--memory-budget", str(args.budget),
           "--precision", "fp32", "--quiet"]  # fmt: skip
    start = time.perf_counter()
    res = subprocess.run(["/usr/bin/time", "-v", *cmd], capture_output=True, text=True)
    wall = time.perf_counter() - start
    if res.returncode:
        raise SystemExit(f"run failed ({res.returncode}):\n{res.stderr[-3000:]}")
    rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", res.stderr).group(1)) / 2**20
    image = Image.open(out).convert("RGB")
    width, height = image.size
    grid = tiles.plan(width, height, "fp32", args.budget * 2**30)
    boxes = grid.boxes() if grid else []
    ratio = tiles.seam_ratio(to_tensor(image), boxes) if boxes else float("nan")
    print(f"{width}x{height}, budget {args.budget:g} GiB, draft, {args.iterations} final / "
          f"{args.coarse_iterations} coarse iterations, scales {args.scales or 'auto'}: {wall:.0f} s, peak RSS {rss:.2f} GiB, "
          f"{len(boxes)} tiles at the final scale (side {grid.side if grid else 0}), "
          f"seam ratio {ratio:.3f}")  # fmt: skip
    if len(boxes) > 1:
        # a corner where four tiles meet: the second row's second tile's top-left overlap
        x0, y0 = sorted({b[0] for b in boxes})[1], sorted({b[1] for b in boxes})[1]
        crop = image.crop((x0 - 192, y0 - 192, x0 + 320, y0 + 320))
        crop.save(RESULTS / f"tiles-{args.size}-corner.png")
        print(f"crop across the tile corner at ({x0}, {y0}): {RESULTS / f'tiles-{args.size}-corner.png'}")


if __name__ == "__main__":
    main()
