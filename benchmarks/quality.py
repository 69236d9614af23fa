"""How stylised is the default? painterly's presets on the classic pairs, beside the classic outputs.

Per pair (jcjohnson/neural-style's README examples) and preset: wall seconds of the run (in process,
start-up excluded), painterly's objective at the output size (single scale, default weights) and its
style and content terms. Writes one contact sheet per pair under results/quality/: content, style,
each run, and the classic output if ``--theirs`` holds it (its examples/outputs/ files, fetched by
hand; they are not part of this repository and must not be committed).

    flock /tmp/painterly-heavy.lock python benchmarks/quality.py                      # 5 pairs, both presets
    flock /tmp/painterly-heavy.lock python benchmarks/quality.py --pairs 2 --qualities draft \\
        --compare-init content                                                          # before/after
"""

from __future__ import annotations

import argparse
from pathlib import Path

from common import IMAGES, ROOT, Judge, stopwatch

RESULTS = ROOT / "results" / "quality"
# (content, style, the classic output's file name in neural-style's examples/outputs/)
PAIRS = [
    ("tubingen", "starry_night", "tubingen_starry.png"),
    ("tubingen", "the_scream", "tubingen_scream.png"),
    ("tubingen", "seated-nude", "tubingen_seated_nude.png"),
    ("tubingen", "shipwreck", "tubingen_shipwreck.png"),
    ("golden_gate", "starry_night", "golden_gate_starry.png"),
]
TILE = 320


def main() -> None:
    from PIL import Image

    from painterly.engine import Stylizer
    from painterly.images import contact_sheet, load_image
    from painterly.settings import Settings

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pairs", type=int, default=len(PAIRS), help="how many of the 5 pairs to run")
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--qualities", nargs="+", default=["draft", "balanced"])
    ap.add_argument("--compare-init", help="also run the last quality with this init (e.g. content: before)")
    ap.add_argument("--theirs", type=Path, default=ROOT / "results" / "theirs", help="classic outputs folder")
    args = ap.parse_args()
    RESULTS.mkdir(parents=True, exist_ok=True)
    print("pair | run | seconds | objective | style | content | precision")
    for content_name, style_name, theirs in PAIRS[: args.pairs]:
        content = load_image(str(IMAGES / f"{content_name}.jpg"), "content image")
        style = load_image(str(IMAGES / f"{style_name}.jpg"), "style image")
        base = Settings(content=content_name, styles=(style_name,), size=args.size)
        runs = [(q, base.with_(quality=q)) for q in args.qualities]
        if args.compare_init:
            runs.append(
                (f"{args.qualities[-1]} init={args.compare_init}", runs[-1][1].with_(init=args.compare_init))
            )
        judge = Judge(IMAGES / f"{content_name}.jpg", IMAGES / f"{style_name}.jpg", args.size)
        tiles, labels = [content, style], [f"content: {content_name}", f"style: {style_name}"]
        tag = f"{content_name}-{style_name}"
        for name, settings in runs:
            with stopwatch() as sw:
                result = Stylizer(settings).run(content, [style])
            seconds = sw.seconds
            total, parts = judge.parts(result.tensor)
            print(f"{tag} | {name} | {seconds:.1f} | {float(total):.3f} | {float(parts['style']):.4f} | "
                  f"{float(parts['content']):.3f} | {result.precision}", flush=True)  # fmt: skip
            result.image.save(RESULTS / f"{tag}-{name.replace(' ', '-').replace('=', '-')}-{args.size}.png")
            tiles.append(result.image)
            labels.append(f"ours {name}, {seconds:.0f} s, obj {float(total):.2f}")
        if (args.theirs / theirs).is_file():
            tiles.append(load_image(str(args.theirs / theirs)))
            labels.append("neural-style (1000 GPU iterations)")
        thumbs = []
        for image in tiles:
            image = image.convert("RGB")
            image.thumbnail((TILE, TILE), Image.LANCZOS)
            canvas = Image.new("RGB", (TILE, TILE), "white")
            canvas.paste(image, ((TILE - image.width) // 2, (TILE - image.height) // 2))
            thumbs.append(canvas)
        sheet = RESULTS / f"sheet-{tag}-{args.size}.png"
        contact_sheet(thumbs, labels, columns=len(thumbs)).save(sheet)
        print(f"sheet: {sheet}", flush=True)


if __name__ == "__main__":
    main()
