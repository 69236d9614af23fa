"""The painterly side of a timed run, in its own process: one ``jobs.Job`` (the path the CLI takes)
with its events printed as flushed ITER/SCALE/IMG/DONE lines (``common.painterly_proc`` starts it).

    python benchmarks/driver.py '{"settings": {...}, "output": "out.png", "launch": 0, "ttq": false}'
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path


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


if __name__ == "__main__":
    driver(json.loads(sys.argv[1]))
