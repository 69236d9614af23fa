"""painterly vs pastiche on this machine: per-iteration speed, conv throughput, time to quality, memory.

Both tools run as separate processes on the same content/style images at the same sizes with L-BFGS,
each under ``/usr/bin/time`` for its peak RSS. Lines the processes print are timestamped as they
arrive, so per-iteration times exclude start-up for both. Every image is scored with painterly's own
objective at the final resolution (painterly's default layers and weights). The memory section ends
with print resolution: a tiled 4096 px draft under a 5.5 GiB budget (``benchmarks/tiles.py``; pastiche
cannot tile), which adds ~40 min to a full run (``--tiled-size 0`` or ``--skip mem`` leaves it out).

    flock /tmp/painterly-heavy.lock python benchmarks/speed.py --quick     # < 3 min
    flock /tmp/painterly-heavy.lock python benchmarks/speed.py --steps 200 | tee results/speed-full.txt

``--driver`` is internal: the painterly side of a run (a ``jobs.Job``, the path the CLI takes) with
its events printed as lines.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
IMAGES = ROOT.parent / "shared" / "images"
RESULTS = ROOT / "results"
TIME = "/usr/bin/time"
_STEP = re.compile(r"^(\d+)\s+([\d.]+)\s+(\S+)")


# --- the painterly side, run in its own process --------------------------------------------------


def driver(spec: dict) -> None:
    """Run one painterly job like the CLI does; print ITER/IMG/DONE lines (flushed) as it goes.

    In ``ttq`` mode the best preview of each scale (and every preview of the final scale) is saved;
    time spent saving is subtracted from the printed times, which are seconds since ``launch``.
    """
    from painterly.engine import Iteration, Preview, ScaleStarted
    from painterly.jobs import Job
    from painterly.settings import Settings

    launch, ttq, imgdir = spec["launch"], spec.get("ttq", False), Path(spec.get("imgdir", "."))
    overhead = [0.0]
    state: dict = {"scale": -1, "count": 0, "best": None, "loss": 0.0, "t": 0.0, "n": 0, "stride": 1}

    def now() -> float:
        return time.time() - launch - overhead[0]

    def save(entry) -> None:
        loss, image, t, iteration = entry
        path = imgdir / f"{iteration:05d}.png"
        image.save(path)
        print(f"IMG {iteration} {t:.3f} {path}", flush=True)

    def on_event(event) -> None:
        start = time.time()
        if isinstance(event, ScaleStarted):
            if state["best"] is not None:
                save(state["best"])
            # at most ~10 scored points in the final scale
            state.update(scale=event.index, count=event.count, best=None, n=0,
                         stride=max(1, -(-event.iterations // 10)))  # fmt: skip
            print(f"SCALE {event.index} {event.width} {event.height} {event.iterations}", flush=True)
        elif isinstance(event, Iteration):
            state["loss"], state["t"] = event.losses["total"], now()
            print(f"ITER {event.iteration} {state['t']:.3f} {event.losses['total']:.6g}", flush=True)
        elif isinstance(event, Preview) and ttq:
            entry = (state["loss"], event.image, state["t"], event.iteration)
            state["n"] += 1
            if state["scale"] == state["count"] - 1:
                if state["n"] % state["stride"] == 0:
                    save(entry)
            elif state["best"] is None or entry[0] < state["best"][0]:
                state["best"] = entry
        overhead[0] += time.time() - start

    job = Job(Settings.from_dict(spec["settings"]), spec["output"])
    record = job.run(on_event, preview_every=1 if ttq else 0)
    print(f"DONE {record.iterations} {now():.3f} {job.output}", flush=True)


# --- running and timing processes -----------------------------------------------------------------


@dataclass
class Proc:
    lines: list[tuple[float, str]]  # (seconds since launch at arrival, line)
    wall: float
    rss_mb: float
    rc: int
    stderr: str
    launch: float = 0.0
    extra: dict = field(default_factory=dict)


def run_timed(cmd: list[str]) -> Proc:
    """Run ``cmd`` under /usr/bin/time; timestamp stdout lines on arrival."""
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    with tempfile.TemporaryDirectory() as tmp:
        tfile, efile = Path(tmp) / "time", Path(tmp) / "err"
        full = [TIME, "-f", "%M %e", "-o", str(tfile), *cmd] if Path(TIME).exists() else cmd
        with open(efile, "w") as err:
            launch = time.time()
            t0 = time.perf_counter()
            proc = subprocess.Popen(full, stdout=subprocess.PIPE, stderr=err, text=True, env=env)
            lines = []
            assert proc.stdout is not None
            for line in proc.stdout:
                lines.append((time.perf_counter() - t0, line.rstrip("\n")))
            rc = proc.wait()
            wall = time.perf_counter() - t0
        stderr = efile.read_text()
        rss = 0.0
        if tfile.exists():
            parts = tfile.read_text().split()
            with contextlib.suppress(IndexError, ValueError):
                rss = float(parts[-2]) / 1024
    return Proc(lines, wall, rss, rc, stderr, launch)


def painterly_proc(settings: dict, output: Path, ttq: bool = False, imgdir: Path | None = None) -> Proc:
    launch = time.time()
    spec = {"settings": settings, "output": str(output), "launch": launch, "ttq": ttq}
    if imgdir:
        spec["imgdir"] = str(imgdir)
    proc = run_timed([sys.executable, str(Path(__file__).resolve()), "--driver", json.dumps(spec)])
    proc.extra["launch"] = launch
    if proc.rc:
        raise SystemExit(f"painterly run failed ({proc.rc}):\n{proc.stderr[-3000:]}")
    return proc


def pastiche_proc(content: Path, style: Path, size: int, steps: int, output: Path, workspace=None, wstep=10):
    cmd = [
        shutil.which("pastiche") or "pastiche",
        "--content", str(content), "--styles", str(style), "--output", str(output),
        "--size", str(size), "--style-size", str(size), "--num-steps", str(steps),
        "--optimizer", "lbfgs", "--info-step", "1", "--seed", "0",
    ]  # fmt: skip
    if workspace:
        cmd += ["--workspace", str(workspace), "--workspace-step", str(wstep)]
    proc = run_timed(cmd)
    if proc.rc:
        raise SystemExit(f"pastiche run failed ({proc.rc}):\n{proc.stderr[-3000:]}")
    return proc


def iteration_times(proc: Proc, tool: str) -> list[float]:
    """Arrival times (s since launch) of each completed iteration line."""
    if tool == "painterly":
        return [t for t, line in proc.lines if line.startswith("ITER ")]
    steps = [(int(m.group(1)), t) for t, line in proc.lines if (m := _STEP.match(line))]
    return [t for step, t in steps if step > 0]


def summarise(proc: Proc, tool: str) -> dict:
    times = iteration_times(proc, tool)
    n = len(times)
    per = (times[-1] - times[0]) / (n - 1) if n > 1 else float("nan")
    return {
        "iters": n,
        "per_iter": per,
        "first": times[0],
        "startup": times[0] - per,  # launch -> start of the first iteration
        "total": proc.wall,
        "rss": proc.rss_mb,
    }


# --- painterly's objective as the judge -----------------------------------------------------------


class Judge:
    """painterly's default objective (single scale) at ``size``; scores any image, resized to fit."""

    def __init__(self, content: Path, style: Path, size: int) -> None:
        import torch
        from PIL import Image

        from painterly.engine import Stylizer
        from painterly.images import load_image, to_tensor
        from painterly.settings import Settings

        self.torch, self.Image, self.to_tensor = torch, Image, to_tensor
        self.settings = Settings(content=str(content), styles=(str(style),), size=size, scales=1)
        self.stylizer = Stylizer(self.settings)
        content_img = load_image(str(content), "content")
        styles = [load_image(str(style), "style")]
        self.size = self.stylizer.output_size(content_img)
        self.objective = self.stylizer.objective(content_img.resize(self.size, Image.LANCZOS), styles)

    def __call__(self, image) -> float:
        if isinstance(image, str | Path):
            with self.Image.open(image) as im:
                image = im.convert("RGB")
        if image.size != self.size:
            image = image.resize(self.size, self.Image.BICUBIC)
        with self.torch.no_grad():
            return float(self.objective(self.to_tensor(image))[0])


