"""What a checkpoint costs: seconds to write one and its size, at 512 px and at 4096 px, as a share of
the run it protects.

512 px: a whole run (balanced preset, Tubingen + Starry Night) with a checkpoint after every step
(``--every 0``), each write timed: the largest state is the final scale's, with the L-BFGS history.
Its peer is the same run without checkpoints, in the same process, so the difference is the cost.
4096 px: the state a tiled 4096x3072 scale holds between two tiles (canvas, unpainted start and
painted weights; tiles keep no optimiser history), written as the engine writes it. The share is the
write time over the default interval (60 s: a run writes one a minute).

    flock /tmp/painterly-heavy.lock python benchmarks/checkpoints.py [--quick]
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from common import start, table


def _args(ap) -> None:
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--print-size", type=int, default=4096)


def _defaults(args) -> None:
    if args.quick:
        args.size, args.print_size = 256, 2048


class TimedSaver:
    """A ``Saver`` that writes every state it is offered, timing each write."""

    def __init__(self, path: Path, owner: dict) -> None:
        self.path, self.owner, self.seconds = path, owner, []

    def due(self) -> bool:
        return True

    def save(self, state) -> None:
        from painterly import checkpoints

        started = time.perf_counter()
        checkpoints.save(self.path, self.owner, state)
        self.seconds.append(time.perf_counter() - started)


def whole_run(args, folder: Path) -> list:
    from painterly.engine import Stylizer
    from painterly.images import load_image
    from painterly.settings import Settings

    s = Settings(content=str(args.content), styles=(str(args.style),), size=args.size, quality="balanced")
    content, style = load_image(args.content), load_image(args.style)
    times = {}
    for label, saver in (("none", None), ("every step", TimedSaver(folder / "w.ckpt", {"format": 1}))):
        started = time.perf_counter()
        Stylizer(s).run(content, [style], checkpoints=saver)
        times[label] = (time.perf_counter() - started, saver)
    plain, (timed, saver) = times["none"][0], times["every step"]
    worst, size = max(saver.seconds), (folder / "w.ckpt").stat().st_size
    return [
        f"{args.size} px whole run ({len(saver.seconds)} checkpoints)",
        f"{worst:.3f}",
        f"{size / 2**20:.1f}",
        f"{plain:.1f} / {timed:.1f}",
        f"{100 * worst / 60:.2f} %",
    ]


def tiled_state(args, folder: Path) -> list:
    import torch

    from painterly import checkpoints
    from painterly.settings import Settings
    from painterly.state import RunState

    w, h = args.print_size, args.print_size * 3 // 4
    canvas = torch.rand(1, 3, h, w)
    state = RunState(total=1000, settings=Settings(size=args.print_size), canvas=canvas, scale=9, done=500)
    state.tiles = {"next": 3, "base": canvas.clone(), "painted": torch.rand(1, 1, h, w)}
    seconds = []
    for _ in range(3):
        started = time.perf_counter()
        checkpoints.save(folder / "t.ckpt", {"format": 1}, state)
        seconds.append(time.perf_counter() - started)
    size = (folder / "t.ckpt").stat().st_size
    return [f"{w}x{h} tiled scale, between tiles", f"{min(seconds):.3f}", f"{size / 2**20:.1f}", "", f"{100 * min(seconds) / 60:.2f} %"]  # fmt: skip


def main() -> None:
    args = start(__doc__, _args, _defaults, peer=False)
    with tempfile.TemporaryDirectory() as tmp:
        rows = [whole_run(args, Path(tmp)), tiled_state(args, Path(tmp))]
    table(
        "checkpoint cost",
        ["state", "s per checkpoint (worst)", "MiB", "run s: none / every step", "share at one a minute"],
        rows,
    )


if __name__ == "__main__":
    main()
