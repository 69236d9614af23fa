"""painterly batch: a 2 x 3 batch (2 contents x 3 styles) locally and through a local Ray cluster, and
the saving from sharing style targets across a batch.

    flock /tmp/painterly-heavy.lock python benchmarks/batch.py --size 256

Images come from ../shared/images beside the checkout unless --images names another folder. Prints
seconds per variant; every variant writes into its own temporary folder.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from dataclasses import asdict
from pathlib import Path

from common import IMAGES, stopwatch

from painterly.batch.command import build_plan, run_batch
from painterly.batch.local import InlineExecutor
from painterly.batch.runner import Batch, Interrupts, drive
from painterly.settings import Settings
from painterly.targets import TargetCache


class _Silent:
    def started(self, entry) -> None:
        pass

    def finished(self, entry) -> None:
        pass


class _FreshCache(InlineExecutor):
    """Every job computes its own targets (what a shell loop of ``painterly run`` does)."""

    def submit(self, entry):
        self.targets = TargetCache()
        return super().submit(entry)


def _local(specs, executor) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        batch = Batch(specs, Path(tmp), "")
        with stopwatch() as sw:
            drive(batch, executor, Interrupts(executor.abort, print), _Silent())
        assert all(e.status == "done" for e in batch.entries)
        return sw.seconds


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--images", default=str(IMAGES))
    parser.add_argument("--size", type=int, default=256)
    args = parser.parse_args()
    images = Path(args.images)
    defaults = asdict(Settings(size=args.size))
    specs, _ = build_plan(
        [str(images / "tubingen.jpg"), str(images / "golden_gate.jpg")],
        [str(images / "starry_night.jpg"), str(images / "the_scream.jpg"), str(images / "shipwreck.jpg")],
        defaults,
    )
    _local(specs[:1], InlineExecutor())  # load the network once so no variant pays for it
    figures = {"jobs": len(specs), "size": args.size}
    # shared targets timed before and after the fresh-cache run, so a load change on the machine shows
    shared_before = _local(specs, InlineExecutor())
    figures["local_fresh_targets_s"] = _local(specs, _FreshCache())
    shared_after = _local(specs, InlineExecutor())
    figures["local_shared_targets_runs_s"] = [round(shared_before, 2), round(shared_after, 2)]
    figures["local_shared_targets_s"] = min(shared_before, shared_after)

    import ray

    with stopwatch() as sw:
        ray.init(num_cpus=2, include_dashboard=False, logging_level="WARNING", log_to_driver=False)
    figures["ray_init_s"] = sw.seconds
    with tempfile.TemporaryDirectory() as tmp, stopwatch() as sw:
        assert run_batch(specs, tmp, ray="local", cpus_per_job=2, quiet=True) == 0
    figures["ray_batch_s"] = sw.seconds
    ray.shutdown()
    figures["ray_overhead_per_job_s"] = (figures["ray_batch_s"] - figures["local_shared_targets_s"]) / len(
        specs
    )
    figures["target_reuse_saving_s"] = figures["local_fresh_targets_s"] - figures["local_shared_targets_s"]
    print(json.dumps({k: round(v, 2) if isinstance(v, float) else v for k, v in figures.items()}, indent=2))


if __name__ == "__main__":
    main()