# --- tables ------------------------------------------------------------------------------------------


def table(title: str, header: list[str], rows: list[list]) -> None:
    def fmt(v) -> str:
        if isinstance(v, float):
            return "n/a" if v != v else (f"{v:.3f}" if abs(v) < 10 else f"{v:.1f}")
        return str(v)

    cells = [[fmt(v) for v in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) for i, h in enumerate(header)]
    print(f"\n## {title}")
    print("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)))
    print("  ".join("-" * w for w in widths))
    for r in cells:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)))
    sys.stdout.flush()


def ratio(a: float, b: float) -> float:
    return a / b if b else float("nan")


def machine() -> None:
    import torch

    model = "?"
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        model = next(line.split(":", 1)[1].strip() for line in out.splitlines() if "Model name" in line)
    except (OSError, StopIteration):
        pass
    from painterly.hardware import cpu_has_fast_bf16

    print("# painterly vs pastiche benchmark")
    print(f"machine: {model}; {os.cpu_count()} CPUs; torch {torch.__version__}; "
          f"torch threads {torch.get_num_threads()}; python {platform.python_version()}; "
          f"native bf16: {cpu_has_fast_bf16()}")  # fmt: skip
    try:
        version = subprocess.run(["pastiche", "--version"], capture_output=True, text=True).stdout.strip()
        print(f"peer: {version}")
    except OSError:
        pass


