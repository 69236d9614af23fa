"""Memory: peak RSS of painterly (and pastiche) at a large size, bytes per pixel against painterly's
estimate, the refusal of a size that cannot fit, and print resolution: a tiled 4096 px draft under a
5.5 GiB budget (``benchmarks/tiles.py``; pastiche cannot tile), ~40 min (``--tiled-size 0``: none).

Bytes per pixel come from two points: this run and a small run (iteration.py's, run here first).

    flock /tmp/painterly-heavy.lock python benchmarks/memory.py [--quick] [--mem-size 2048]
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

from common import painterly_proc, pastiche_proc, ratio, start, summarize, table


def add_options(ap) -> None:
    ap.add_argument("--mem-size", type=int, help="memory run size (default 2048; quick 768)")
    ap.add_argument("--mem-iters", type=int, help="memory run iterations (default 2; quick 1)")
    ap.add_argument(
        "--no-mem-pastiche",
        dest="mem_pastiche",
        action="store_false",
        help="skip pastiche's memory run (quick mode skips it)",
    )
    ap.add_argument("--oom-size", type=int, default=8000)
    # tiling runs 8000 px in bounded memory, so only a budget that leaves no room for one tile refuses it
    ap.add_argument("--oom-budget", type=float, default=0.5, help="--memory-budget of the refused run, GiB")
    ap.add_argument("--tiled-size", type=int, help="tiled run's size (default 4096, ~40 min; quick: none)")
    ap.add_argument("--tiled-budget", type=float, default=5.5, help="tiled run's --memory-budget, GiB")


def defaults(args) -> None:
    q = args.quick
    args.mem_size = args.mem_size or (768 if q else 2048)
    args.mem_iters = args.mem_iters or (1 if q else 2)
    args.mem_pastiche = args.mem_pastiche and not q
    args.tiled_size = args.tiled_size if args.tiled_size is not None else (0 if q else 4096)


def memory(args, work: Path, per_iter: dict) -> None:
    """Section 4 (and 5, tiled); ``per_iter``: iteration.per_iteration's figures, the small point."""
    from PIL import Image

    from painterly.hardware import bytes_per_pixel

    size, iters = args.mem_size, args.mem_iters
    base = {"content": str(args.content), "styles": [str(args.style)], "size": size, "scales": 1,
            "iterations": iters, "optimizer": "lbfgs"}  # fmt: skip
    p_out, q_out = work / f"mem-painterly-{size}.png", work / f"mem-pastiche-{size}.png"
    p = summarize(painterly_proc(base, p_out), "painterly")
    w, h = Image.open(p_out).size
    rows = [["painterly", f"{w}x{h}", iters, p["total"], p["rss"]]]
    if args.mem_pastiche:
        q = summarize(pastiche_proc(args.content, args.style, size, iters, q_out), "pastiche")
        qw, qh = Image.open(q_out).size
        rows.append(["pastiche", f"{qw}x{qh}", iters, q["total"], q["rss"]])
        rows.append(["ratio p/q", "", "", ratio(p["total"], q["total"]), ratio(p["rss"], q["rss"])])
    table(f"4. memory at {size} px", ["tool", "output", "iters", "total s", "peak RSS MB"], rows)
    small = min(per_iter)
    sw, sh = per_iter[small]["wh"]
    base_rss = per_iter[small]["painterly"]["rss"]
    per_px = (p["rss"] - base_rss) * 2**20 / (w * h - sw * sh)
    estimate = bytes_per_pixel("fp32")
    print(f"painterly measured: ({p['rss']:.0f} MB - {base_rss:.0f} MB at {sw}x{sh}) / extra pixels = "
          f"{per_px:.0f} B/px; hardware.bytes_per_pixel('fp32') estimate = {estimate:.0f} B/px "
          f"(ratio measured/estimate {per_px / estimate:.2f})")  # fmt: skip
    refused(args, work)
    if args.tiled_size:
        tiled(args)
    if not args.mem_pastiche:
        return
    # pastiche has no memory check, so running it at the refused size could exhaust this shared
    # machine; instead extrapolate its own measured bytes per pixel (the same two-point fit as above).
    q_per_px = (q["rss"] - per_iter[small]["pastiche"]["rss"]) * 2**20 / (qw * qh - sw * sh)
    aspect = min(qw, qh) / max(qw, qh)
    need = q_per_px * args.oom_size**2 * aspect / 2**30
    print(f"pastiche at {args.oom_size} px: not run; its measured {q_per_px:.0f} B/px extrapolates to "
          f"~{need:.0f} GiB for {args.oom_size}x{round(args.oom_size * aspect)} "
          f"(machine RAM {_total_ram_gib():.0f} GiB)")  # fmt: skip


def refused(args, work: Path) -> None:
    """painterly at a size that cannot fit its budget: its one-line refusal."""
    big, budget = args.oom_size, args.oom_budget
    cmd = [sys.executable, "-m", "painterly.cli", str(args.content), str(args.style), "--scales", "1",
           "--iterations", "1", "--size", str(big), "--memory-budget", f"{budget:g}",
           "-o", str(work / "too-big.png"), "--quiet"]  # fmt: skip
    res = subprocess.run(cmd, capture_output=True, text=True)
    last = res.stderr.strip().splitlines()[-1:] or [""]
    print(f"painterly at {big} px under a {budget:g} GiB budget (exit {res.returncode}): {last[0]}")


def tiled(args) -> None:
    """Print resolution: the draft preset's full schedule in tiles under a memory budget
    (``benchmarks/tiles.py`` measures it; pastiche has no tiling and cannot run at this size)."""
    from tiles import measure  # benchmarks/tiles.py, beside this script

    m = measure(args.content, args.style, args.tiled_size, args.tiled_budget)
    w, h = m["image"].size
    table(f"5. print resolution, tiled ({args.tiled_budget:g} GiB budget, draft, {m['precision']})",
          ["tool", "output", "tiles at the final scale", "total s", "peak RSS MB", "seam ratio"],
          [["painterly", f"{w}x{h}", len(m["boxes"]), m["wall"], m["rss"] * 1024, m["ratio"]]])  # fmt: skip


def _total_ram_gib() -> float:
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30


def main() -> None:
    from iteration import per_iteration

    args = start(__doc__, add_options, defaults, peer=False)
    args.sizes, args.iters = [256], max(2, args.mem_iters)  # the small point of the two-point fit
    with tempfile.TemporaryDirectory(prefix="painterly-bench-") as tmp:
        memory(args, Path(tmp), per_iteration(args, Path(tmp)))


if __name__ == "__main__":
    main()
