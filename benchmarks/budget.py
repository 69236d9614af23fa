"""Time estimates and time budgets, measured as a user meets them: whole CLI commands.

1. Estimate vs actual over sizes: ``painterly CONTENT STYLE --size N --quality draft``; the estimate the
   command prints before painting against the time from that line to the output written. First with
   a fresh cache folder per size (a new machine: the command calibrates itself), then again on that
   cache (the calibration and that first run remembered). Goal: within +-20 % fresh, +-10 % remembered.
2. Budgets: ``--time T`` at 512 and 1024 px; the whole command's wall time against T (goal +-15 %),
   painterly's objective of the saved image at its own size (lower is better), and a side-by-side sheet
   of 15 s / 30 s / 60 s / 5 min at 512 px (results/budget-sheet.png) to see that more time paints
   better.

    flock /tmp/painterly-heavy.lock python benchmarks/budget.py [--quick]
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import RESULTS, Judge, start, table

ESTIMATE = re.compile(r"estimated ([\d.]+) (s|min)")


def _args(ap) -> None:
    ap.add_argument("--sizes", default="256,512,1024,2048")
    ap.add_argument("--budgets", default="15,30,60,300")
    ap.add_argument("--budget-sizes", default="512,1024")


def _defaults(args) -> None:
    if args.quick:
        args.sizes, args.budgets, args.budget_sizes = "256,512", "15,30", "512"


def command(args, out: Path, cache: Path, *extra: str) -> tuple[float, float, float]:
    """(estimate s, painting s: from the estimate line to the end, whole command s) of one CLI run."""
    env = dict(os.environ, XDG_CACHE_HOME=str(cache))
    cmd = [sys.executable, "-m", "painterly.cli", str(args.content), str(args.style), "-o", str(out), *extra]
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True, env=env)
    estimate = seen_at = None
    for line in proc.stderr:
        found = ESTIMATE.search(line)
        if found and estimate is None:
            estimate = float(found[1]) * (60 if found[2] == "min" else 1)
            seen_at = time.perf_counter()
    proc.wait()
    ended = time.perf_counter()
    if proc.returncode or estimate is None:
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode})")
    return estimate, ended - seen_at, ended - started


def estimates(args, tmp: Path) -> tuple[list[list], Path]:
    """The table's rows, and the last size's cache: a machine that has calibrated and run."""
    warm = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    rows = []
    for size in map(int, args.sizes.split(",")):
        fresh = tmp / f"fresh-cache-{size}"  # a new machine for each size: converted weights, no speeds
        if (warm / "painterly").is_dir():
            shutil.copytree(
                warm / "painterly", fresh / "painterly", ignore=shutil.ignore_patterns("speed.json")
            )
        row = [f"{size} px draft"]
        for label in ("fresh", "remembered"):
            estimate, actual, _ = command(args, tmp / f"e{size}-{label}.png", fresh, "--size", str(size),
                                          "--quality", "draft")  # fmt: skip
            row += [f"{estimate:.0f} / {actual:.0f} s ({100 * (estimate / actual - 1):+.0f} %)"]
        rows.append(row)
    return rows, fresh


def budgets(args, tmp: Path, cache: Path) -> tuple[list[list], list[tuple[str, Path]]]:
    rows, sheet = [], []
    for size in map(int, args.budget_sizes.split(",")):
        judge = Judge(args.content, args.style, size)
        for seconds in map(int, args.budgets.split(",")):
            if size != 512 and not 30 <= seconds <= 60:  # the sheet's 15 s and 5 min at 512 px only
                continue
            out = tmp / f"b{size}-{seconds}.png"
            _, _, wall = command(args, out, cache, "--size", str(size), "--time", f"{seconds}s")
            objective = judge(out)
            rows.append([f"{size} px, --time {seconds}s", f"{wall:.1f}", f"{100 * (wall / seconds - 1):+.1f} %", f"{objective:.3f}"])  # fmt: skip
            if size == 512:
                sheet.append((f"{seconds} s", out))
    return rows, sheet


def save_sheet(sheet: list[tuple[str, Path]]) -> None:
    from PIL import Image, ImageDraw

    images = [(label, Image.open(path).convert("RGB")) for label, path in sheet]
    w, h = images[0][1].size
    canvas = Image.new("RGB", (w * len(images), h + 24), "white")
    for i, (label, image) in enumerate(images):
        canvas.paste(image, (i * w, 24))
        ImageDraw.Draw(canvas).text((i * w + 6, 6), label, fill="black")
    RESULTS.mkdir(exist_ok=True)
    canvas.save(RESULTS / "budget-sheet.png")
    print(f"sheet: {RESULTS / 'budget-sheet.png'}")


def main() -> None:
    args = start(__doc__, _args, _defaults, peer=False)
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        rows, cache = estimates(args, tmp)
        table("estimate vs actual (estimate line to the command's end)", ["run", "fresh cache", "remembered"], rows)  # fmt: skip
        rows, sheet = budgets(args, tmp, cache)
        table("time budgets (whole command)", ["run", "wall s", "vs budget", "objective"], rows)
        save_sheet(sheet)


if __name__ == "__main__":
    main()