# --- 1. per-iteration ----------------------------------------------------------------------------


def per_iteration(args, work: Path) -> dict:
    from PIL import Image

    out = {}
    for size in args.sizes:
        base = {"content": str(args.content), "styles": [str(args.style)], "size": size, "scales": 1,
                "iterations": args.iters, "optimizer": "lbfgs"}  # fmt: skip
        p_out, q_out = work / f"painterly-{size}.png", work / f"pastiche-{size}.png"
        p = summarise(painterly_proc(base, p_out), "painterly")
        q = summarise(pastiche_proc(args.content, args.style, size, args.iters, q_out), "pastiche")
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


# --- 2. conv throughput ----------------------------------------------------------------------------


def vgg_flops(h: int, w: int) -> float:
    """Forward + input-gradient backward FLOPs of VGG19's convs up to relu5_1 at h x w."""
    from painterly.layers import CHANNELS, LAYERS

    flops, cin = 0.0, 3
    for name in LAYERS[: LAYERS.index("relu5_1") + 1]:
        if name.startswith("conv"):
            cout = CHANNELS[int(name[4])]
            flops += 2 * (2 * cin * cout * 9 * h * w)
            cin = cout
        elif name.startswith("pool"):
            h, w = -(-h // 2), -(-w // 2)
    return flops


def plain_pass(h: int, w: int, precision: str, channels_last: bool, reps: int) -> float:
    """Seconds per forward (to relu5_1) + backward (to the pixels) of plain VGG19Features."""
    import torch

    from painterly.network import VGG19Features, load_weights

    net = VGG19Features(load_weights(), "relu5_1")
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    net = net.to(memory_format=fmt)
    x = torch.rand(1, 3, h, w).contiguous(memory_format=fmt).requires_grad_(True)
    times = []
    for i in range(reps + 1):
        t = time.perf_counter()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16"):
            y = net(x, {"relu5_1"})["relu5_1"]
        y.float().sum().backward()
        x.grad = None
        if i:  # the first pass is warm-up
            times.append(time.perf_counter() - t)
    return statistics.median(times)


def throughput(args, per_iter: dict) -> None:
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
        rows.append([f"{tool} iteration (fp32)", f"{pw}x{ph}", s, rate, rate / best])
    p = per_iter[size]["painterly"]["per_iter"]
    q = per_iter[size]["pastiche"]["per_iter"]
    rows.append(["ratio painterly/pastiche", "", ratio(p, q), ratio(q, p), ""])
    if not any(c[0] == "bf16" for c in configs):
        rows.append(["plain PyTorch bf16", "skipped", "", "", "no native bf16 (pass --bf16)"])
    table(
        f"2. conv throughput: VGG19 to relu5_1, forward + input-gradient backward "
        f"({flops / 1e9:.1f} GFLOP at 512x512, {tool_flops / 1e9:.1f} GFLOP at {pw}x{ph})",
        ["pass", "size", "s/pass", "GFLOP/s", "fraction of best plain fp32"],
        rows,
    )


# --- 3. time to quality ------------------------------------------------------------------------------


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
    arrival = {int(m.group(1)): t for t, line in proc.lines if (m := _STEP.match(line))}
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


def time_to_quality(args, work: Path) -> None:
    size = args.ttq_size
    judge = Judge(args.content, args.style, size)
    curves = {}
    for quality in args.qualities:
        imgdir = work / f"ttq-painterly-{quality}"
        imgdir.mkdir()
        settings = {"content": str(args.content), "styles": [str(args.style)], "size": size,
                    "quality": quality, "optimizer": "lbfgs"}  # fmt: skip
        proc = painterly_proc(settings, work / f"ttq-painterly-{quality}.png", ttq=True, imgdir=imgdir)
        curves[f"painterly {quality}"] = (painterly_curve(proc, judge), proc)
    workspace = work / "ttq-pastiche"
    wstep = max(1, args.steps // 20)
    output = work / "ttq-pastiche.png"
    proc = pastiche_proc(args.content, args.style, size, args.steps, output, workspace, wstep)
    curves[f"pastiche lbfgs {args.steps}"] = (pastiche_curve(proc, workspace, judge, output), proc)

    print(f"\n## 3. time to quality at {size} px ({judge.size[0]}x{judge.size[1]}): loss = painterly's "
          f"objective (default layers/weights) at {size} px; seconds since process launch")  # fmt: skip
    for name, (curve, _) in curves.items():
        print(f"\n{name}:")
        print("  seconds   loss      point")
        for t, loss, label in curve:
            print(f"  {t:8.1f}  {loss:8.4f}  {label}")
    q_name = f"pastiche lbfgs {args.steps}"
    q_curve, q_proc = curves[q_name]
    q_final_t, q_final = q_curve[-1][0], q_curve[-1][1]
    rows = []
    for name, (curve, proc) in curves.items():
        t_final, final = curve[-1][0], curve[-1][1]
        reach = first_reach(curve, q_final)
        rows.append([name, t_final, final, reach, ratio(reach, q_final_t), proc.rss_mb])
    table(
        f"3. time to quality summary ({q_name}: final loss {q_final:.4f} after {q_final_t:.1f} s)",
        ["run", "wall s", "final loss", f"s to reach pastiche final ({q_final:.4f})",
         "ratio to pastiche's time", "peak RSS MB"],
        rows,
    )  # fmt: skip
    rows = []
    for name, (curve, _) in curves.items():
        if name == q_name:
            continue
        p_final_t, p_final = curve[-1][0], curve[-1][1]
        q_reach = first_reach(q_curve, p_final)
        rows.append([name, p_final, p_final_t, q_reach, ratio(p_final_t, q_reach)])
    table(
        "3b. reverse: pastiche's time to reach each painterly run's final loss (n/a: never within its steps)",
        ["painterly run", "final loss", "painterly s", "pastiche s", "ratio painterly/pastiche"],
        rows,
    )
    print("'s to reach' = first evaluated point at or below the target (points are sparse: an upper bound).")
    plot(curves, size)


def plot(curves, size: int) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 5))
    for name, (curve, _) in curves.items():
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


