"""Print resolution: a tiled 4096 px run's time, peak RSS and seam ratio, with crops across a border.

A job runs in its own process (a driver, as the CLI runs it) under ``/usr/bin/time`` (peak RSS, ``common.run_timed``)
with the draft preset's full schedule and a memory budget (which covers the whole process); the
driver records the final scale's tiles from its ``TileStarted`` events, and ``tiles.seam_ratio``
compares the gradient energy in the overlaps with the whole image's. A crop centred on a tile corner goes to results/ to look at.
``benchmarks/memory.py`` (and so ``speed.py``) prints the same measurement as its tiled row.

    flock /tmp/painterly-heavy.lock python benchmarks/tiles.py            # ~9 min on 2 cores (and a 512 px run)
    flock /tmp/painterly-heavy.lock python benchmarks/tiles.py --iterations 2 --scales 1   # memory only
    flock /tmp/painterly-heavy.lock python benchmarks/tiles.py --sides 256,384,512,640,768,1024,1408  # ~2 min
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from pathlib import Path

from common import IMAGES, RESULTS, Judge, best_of, machine, run_timed, table


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
        "seconds": done["seconds"],
    }


def sides(content: Path, style: Path, size: int, candidates: list[int], reps: int) -> None:
    """Seconds of one evaluation (forward, style and content losses, backward) of a square tile of
    each side, cut from the content at ``size``; and what one pass over a ``size`` scale tiled at that
    side costs (its tiles, overlaps included): the side the planner should cap tiles at on this machine."""
    from painterly import tiles
    from painterly.engine import Stylizer
    from painterly.images import fit, load_image, to_tensor
    from painterly.settings import Settings

    photo = fit(load_image(str(content), "content"), size)
    painting = load_image(str(style), "style")
    stylizer = Stylizer(Settings(content="c", styles=("s",), size=size, quality="draft"))
    rows = []
    for side in candidates:
        left, top = (photo.width - side) // 2, (photo.height - side) // 2
        crop = photo.crop((left, top, left + side, top + side))
        objective = stylizer.objective(crop, [fit(painting, 512)])  # the targets' size costs nothing here
        x = to_tensor(crop).to(stylizer.device).requires_grad_(True)

        def evaluation(objective=objective, x=x) -> None:
            objective(x)[0].backward()
            x.grad = None

        seconds = best_of(evaluation, reps)
        boxes = tiles.Grid(photo.width, photo.height, side).boxes()
        worked = sum((r - l) * (b - t) for l, t, r, b in boxes)  # noqa: E741
        rows.append([side, seconds, seconds / (side * side / 1e6), len(boxes), worked / (photo.width * photo.height),
                     len(boxes) * seconds])  # fmt: skip
        del objective, x, evaluation
    table(f"one evaluation per tile side ({stylizer.precision}, {photo.width}x{photo.height} scale)",
          ["side", "s/eval", "s/Mpx", "tiles", "worked/image", "s per pass"], rows)  # fmt: skip


def driver(spec: dict, out: str, boxes_file: str) -> None:
    """The measured process: a job as the CLI runs it, noting the final scale's tiles."""
    from painterly.engine import ScaleStarted, TileStarted
    from painterly.jobs import Job
    from painterly.settings import Settings

    settings = Settings(**{k: tuple(v) if isinstance(v, list) else v for k, v in spec.items()})
    seen: dict = {"scale": -1, "boxes": [], "step": "start", "since": time.perf_counter()}
    seconds: dict[str, float] = {}  # wall seconds per step: start-up, each scale, the write
    peaks: dict[str, float] = {}  # GiB resident, sampled every 50 ms, per scale or tile
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.05):
            rss = int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**30
            peaks[seen["step"]] = max(peaks.get(seen["step"], 0.0), rss)

    def on_event(event) -> None:
        if isinstance(event, ScaleStarted):
            now = time.perf_counter()
            seconds[seen.get("label", "start-up (imports, inputs, network)")] = now - seen["since"]
            seen["since"], seen["label"] = now, f"scale {event.index} ({event.width}x{event.height})"
            seen.update(
                scale=event.index, boxes=[], step=f"scale {event.index} ({event.width}x{event.height})"
            )
        elif isinstance(event, TileStarted):
            seen["step"] = f"scale {event.scale} tile {event.index + 1}/{event.count}"
            seen["label"] = f"{seen['label'].split(',')[0]}, {event.count} tiles"
            if event.scale == seen["scale"]:
                seen["boxes"].append(event.box)

    threading.Thread(target=sample, daemon=True).start()
    record = Job(settings, out).run(on_event=on_event)
    seconds[f"{seen['label']} and the write"] = time.perf_counter() - seen["since"]
    done.set()
    Path(boxes_file).write_text(json.dumps(
        {"boxes": seen["boxes"], "precision": record.precision, "peaks": peaks, "seconds": seconds}
    ))  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--driver", nargs=3, help=argparse.SUPPRESS)
    ap.add_argument("--size", type=int, default=4096)
    ap.add_argument("--budget", type=float, default=6.0, help="--memory-budget in GiB")
    ap.add_argument("--iterations", type=int, default=0, help="final-scale iterations (0: the preset's)")
    ap.add_argument("--scales", type=int, default=0, help="0: the automatic schedule")
    ap.add_argument("--content", type=Path, default=IMAGES / "tubingen.jpg")
    ap.add_argument("--style", type=Path, default=IMAGES / "starry_night.jpg")
    ap.add_argument(
        "--sides", default="", help="time one evaluation per tile side (e.g. 256,512,768) instead"
    )
    ap.add_argument("--compare", type=int, default=512, help="also run this size and compare (0: not)")
    ap.add_argument("--reps", type=int, default=3, help="timed evaluations per side (the fastest counts)")
    args = ap.parse_args()
    if args.driver:
        driver(json.loads(args.driver[0]), *args.driver[1:])
        return
    print(machine())
    if args.sides:
        sides(args.content, args.style, args.size, [int(s) for s in args.sides.split(",")], args.reps)
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
    for step, sec in m["seconds"].items():
        print(f"  {step}: {sec:.1f} s")
    boxes = m["boxes"]
    if len(boxes) > 1:
        # where tiles meet: the second column's (and second row's, if any) overlap
        xs, ys = sorted({b[0] for b in boxes}), sorted({b[1] for b in boxes})
        x0 = xs[1] if len(xs) > 1 else m["image"].width // 2
        y0 = ys[1] if len(ys) > 1 else m["image"].height // 2
        crop = m["image"].crop((x0 - 192, y0 - 192, x0 + 320, y0 + 320))
        crop.save(RESULTS / f"tiles-{args.size}-corner.png")
        print(f"crop across the tile corner at ({x0}, {y0}): {RESULTS / f'tiles-{args.size}-corner.png'}")
    if args.compare:
        compare(args, m["image"])


