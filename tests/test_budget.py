"""``--time`` and ``--size auto``: what a budget chooses, that a run ends by it, and bad values."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PIL import Image

from painterly import cost
from painterly.budget import fit_to_budget, rungs
from painterly.engine import Stylizer
from painterly.errors import PainterlyError
from painterly.images import read_metadata
from painterly.settings import Settings


def painterly(*args, cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "painterly.cli", *map(str, args)], capture_output=True, text=True, cwd=cwd,
        env=env, timeout=600,
    )  # fmt: skip


@pytest.mark.parametrize("value", ["0", "-5s", "3 parsecs", "1y"])
def test_bad_durations_get_one_line_naming_what_works(tmp_path, images, value):
    result = painterly(
        images / "tubingen.jpg", "starry_night", "--time", value, "-o", tmp_path / "o.png", cwd=tmp_path
    )
    assert result.returncode == 2
    assert "such as 45s, 2m or 1h30m" in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "o.png").exists()


def test_a_budget_too_small_for_any_schedule_says_how_much_is_needed(tmp_path, images):
    result = painterly(images / "tubingen.jpg", "starry_night", "--time", "0.1s", "--size", "1024", "-o", tmp_path / "o.png", cwd=tmp_path)  # fmt: skip
    assert result.returncode == 2, result.stderr
    assert "even the shortest schedule at 1024 px takes about" in result.stderr
    assert "give --time" in result.stderr.splitlines()[-1] and "Traceback" not in result.stderr


@pytest.fixture
def known_rate(tmp_path, monkeypatch):
    """This machine's rate fixed at 0.02 s + 2 s per megapixel per evaluation."""
    monkeypatch.setattr(cost, "_path", lambda: tmp_path / "speed.json")
    key = Stylizer(Settings(styles=("s",))).machine()
    cost.remember(key, [[1e5, 0.22], [4e5, 0.82]])
    return cost.rate(key)


def test_more_time_buys_more_iterations_never_past_the_budget(known_rate, images):
    content, style = Image.open(images / "tubingen.jpg"), Image.open(images / "starry_night.jpg")
    base = Settings(content=str(images / "tubingen.jpg"), styles=("starry_night",), size=512)
    chosen = []
    for seconds in (15, 30, 60, 300):
        s = base.with_(time_budget=f"{seconds}s")
        fitted, notes = fit_to_budget(s, content, [style], Stylizer, float(seconds))
        estimate = Stylizer(fitted).estimate(content)
        assert estimate <= seconds and notes and f"--time {seconds}s" in notes[0]
        chosen.append((fitted.iterations, fitted.coarse_iterations))
        if (fitted.iterations, fitted.coarse_iterations) != rungs()[-1]:  # the next rung would not fit
            following = rungs()[rungs().index(chosen[-1]) + 1]
            richer = fitted.with_(iterations=following[0], coarse_iterations=following[1])
            assert Stylizer(richer).estimate(content) > 0.92 * seconds
    assert chosen == sorted(chosen) and len(set(chosen)) == 4


def test_size_auto_is_the_photos_own_or_what_the_time_allows(known_rate, images):
    content, style = Image.open(images / "tubingen.jpg"), Image.open(images / "starry_night.jpg")
    base = Settings(content=str(images / "tubingen.jpg"), styles=("starry_night",), size=0)
    own, notes = fit_to_budget(base, content, [style], Stylizer, None)
    assert own.size == max(content.size) and "the photo's own size" in notes[0]
    timed, notes = fit_to_budget(base.with_(time_budget="20s"), content, [style], Stylizer, 20.0)
    assert 128 <= timed.size < own.size and f"size auto: {timed.size} px" in notes[0]
    draft = timed.with_(iterations=rungs()[5][0], coarse_iterations=rungs()[5][1])
    assert Stylizer(draft).estimate(content) <= 20 * 0.92
    assert Stylizer(draft.with_(size=timed.size + 32)).estimate(content) > 20 * 0.92
    with pytest.raises(PainterlyError, match="not even 128 px fits in --time"):
        fit_to_budget(base.with_(time_budget="0.2s"), content, [style], Stylizer, 0.2)


def test_a_slower_machine_than_estimated_still_ends_by_the_budget(tmp_path, images):
    """The remembered rate says this machine is far faster than it is: the schedule chosen would take
    far longer than the budget, and the run ends at it, writing the output (not a partial) with the
    reason in its record. At 512 px the chosen (top) rung takes minutes on any CPU; at 128 px a fast
    machine finished it inside the budget, so the test would have passed or failed by the machine."""
    cache = tmp_path / "cache"
    shutil.copytree(os.environ["XDG_CACHE_HOME"], cache)  # the converted weights, as a user has them
    key = Stylizer(Settings(styles=("s",))).machine()
    (cache / "painterly").mkdir(parents=True, exist_ok=True)
    fast = [[1e5, 0.001], [4e5, 0.004]]
    (cache / "painterly" / cost.SPEED_FILE).write_text(
        json.dumps({"format": cost.FORMAT, "machines": {key: fast}})
    )
    env = dict(os.environ, XDG_CACHE_HOME=str(cache))
    out = tmp_path / "o.png"
    started = time.perf_counter()
    result = painterly(images / "tubingen.jpg", "starry_night", "--size", "512", "--time", "20s", "-o", out,
                       "--protect-faces", cwd=tmp_path, env=env)  # fmt: skip
    wall = time.perf_counter() - started
    assert result.returncode == 0, result.stderr
    record = read_metadata(out)
    assert record["stop"] == "time budget" and not record["interrupted"]
    assert record["settings"]["time_budget"] == "20s" and record["settings"]["iterations"] > 100
    # The painting itself ends inside the budget; the whole command (start-up and exit on a machine
    # that may be busy with other tests) within half again. Unbounded, these iterations take minutes.
    assert record["elapsed"] < 20, record["elapsed"]
    assert wall < 20 * 1.5, f"{wall:.1f} s for a 20 s budget"
    assert Image.open(out).size == (512, 384)
