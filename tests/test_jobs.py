"""The job model's time estimates: remembered speed is smoothed, not replaced by the last run."""

import dataclasses
import json
from types import SimpleNamespace

from PIL import Image

from painterly import jobs
from painterly.settings import Settings


def test_one_slow_run_does_not_swing_the_estimate(tmp_path, monkeypatch):
    monkeypatch.setattr(jobs, "_speed_path", lambda: tmp_path / "speed.json")
    settings = Settings(styles=("s",), size=512, device="cpu", precision="fp32")
    work = jobs._work(settings, 512, 512)
    (tmp_path / "speed.json").write_text(json.dumps({"cpu-fp32": 1.0}))
    slow = SimpleNamespace(image=Image.new("RGB", (512, 512)), interrupted=False, elapsed=100.0 * work)
    jobs._remember_speed(settings, slow)
    assert json.loads((tmp_path / "speed.json").read_text())["cpu-fp32"] == 10.0  # sqrt(1 * 100)
    tiny = Settings(styles=("s",), size=48, device="cpu", precision="fp32")
    jobs._remember_speed(
        tiny, SimpleNamespace(image=Image.new("RGB", (48, 48)), interrupted=False, elapsed=9.0)
    )
    assert json.loads((tmp_path / "speed.json").read_text())["cpu-fp32"] == 10.0  # too little work to judge


def test_estimates_count_the_tiles_overlaps(monkeypatch):
    from painterly import hardware, tiles

    monkeypatch.setattr(hardware, "memory_in_use", lambda device: 0)
    whole = Settings(styles=("s",), size=2048, device="cpu", precision="fp32", scales=1, iterations=10,
                     memory_budget=16.0)  # fmt: skip
    tiled = dataclasses.replace(whole, memory_budget=2.0)
    grid = tiles.plan(2048, 1536, "fp32", 2.0 * 2**30, 10)
    assert grid is not None and len(grid.boxes()) > 1
    overlapped = sum((r - x) * (b - y) for x, y, r, b in grid.boxes())
    assert overlapped > 2048 * 1536
    assert jobs._work(whole, 2048, 1536) == 2048 * 1536 * 10 / 1e6
    assert jobs._work(tiled, 2048, 1536) == overlapped * 10 / 1e6
