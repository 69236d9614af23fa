"""Same wall-clock budget, better picture? painterly's default 512 px output vs pastiche given as long.

Per content/style pair: painterly with its defaults at 512 px (wall time T, process launch to exit);
pastiche with L-BFGS at 512 px for as many steps as fit in T (its start-up and per-step time measured
by a short calibration run first); optionally painterly at 1024 px. Both 512 px images are scored with
painterly's objective at 512 px. Writes a labelled contact sheet per pair and one for all pairs, plus
the images, under results/.

    flock /tmp/painterly-heavy.lock python benchmarks/versus_pastiche.py                       # all 4 pairs
    flock /tmp/painterly-heavy.lock python benchmarks/versus_pastiche.py --pairs 1 --skip-1024  # short check
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path

from common import IMAGES, RESULTS, Judge, painterly_proc, pastiche_proc, stopwatch, summarize, table

PAIRS = [
    ("tubingen", "starry_night"),
    ("golden_gate", "the_scream"),
    ("brad_pitt", "picasso_selfport1907"),
    ("hoovertowernight", "shipwreck"),
]
TILE = 384


def tile(image, label: str):
    from PIL import Image, ImageDraw

    image = image.convert("RGB")
    image.thumbnail((TILE, TILE), Image.LANCZOS)
    canvas = Image.new("RGB", (TILE, TILE + 40), "white")
    canvas.paste(image, ((TILE - image.width) // 2, (TILE - image.height) // 2))
    draw = ImageDraw.Draw(canvas)
    for i, text in enumerate(label.split("\n")[:2]):
        draw.text((6, TILE + 4 + 17 * i), text, fill="black")
    return canvas


def sheet(rows: list[list], path: Path) -> None:
    from PIL import Image

    width = max(len(r) for r in rows) * TILE
    out = Image.new("RGB", (width, len(rows) * (TILE + 40)), "white")
    for y, row in enumerate(rows):
        for x, t in enumerate(row):
            out.paste(t, (x * TILE, y * (TILE + 40)))
    out.save(path)
    print(f"sheet: {path}")


def main() -> None:
    from PIL import Image

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pairs", type=int, default=len(PAIRS), help="how many of the 4 pairs to run")
    ap.add_argument("--skip-1024", action="store_true", help="leave out the 1024 px painterly output")
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--calibration-steps", type=int, default=3)
    args = ap.parse_args()
    outdir = RESULTS / "quality"
    outdir.mkdir(parents=True, exist_ok=True)
    rows, sheet_rows = [], []
    with stopwatch() as sw, tempfile.TemporaryDirectory(prefix="painterly-quality-") as tmp:
        work = Path(tmp)
        for content_name, style_name in PAIRS[: args.pairs]:
            content, style = IMAGES / f"{content_name}.jpg", IMAGES / f"{style_name}.jpg"
            tag = f"{content_name}-{style_name}"
            settings = {"content": str(content), "styles": [str(style)], "size": args.size}
            p_out = outdir / f"{tag}-painterly-{args.size}.png"
            p_out.unlink(missing_ok=True)
            p = painterly_proc(settings, p_out)
            budget = p.wall
            cal = summarize(
                pastiche_proc(content, style, args.size, args.calibration_steps, work / "cal.png"), "pastiche"
            )
            steps = max(1, round((budget - cal["startup"]) / cal["per_iter"]))
            q_out = outdir / f"{tag}-pastiche-{args.size}.png"
            q = pastiche_proc(content, style, args.size, steps, work / "q.png")
            shutil.copy(work / "q.png", q_out)
            judge = Judge(content, style, args.size)
            p_loss, q_loss = judge(p_out), judge(q_out)
            rows += [
                [tag, f"painterly {args.size} (defaults)", "", p.wall, p_loss],
                [tag, f"pastiche {args.size} lbfgs", steps, q.wall, q_loss],
                [tag, "ratio painterly/pastiche", "", p.wall / q.wall, p_loss / q_loss],
            ]
            tiles = [
                tile(Image.open(content), f"content: {content_name}"),
                tile(Image.open(style), f"style: {style_name}"),
                tile(Image.open(p_out), f"painterly {args.size} px, {p.wall:.0f} s\nloss {p_loss:.3f}"),
                tile(
                    Image.open(q_out),
                    f"pastiche {args.size} px, {steps} steps, {q.wall:.0f} s\nloss {q_loss:.3f}",
                ),
            ]
            if not args.skip_1024:
                big = outdir / f"{tag}-painterly-1024.png"
                big.unlink(missing_ok=True)
                b = painterly_proc(dict(settings, size=1024), big)
                with Image.open(big) as im:
                    b_loss = judge(im.convert("RGB").resize(judge.size, Image.LANCZOS))
                rows.append([tag, "painterly 1024 (defaults; loss downscaled to 512)", "", b.wall, b_loss])
                tiles.append(
                    tile(Image.open(big), f"painterly 1024 px, {b.wall:.0f} s\nloss@512 {b_loss:.3f}")
                )
            sheet([tiles], RESULTS / f"quality-{tag}.png")
            sheet_rows.append(tiles)
            table("quality so far", ["pair", "run", "steps", "wall s", "loss@512"], rows)
    if len(sheet_rows) > 1:
        sheet(sheet_rows, RESULTS / "quality.png")
    print(f"\nquality wall time {sw.seconds:.0f} s; images in {outdir}")


if __name__ == "__main__":
    main()
