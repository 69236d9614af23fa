"""Per-iteration speed and start-up, painterly vs pastiche, and conv throughput against plain PyTorch.

Both tools run as separate processes on the same images at the same sizes with L-BFGS, each under
``/usr/bin/time`` for its peak RSS; lines are timestamped as they arrive, so per-iteration times
exclude start-up for both.

    flock /tmp/painterly-heavy.lock python benchmarks/iteration.py [--quick] [--sizes 256 512]
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from common import painterly_proc, pastiche_proc, ratio, start, summarize, table
from limit import plain_pass, vgg_flops


def add_options(ap) -> None:
    ap.add_argument("--sizes", type=int, nargs="+", help="per-iteration sizes (default 256 512)")
    ap.add_argument("--iters", type=int, help="iterations per per-iteration run (default 10; quick 3)")
    ap.add_argument("--reps", type=int, help="timed plain passes per config (default 3; quick 1)")
    ap.add_argument("--bf16", action="store_true", help="also time bf16 autocast without native bf16")


def defaults(args) -> None:
    args.sizes = args.sizes or [256, 512]
    args.iters = args.iters or (3 if args.quick else 10)
    args.reps = args.reps or (1 if args.quick else 3)


def per_iteration(args, work: Path) -> dict:
    """Section 1: both tools at each size; their summaries by size (memory.py and throughput use them)."""
    from PIL import Image

    out = {}
    for size in args.sizes:
        base = {"content": str(args.content), "styles": [str(args.style)], "size": size, "scales": 1,
                "iterations": args.iters, "optimizer": "lbfgs"}  # fmt: skip
        p_out, q_out = work / f"painterly-{size}.png", work / f"pastiche-{size}.png"
        p = summarize(painterly_proc(base, p_out), "painterly")
        q = summarize(pastiche_proc(args.content, args.style, size, args.iters, q_out), "pastiche")
        p_size, q_size = Image.open(p_out).size, Image.open(q_out).size
        rows = [
            ["painterly", f"{p_size[0]}x{p_size[1]}", p["iters"], p["per_iter"], p["startup"], p["total"], p["rss"]],
            ["pastiche", f"{q_size[0]}x{q_size[1]}", q["iters"], q["per_iter"], q["startup"], q["total"], q["rss"]],
            ["ratio p/q", "same" if p_size == q_size else "DIFFERENT", "",
             ratio(p["per_iter"], q["per_iter"]), ratio(p["startup"], q["startup"]),
             ratio(p["total"], q["total"]), ratio(p["rss"], q["rss"])],
        ]  # fmt: skip
        table(
            f"1. per iteration, {size} px longest side, {args.iters} L-BFGS iterations, single scale",
            ["tool", "output", "iters", "s/iter", "start-up s", "total s", "peak RSS MB"],
            rows,
        )
        out[size] = {"painterly": p, "pastiche": q, "wh": p_size}
    print("s/iter: mean interval between completed iterations after the first; start-up: launch to the "
          "first iteration's start (first completion - s/iter); total: process wall time.")  # fmt: skip
    return out


def throughput(args, per_iter: dict) -> None:
    """Section 2: GFLOP/s of plain PyTorch passes (limit.py's stack) and of each tool's iteration."""
    from painterly.hardware import cpu_has_fast_bf16

    h = w = 512
    flops = vgg_flops(h, w)
    configs = [("fp32", False), ("fp32", True)]
    if args.bf16 or cpu_has_fast_bf16():
        configs.append(("bf16", True))
    rows, best = [], 0.0
    for precision, cl in configs:
        reps = 1 if precision == "bf16" and not cpu_has_fast_bf16() else args.reps
        s = plain_pass(h, w, precision, cl, reps)
        rate = flops / s / 1e9
        if precision == "fp32":
            best = max(best, rate)
        layout = "channels_last" if cl else "NCHW"
        rows.append([f"plain PyTorch {precision} {layout}", "512x512", s, rate, ""])
    size = 512 if 512 in per_iter else max(per_iter)
    pw, ph = per_iter[size]["wh"]
    tool_flops = vgg_flops(ph, pw)
    for tool in ("painterly", "pastiche"):
        s = per_iter[size][tool]["per_iter"]
        rate = tool_flops / s / 1e9
        rows.append([f"{tool} iteration", f"{pw}x{ph}", s, rate, rate / best])
    p = per_iter[size]["painterly"]["per_iter"]
    q = per_iter[size]["pastiche"]["per_iter"]
    rows.append(["ratio painterly/pastiche", "", ratio(p, q), ratio(q, p), ""])
    if not any(c[0] == "bf16" for c in configs):
        rows.append(["plain PyTorch bf16", "skipped", "", "", "no native bf16 (pass --bf16)"])
    table(
        f"2. conv throughput: VGG19 to relu5_1, forward + input-gradient backward, best of {args.reps} "
        f"({flops / 1e9:.1f} GFLOP at 512x512, {tool_flops / 1e9:.1f} GFLOP at {pw}x{ph})",
        ["pass", "size", "s/pass", "GFLOP/s", "fraction of best plain fp32"],
        rows,
    )


def main() -> None:
    args = start(__doc__, add_options, defaults)
    with tempfile.TemporaryDirectory(prefix="painterly-bench-") as tmp:
        throughput(args, per_iteration(args, Path(tmp)))


if __name__ == "__main__":
    main()