# --- 4. memory ------------------------------------------------------------------------------------


def memory(args, work: Path, per_iter: dict) -> None:
    from PIL import Image

    size, iters = args.mem_size, args.mem_iters
    base = {"content": str(args.content), "styles": [str(args.style)], "size": size, "scales": 1,
            "iterations": iters, "optimizer": "lbfgs"}  # fmt: skip
    p_out, q_out = work / f"mem-painterly-{size}.png", work / f"mem-pastiche-{size}.png"
    pp = painterly_proc(base, p_out)
    p = summarise(pp, "painterly")
    rows = []
    w, h = Image.open(p_out).size
    rows.append(["painterly", f"{w}x{h}", iters, p["total"], p["rss"]])
    if args.mem_pastiche:
        q = summarise(pastiche_proc(args.content, args.style, size, iters, q_out), "pastiche")
        qw, qh = Image.open(q_out).size
        rows.append(["pastiche", f"{qw}x{qh}", iters, q["total"], q["rss"]])
        rows.append(["ratio p/q", "", "", ratio(p["total"], q["total"]), ratio(p["rss"], q["rss"])])
    table(f"4. memory at {size} px", ["tool", "output", "iters", "total s", "peak RSS MB"], rows)
    small = min(per_iter)
    sw, sh = per_iter[small]["wh"]
    base_rss = per_iter[small]["painterly"]["rss"]
    per_px = (p["rss"] - base_rss) * 2**20 / (w * h - sw * sh)
    from painterly.hardware import bytes_per_pixel

    estimate = bytes_per_pixel("fp32")
    print(f"painterly measured: ({p['rss']:.0f} MB - {base_rss:.0f} MB at {sw}x{sh}) / extra pixels = "
          f"{per_px:.0f} B/px; hardware.bytes_per_pixel('fp32') estimate = {estimate:.0f} B/px "
          f"(ratio measured/estimate {per_px / estimate:.2f})")  # fmt: skip
    big = args.oom_size
    cmd = [sys.executable, "-m", "painterly.cli", str(args.content), str(args.style), "--scales", "1",
           "--iterations", "1", "--size", str(big), "-o", str(work / "too-big.png"), "--quiet"]  # fmt: skip
    res = subprocess.run(cmd, capture_output=True, text=True)
    print(f"painterly at {big} px (exit {res.returncode}): {res.stderr.strip().splitlines()[-1:] or ['']}")
    if args.tiled_size:
        tiled(args)
    if not args.mem_pastiche:
        return
    # pastiche has no memory check, so running it at the refused size could exhaust this shared
    # machine; instead extrapolate its own measured bytes per pixel (the same two-point fit as above).
    q_per_px = (q["rss"] - per_iter[small]["pastiche"]["rss"]) * 2**20 / (qw * qh - sw * sh)
    aspect = min(qw, qh) / max(qw, qh)
    need = q_per_px * big * big * aspect / 2**30
    print(f"pastiche at {big} px: not run; its measured {q_per_px:.0f} B/px extrapolates to ~{need:.0f} GiB "
          f"for {big}x{round(big * aspect)} (machine RAM {_total_ram_gib():.0f} GiB)")  # fmt: skip


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
    import os

    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30


