"""The cost model: a machine's rate fitted to its own samples, and the engine's plan turned into an
estimate (tiles' overlaps counted)."""

import dataclasses

import pytest

from painterly import cost
from painterly.engine import Stylizer
from painterly.settings import Settings


def test_the_rate_is_fitted_to_the_machines_samples_newest_first(tmp_path, monkeypatch):
    monkeypatch.setattr(cost, "_path", lambda: tmp_path / "speed.json")
    assert cost.rate("m") is None  # nothing remembered: calibrate, else the prior
    cost.remember("m", [[1e5, 0.15], [4e5, 0.45]])
    rate = cost.rate("m")
    assert rate.evaluation(1e5) == pytest.approx(0.15) and rate.evaluation(4e5) == pytest.approx(0.45)
    # per pixel, a larger image costs more on a CPU (caches): 4x the pixels, more than 4x the part
    assert rate.evaluation(1.6e6) - rate.fixed > 4 * (rate.evaluation(4e5) - rate.fixed)
    cost.remember("m", [[1e5, 0.30], [4e5, 0.90]] * 30)  # the machine got twice as slow
    assert cost.rate("m").evaluation(4e5) == pytest.approx(0.90, rel=0.05)
    assert len(cost.samples("m")) == cost.KEEP
    (tmp_path / "speed.json").write_text('{"cpu-fp32": 9.0}')  # the old format is read as nothing
    assert cost.rate("m") is None


def test_estimates_count_the_tiles_overlaps(monkeypatch, tmp_path):
    from painterly import hardware, tiles

    monkeypatch.setattr(hardware, "memory_in_use", lambda device: 0)
    monkeypatch.setattr(cost, "_path", lambda: tmp_path / "speed.json")
    cost.remember(Stylizer(Settings(styles=("s",), device="cpu", precision="fp32")).machine(), [[1e6, 1.0]])
    whole = Settings(styles=("s",), size=2048, device="cpu", precision="fp32", scales=1, iterations=10,
                     memory_budget=16.0)  # fmt: skip
    tiled = dataclasses.replace(whole, memory_budget=2.0)
    grid = tiles.plan(2048, 1536, "fp32", 2.0 * 2**30, 10)
    assert grid is not None and len(grid.boxes()) > 1
    overlapped = sum((r - x) * (b - y) for x, y, r, b in grid.boxes())
    assert overlapped > 2048 * 1536
    write = cost.WRITE_PER_MPX * 2048 * 1536 / 1e6 + cost.PRIOR_OVERHEAD  # no run measured its own yet
    setup = cost.PRIOR_SETUP_EVALUATIONS  # per scale, or per tile: no set-up measured yet either
    rate = cost.rate(Stylizer(whole).machine())  # 1 s per evaluation at 1 Mpx, per pixel more when larger
    n = len(grid.boxes())
    assert Stylizer(whole).estimate((2048, 1536)) == pytest.approx(
        (10 + setup) * rate.evaluation(2048 * 1536) + write
    )
    assert Stylizer(tiled).estimate((2048, 1536)) == pytest.approx(
        n * (10 + setup) * rate.evaluation(overlapped / n) + write
    )


def test_a_tiled_scales_set_ups_are_learned_apart_from_its_evaluations():
    """A tiled scale's time holds a set-up per tile; the estimate adds them apart, so its learned
    seconds per evaluation leave them out (kept in, a remembered 4096 px estimate said +29 %)."""
    import time

    from painterly import planning, tiles

    plan = planning.ScalePlan(0, 1, 10, 2048, (2048, 1536), tiles.Grid(2048, 1536, 1152))
    n = len(plan.grid.boxes())
    evaluation, setup = cost.Rate(0.1, 1.0), cost.Rate(0.0, 2.0)
    took = plan.seconds(evaluation, setup)
    timing = planning.scale_timing(plan, plan.work, time.perf_counter() - took, None, setup)
    assert timing[1] == pytest.approx(evaluation.evaluation(plan.pixels), rel=0.01)
    assert timing[4] == n and timing[1] * plan.work + timing[3] * n == pytest.approx(took, rel=0.01)


def test_scales_too_small_to_keep_are_priced_and_their_extra_is_the_runs_fixed_part():
    evaluation, setup = cost.Rate(0.02, 1.0), cost.Rate(0.0, 2.0)
    small, large = [12288, 0.245, 4, 0.0, 1], [49152, 0.0998, 10, 0.1156, 1]
    priced = 4 * evaluation.evaluation(12288) + setup.evaluation(12288)
    assert cost.accounted([small, large], evaluation, setup) == pytest.approx(priced + 0.998 + 0.1156)
    assert priced < 4 * 0.245  # the first scale's one-off 0.8 s stays out: it is the fixed part
