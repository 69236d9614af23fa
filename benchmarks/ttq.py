"""Time to quality, painterly vs pastiche: seconds until each run's image reaches a loss, every image
scored with painterly's own objective at the final size (default layers and weights). Writes the
curves to results/time_to_quality.png.

    flock /tmp/painterly-heavy.lock python benchmarks/ttq.py [--quick] [--steps 500]
"""

from __future__ import annotations

import platform
import tempfile
from pathlib import Path

from common import (
    RESULTS,
    Judge,
    Proc,
    painterly_proc,
    pastiche_proc,
    pastiche_steps,
    ratio,
    start,
    table,
)


def add_options(ap) -> None:
    ap.add_argument("--steps", type=int, help="pastiche steps for time to quality (default 500; quick 30)")
    ap.add_argument("--ttq-size", type=int, help="time-to-quality size (default 512; quick 256)")
    ap.add_argument(
        "--qualities", nargs="+", help="painterly presets (default balanced best; quick balanced)"
    )


def defaults(args) -> None:
    args.steps = args.steps or (30 if args.quick else 500)
    args.ttq_size = args.ttq_size or (256 if args.quick else 512)
    args.qualities = args.qualities or (["balanced"] if args.quick else ["balanced", "best"])


def painterly_curve(proc: Proc, judge: Judge) -> list[tuple[float, float, str]]:
    points = []
    for _, line in proc.lines:
        parts = line.split()
        if parts and parts[0] == "IMG":
            points.append((float(parts[2]), judge(parts[3]), f"iter {parts[1]}"))
        elif parts and parts[0] == "DONE":
            points.append((float(parts[2]), judge(parts[3]), f"final ({parts[1]} iters)"))
    return points


def pastiche_curve(proc: Proc, workspace: Path, judge: Judge, output: Path) -> list[tuple[float, float, str]]:
    arrival = pastiche_steps(proc)
    points = []
    for path in sorted(workspace.glob("*.png")):
        step = int(path.stem)
        if step in arrival:
            points.append((arrival[step], judge(path), f"step {step}"))
    last = max(arrival)  # the output is the last step's image, saved right after its line
    points.append((arrival[last], judge(output), f"final ({last} steps)"))
    return points


def first_reach(curve, target: float) -> float:
    return next((t for t, loss, _ in curve if loss <= target), float("nan"))


def curves(args, work: Path, judge: Judge) -> dict:
    """Each run's (seconds, loss, label) points and its process, by run name; pastiche's last."""
    size, out = args.ttq_size, {}
    for quality in args.qualities:
        imgdir = work / f"ttq-painterly-{quality}"
        imgdir.mkdir()
        settings = {"content": str(args.content), "styles": [str(args.style)], "size": size,
                    "quality": quality, "optimizer": "lbfgs"}  # fmt: skip
        proc = painterly_proc(settings, work / f"ttq-painterly-{quality}.png", ttq=True, imgdir=imgdir)
        out[f"painterly {quality}"] = (painterly_curve(proc, judge), proc)
    workspace, output = work / "ttq-pastiche", work / "ttq-pastiche.png"
    proc = pastiche_proc(
        args.content, args.style, size, args.steps, output, workspace, max(1, args.steps // 20)
    )
    out[f"pastiche lbfgs {args.steps}"] = (pastiche_curve(proc, workspace, judge, output), proc)
    return out


def time_to_quality(args, work: Path) -> None:
    size = args.ttq_size
    judge = Judge(args.content, args.style, size)
    runs = curves(args, work, judge)
    print(f"\n## 3. time to quality at {size} px ({judge.size[0]}x{judge.size[1]}): loss = painterly's "
          f"objective (default layers/weights) at {size} px; seconds since process launch")  # fmt: skip
    for name, (curve, _) in runs.items():
        print(f"\n{name}:")
        print("  seconds   loss      point")
        for t, loss, label in curve:
            print(f"  {t:8.1f}  {loss:8.4f}  {label}")
    summary(args, runs)
    plot(runs, size)


def summary(args, runs: dict) -> None:
    q_name = f"pastiche lbfgs {args.steps}"
    q_curve, _ = runs[q_name]
    q_final_t, q_final = q_curve[-1][0], q_curve[-1][1]
    rows = []
    for name, (curve, proc) in runs.items():
        reach = first_reach(curve, q_final)
        rows.append([name, curve[-1][0], curve[-1][1], reach, ratio(reach, q_final_t), proc.rss_mb])
    table(
        f"3. time to quality summary ({q_name}: final loss {q_final:.4f} after {q_final_t:.1f} s)",
        ["run", "wall s", "final loss", f"s to reach pastiche final ({q_final:.4f})",
         "ratio to pastiche's time", "peak RSS MB"],
        rows,
    )  # fmt: skip
    rows = []
    for name, (curve, _) in runs.items():
        if name != q_name:
            q_reach = first_reach(q_curve, curve[-1][1])
            rows.append([name, curve[-1][1], curve[-1][0], q_reach, ratio(curve[-1][0], q_reach)])
    table(
        "3b. reverse: pastiche's time to reach each painterly run's final loss (n/a: never within its steps)",
        ["painterly run", "final loss", "painterly s", "pastiche s", "ratio painterly/pastiche"],
        rows,
    )
    print("'s to reach' = first evaluated point at or below the target (points are sparse: an upper bound).")


def plot(runs, size: int) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 5))
    for name, (curve, _) in runs.items():
        ax.plot([c[0] for c in curve], [c[1] for c in curve], marker="o", markersize=3, label=name)
    ax.set_xlabel("seconds since process launch")
    ax.set_ylabel(f"painterly objective at {size} px")
    ax.set_yscale("log")
    ax.set_title(f"Time to quality, {size} px, {platform.machine()} CPU")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / "time_to_quality.png"
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    print(f"plot: {path}")


def main() -> None:
    args = start(__doc__, add_options, defaults)
    with tempfile.TemporaryDirectory(prefix="painterly-bench-") as tmp:
        time_to_quality(args, Path(tmp))


if __name__ == "__main__":
    main()