# --- main ----------------------------------------------------------------------------------------


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--driver", help=argparse.SUPPRESS)
    ap.add_argument("--quick", action="store_true", help="small run (< 3 min) for the README")
    ap.add_argument("--content", type=Path, default=IMAGES / "tubingen.jpg")
    ap.add_argument("--style", type=Path, default=IMAGES / "starry_night.jpg")
    ap.add_argument("--sizes", type=int, nargs="+", help="per-iteration sizes (default 256 512)")
    ap.add_argument("--iters", type=int, help="iterations per per-iteration run (default 10; quick 3)")
    ap.add_argument("--reps", type=int, help="timed plain passes per config (default 3; quick 1)")
    ap.add_argument("--bf16", action="store_true", help="also time bf16 autocast without native bf16")
    ap.add_argument("--steps", type=int, help="pastiche steps for time to quality (default 500; quick 30)")
    ap.add_argument("--ttq-size", type=int, help="time-to-quality size (default 512; quick 256)")
    ap.add_argument(
        "--qualities", nargs="+", help="painterly presets (default balanced best; quick balanced)"
    )
    ap.add_argument("--mem-size", type=int, help="memory run size (default 2048; quick 768)")
    ap.add_argument("--mem-iters", type=int, help="memory run iterations (default 2; quick 1)")
    ap.add_argument(
        "--no-mem-pastiche",
        dest="mem_pastiche",
        action="store_false",
        help="skip pastiche's memory run (quick mode skips it)",
    )
    ap.add_argument("--oom-size", type=int, default=8000)
    ap.add_argument("--tiled-size", type=int, help="tiled run's size (default 4096, ~40 min; quick: none)")
    ap.add_argument("--tiled-budget", type=float, default=5.5, help="tiled run's --memory-budget, GiB")
    ap.add_argument("--skip", nargs="*", default=[], choices=["flops", "ttq", "mem"])
    args = ap.parse_args()
    if args.driver:
        driver(json.loads(args.driver))
        return
    q = args.quick
    args.sizes = args.sizes or [256, 512]
    args.iters = args.iters or (3 if q else 10)
    args.reps = args.reps or (1 if q else 3)
    args.steps = args.steps or (30 if q else 500)
    args.ttq_size = args.ttq_size or (256 if q else 512)
    args.qualities = args.qualities or (["balanced"] if q else ["balanced", "best"])
    args.mem_size = args.mem_size or (768 if q else 2048)
    args.mem_iters = args.mem_iters or (1 if q else 2)
    args.mem_pastiche = args.mem_pastiche and not q
    args.tiled_size = args.tiled_size if args.tiled_size is not None else (0 if q else 4096)
    started = time.perf_counter()
    machine()
    print(f"content {args.content.name}, style {args.style.name}; mode {'quick' if q else 'full'}; "
          f"iters {args.iters}, pastiche ttq steps {args.steps}, ttq size {args.ttq_size}")  # fmt: skip
    RESULTS.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="painterly-bench-") as tmp:
        work = Path(tmp)
        per_iter = per_iteration(args, work)  # sections 2 and 4 use its figures
        if "flops" not in args.skip:
            throughput(args, per_iter)
        if "ttq" not in args.skip:
            time_to_quality(args, work)
        if "mem" not in args.skip:
            memory(args, work, per_iter)
    print(f"\nbenchmark wall time {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