def compare(args: argparse.Namespace, large) -> None:
    """The look at a glance: the print downsampled beside a run of the same pair at ``--compare`` px,
    both scored by the objective at that size (lower is better), and a crop of the print at full size."""
    from PIL import Image

    from painterly.images import contact_sheet

    small = measure(args.content, args.style, args.compare, args.budget)
    judge = Judge(args.content, args.style, args.compare)
    down = large.resize(small["image"].size, Image.LANCZOS)
    scores = [judge(small["image"]), judge(down)]
    w, h = small["image"].size
    left, top = large.width // 3, large.height // 3  # strokes at the painting's scale, full size
    crop = large.crop((left, top, left + w, top + h))
    sheet = contact_sheet(
        [small["image"], down, crop],
        [f"{args.compare} px run: {scores[0]:.3f}", f"{args.size} px, downsampled: {scores[1]:.3f}",
         f"{args.size} px, a crop at full size"],
        3,
    )  # fmt: skip
    path = RESULTS / f"tiles-{args.size}-vs-{args.compare}.png"
    sheet.save(path)
    print(f"objective at {args.compare} px: the {args.compare} px run {scores[0]:.3f} ({small['wall']:.0f} s), "
          f"the {args.size} px print downsampled {scores[1]:.3f}; side by side: {path}")  # fmt: skip


if __name__ == "__main__":
    main()
