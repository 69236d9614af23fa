"""Print resolution: a tiled 4096 px run's time, peak RSS and seam ratio, with crops across a border.

A job runs in its own process (a driver, as the CLI runs it) under ``/usr/bin/time`` (peak RSS, ``common.run_timed``)
with the draft preset's full schedule and a memory budget (which covers the whole process); the
driver records the final scale's tiles from its ``TileStarted`` events, and ``tiles.seam_ratio``
compares the gradient energy in the overlaps with the whole image's. A crop centred on a tile corner goes to results/ to look at.
``benchmarks/memory.py`` (and so ``speed.py``) prints the same measurement as its tiled row.

    flock /tmp/painterly-heavy.lock python benchmarks/tiles.py            # ~40 min on 2 cores
    flock /tmp/painterly-heavy.lock python benchmarks/tiles.py --iterations 2 --scales 1   # memory only
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
from pathlib import Path

from common import IMAGES, RESULTS, run_timed


def measure(content: Path, style: Path, size: int, budget: float, **options) -> dict:
    """Run one job in its own process; wall seconds, peak RSS (GiB), the final scale's tiles, seams.

    ``options``: more Settings fields (iterations, scales, precision)."""
    from PIL import Image

    from painterly import tiles
    from painterly.images import to_tensor

    RESULTS.mkdir(exist_ok=True)
    out, boxes_file = RESULTS / f"tiles-{size}.png", RESULTS / f"tiles-{size}.json"
    spec = {"content": str(content), "styles": [str(style)], "size": size, "quality": "draft",
            "memory_budget": budget, **options}  # fmt: skip
    cmd = [sys.executable, __file__, "--driver", json.dumps(spec), str(out), str(boxes_file)]
    res = run_timed(cmd)
    if res.rc:
        raise SystemExit(f"run failed ({res.rc}):\n{res.stderr[-3000:]}")
    wall, rss = res.wall, res.rss_mb / 1024
    image = Image.open(out).convert("RGB")
    done = json.loads(boxes_file.read_text())
    boxes = [tuple(box) for box in done["boxes"]]
    # the same measure on lines where no tile meets another: what "no higher than elsewhere" means
    shifted = [(a + 173, b + 173, c + 173, d + 173) for a, b, c, d in boxes]  # past the overlaps
    ratio, control = (
        (tiles.seam_ratio(to_tensor(image), boxes), tiles.seam_ratio(to_tensor(image), shifted))
        if len(boxes) > 1
        else (float("nan"), float("nan"))
    )
    return {
        "image": image,
        "wall": wall,
        "rss": rss,
        "boxes": boxes,
        "ratio": ratio,
        "control": control,
        "precision": done["precision"],
        "peaks": done["peaks"],
    }


def driver(spec: dict, out: str, boxes_file: str) -> None:
    """The measured process: a job as the CLI runs it, noting the final scale's tiles."""
    from painterly.engine import ScaleStarted, TileStarted
    from painterly.jobs import Job
    from painterly.settings import Settings

    settings = Settings(**{k: tuple(v) if isinstance(v, list) else v for k, v in spec.items()})
    seen: dict = {"scale": -1, "boxes": [], "step": "start"}
    peaks: dict[str, float] = {}  # GiB resident, sampled every 50 ms, per scale or tile
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.05):
            rss = int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**30
            peaks[seen["step"]] = max(peaks.get(seen["step"], 0.0), rss)

    def on_event(event) -> None:
        if isinstance(event, ScaleStarted):
            seen.update(
                scale=event.index, boxes=[], step=f"scale {event.index} ({event.width}x{event.height})"
            )
        elif isinstance(event, TileStarted):
            seen["step"] = f"scale {event.scale} tile {event.index + 1}/{event.count}"
            if event.scale == seen["scale"]:
                seen["boxes"].append(event.box)

    threading.Thread(target=sample, daemon=True).start()
    record = Job(settings, out).run(on_event=on_event)
    done.set()
    Path(boxes_file).write_text(
        json.dumps({"boxes": seen["boxes"], "precision": record.precision, "peaks": peaks})
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--driver", nargs=3, help=argparse.SUPPRESS)
    ap.add_argument("--size", type=int, default=4096)
    ap.add_argument("--budget", type=float, default=5.5, help="--memory-budget in GiB")
    ap.add_argument("--iterations", type=int, default=0, help="final-scale iterations (0: the preset's)")
    ap.add_argument("--scales", type=int, default=0, help="0: the automatic schedule")
    ap.add_argument("--content", type=Path, default=IMAGES / "tubingen.jpg")
    ap.add_argument("--style", type=Path, default=IMAGES / "starry_night.jpg")
    args = ap.parse_args()
    if args.driver:
        driver(json.loads(args.driver[0]), *args.driver[1:])
        return
    m = measure(
        args.content, args.style, args.size, args.budget, iterations=args.iterations, scales=args.scales
    )
    width, height = m["image"].size
    print(f"{width}x{height}, budget {args.budget:g} GiB, draft, {m['precision']}, final iterations "
          f"{args.iterations or 'preset'}, scales {args.scales or 'auto'}: {m['wall']:.0f} s, peak RSS "
          f"{m['rss']:.2f} GiB, {len(m['boxes'])} tiles at the final scale, seam ratio {m['ratio']:.3f} (off the borders: {m['control']:.3f})")  # fmt: skip
    for step, gib in m["peaks"].items():
        print(f"  peak RSS during {step}: {gib:.2f} GiB")
    boxes = m["boxes"]
    if len(boxes) > 1:
        # where tiles meet: the second column's (and second row's, if any) overlap
        xs, ys = sorted({b[0] for b in boxes}), sorted({b[1] for b in boxes})
        x0 = xs[1] if len(xs) > 1 else m["image"].width // 2
        y0 = ys[1] if len(ys) > 1 else m["image"].height // 2
        crop = m["image"].crop((x0 - 192, y0 - 192, x0 + 320, y0 + 320))
        crop.save(RESULTS / f"tiles-{args.size}-corner.png")
        print(f"crop across the tile corner at ({x0}, {y0}): {RESULTS / f'tiles-{args.size}-corner.png'}")


if __name__ == "__main__":
    main()
