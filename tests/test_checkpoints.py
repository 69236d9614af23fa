"""Checkpoints and resume through the real entry points: a run killed with SIGKILL after a checkpoint,
then ``painterly resume``, against the same run left alone; and every kind of bad checkpoint."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from painterly import checkpoints
from painterly.engine import StopToken, Stylizer
from painterly.images import load_image, read_metadata
from painterly.jobs import Record
from painterly.settings import Settings
from painterly.state import RunState

# Whole scales: 3 of them at 160 px, enough iterations that a 0.3 s checkpoint lands mid-scale.
WHOLE = ["--size", "160", "--scales", "3", "--iterations", "24", "--coarse-iterations", "12"]
# Tiled: one scale whose budget (the process holds ~0.4 GiB of it) leaves room for 256-512 px tiles.
TILED = ["--size", "512", "--scales", "1", "--iterations", "6", "--memory-budget", "0.82"]


def cli(*args, cwd: Path, **kw) -> list[str]:
    return [sys.executable, "-m", "painterly.cli", *map(str, args)]


def painterly(*args, cwd: Path, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run(cli(*args, cwd=cwd), capture_output=True, text=True, cwd=cwd, timeout=timeout)


def pixels(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB")).astype(np.int16)


def killed_after_checkpoint(args: list, out: Path, cwd: Path, wait: float) -> None:
    """Start the run, SIGKILL it ``wait`` seconds after its first checkpoint appears."""
    ckpt = checkpoints.path_for(out)
    log = cwd / "killed.log"
    with log.open("w") as stderr:
        proc = subprocess.Popen(cli(*args, cwd=cwd), cwd=cwd, stderr=stderr)
    deadline = time.time() + 300
    while not ckpt.is_file() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    time.sleep(wait)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL, f"the run ended before it was killed: {log.read_text()[-500:]}"
    assert ckpt.is_file() and not out.exists()


@pytest.mark.parametrize("kind", ["whole", "tiled"])
def test_resume_after_sigkill_matches_the_uninterrupted_run(tmp_path, images, kind):
    sizes = WHOLE if kind == "whole" else TILED
    common = [images / "tubingen.jpg", "starry_night", *sizes, "--quiet", "--seed", "3"]
    alone, cut = tmp_path / "alone.png", tmp_path / "cut.png"
    assert painterly(*common, "-o", alone, "--checkpoint-every", "0", cwd=tmp_path).returncode == 0
    wait = 0.5 if kind == "whole" else 0.0  # tiles: killed inside the tile after the checkpointed one
    killed_after_checkpoint([*common, "-o", cut, "--checkpoint-every", "0.3"], cut, tmp_path, wait)
    state = checkpoints.load(checkpoints.path_for(cut), checkpoints.read(checkpoints.path_for(cut))["painterly_checkpoint"])  # fmt: skip
    assert 0 < state.done < state.total
    if kind == "tiled":
        assert state.tiles is not None and state.tiles["next"] >= 1  # between tiles: none painted again

    resumed = subprocess.run(cli("resume", cut, cwd=tmp_path), cwd=tmp_path, capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    assert f"resuming at {state.progress:.0%} ({state.done} of {state.total}" in resumed.stderr
    assert not checkpoints.path_for(cut).exists()  # removed once the output is written
    difference = np.abs(pixels(alone) - pixels(cut)).max()
    first, second = Record.from_dict(read_metadata(alone)), Record.from_dict(read_metadata(cut))
    print(f"{kind}: resumed at {state.done}/{state.total}; max pixel difference {difference}; "
          f"objective {first.losses['total']:.6f} vs {second.losses['total']:.6f}")  # fmt: skip
    assert difference == 0
    assert second.losses == first.losses and second.iterations == first.iterations


def test_ctrl_c_leaves_a_checkpoint_and_the_command_to_finish(tmp_path, images):
    out = tmp_path / "o.png"
    args = [images / "tubingen.jpg", "starry_night", "-o", out, *WHOLE, "--iterations", "5000"]
    proc = subprocess.Popen(cli(*args, cwd=tmp_path), cwd=tmp_path, stderr=subprocess.PIPE, text=True)
    seen, deadline = "", time.time() + 120
    while time.time() < deadline and "scale 2/3" not in seen:
        seen += proc.stderr.read(1)
    proc.send_signal(signal.SIGINT)
    rest = proc.communicate(timeout=120)[1]
    assert proc.returncode == 130
    assert f"finish it with `painterly resume {out}`" in rest, rest
    state = checkpoints.load(checkpoints.path_for(out), checkpoints.read(checkpoints.path_for(out))["painterly_checkpoint"])  # fmt: skip
    assert state.scale >= 1 and state.optimizer is not None  # inside the second scale: not repainted
    assert out.is_file()  # the best image so far


def test_an_existing_checkpoint_is_never_replaced_by_a_fresh_run(tmp_path, images):
    out = tmp_path / "o.png"
    checkpoints.path_for(out).write_bytes(b"an unfinished run")
    result = painterly(images / "tubingen.jpg", "starry_night", "-o", out, "--size", "48", cwd=tmp_path)
    assert result.returncode == 2
    assert "painterly resume" in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert checkpoints.path_for(out).read_bytes() == b"an unfinished run"


@pytest.fixture(scope="module")
def saved(tmp_path_factory, images) -> Path:
    """A real checkpoint (a run stopped by its token inside its first scale), with its output."""
    folder = tmp_path_factory.mktemp("saved")
    out = folder / "o.png"
    proc = subprocess.Popen(
        cli(images / "tubingen.jpg", "starry_night", "-o", out, *WHOLE, "--iterations", "5000", cwd=folder),
        cwd=folder, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    seen = ""
    while "3/" not in seen and proc.poll() is None:
        seen += proc.stderr.read(1)
    proc.send_signal(signal.SIGINT)
    proc.communicate(timeout=120)
    assert checkpoints.path_for(out).is_file()
    return out


def _damage(kind: str, ckpt: Path, tmp_path: Path, images: Path) -> tuple[Path, str]:
    """Spoil a copy of the checkpoint; return the output to resume and a word of the expected error."""
    out = tmp_path / "o.png"
    target = checkpoints.path_for(out)
    data = ckpt.read_bytes()
    if kind == "truncated":
        target.write_bytes(data[: len(data) // 2])
        return out, "not a readable painterly checkpoint"
    if kind == "garbage":
        target.write_bytes(b"\x00not a checkpoint at all" * 100)
        return out, "not a readable painterly checkpoint"
    if kind == "folder":
        target.mkdir()
        return out, "is a folder"
    if kind == "missing":
        return out, "no checkpoint to resume from"
    saved = torch.load(ckpt, weights_only=True)
    owner = saved["painterly_checkpoint"]
    if kind == "version":
        owner["version"] = "0.0.1"
        expected = "written by painterly 0.0.1"
    elif kind == "format":
        owner["format"] = 99
        expected = "another format"
    elif kind == "schedule":  # written by a painterly that planned these settings' scales otherwise
        owner["schedule"] = [[1.0, 3]]
        expected = "planned with other scales"
    elif kind == "input":  # the content file it names now holds other bytes
        changed = tmp_path / "content.jpg"
        Image.open(images / "golden_gate.jpg").save(changed)
        owner["settings"]["content"] = str(changed)
        expected = "changed since"
    else:  # a state that is not one
        saved["state"] = {"canvas": "no"}
        expected = "not a painterly run state"
    torch.save(saved, target)
    return out, expected


@pytest.mark.parametrize("kind", ["truncated", "garbage", "folder", "missing", "version", "format", "schedule", "input", "state"])  # fmt: skip
def test_bad_checkpoints_give_one_line_and_stay(tmp_path, images, saved, kind):
    out, expected = _damage(kind, checkpoints.path_for(saved), tmp_path, images)
    target = checkpoints.path_for(out)
    before = target.read_bytes() if target.is_file() else None
    result = painterly("resume", out, cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert expected in result.stderr and len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "Traceback" not in result.stderr
    if before is not None:
        assert target.read_bytes() == before  # left in place, never used or deleted
    assert not out.exists()


def test_a_checkpoint_for_other_settings_is_refused_by_run_resume(tmp_path, images, saved):
    out = tmp_path / "o.png"
    checkpoints.path_for(out).write_bytes(checkpoints.path_for(saved).read_bytes())
    base = [images / "tubingen.jpg", "starry_night", "-o", out, *WHOLE, "--iterations", "5000", "--resume"]
    result = painterly(*base, "--style-weight", "7", cwd=tmp_path)
    assert result.returncode == 2 and "belongs to another run (other style_weight)" in result.stderr


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file")
def test_an_unreadable_checkpoint_is_refused(tmp_path, saved):
    out = tmp_path / "o.png"
    target = checkpoints.path_for(out)
    target.write_bytes(checkpoints.path_for(saved).read_bytes())
    target.chmod(0)
    result = painterly("resume", out, cwd=tmp_path)
    assert result.returncode == 2 and "permission denied" in result.stderr


def test_a_stopped_run_hands_back_its_state_and_continues_in_process(images):
    """Python: stop a run, continue its ``result.state``: no finished scale is painted again and the
    evaluations of both parts add up to the plan."""
    s = Settings(content="c", styles=("s",), size=96, scales=3, iterations=8, coarse_iterations=6,
                 device="cpu", precision="fp32", protect_faces=False)  # fmt: skip
    content, style = load_image(images / "tubingen.jpg"), load_image(images / "starry_night.jpg")
    token = StopToken()
    first_scales: list[int] = []

    def stop_in_second_scale(event) -> None:
        if type(event).__name__ == "ScaleStarted":
            first_scales.append(event.index)
        if type(event).__name__ == "Iteration" and event.scale == 1 and event.iteration >= 6:
            token.stop()

    stylizer = Stylizer(s, stop=token)
    stopped = stylizer.run(content, [style], on_event=stop_in_second_scale)
    assert stopped.interrupted and stopped.state is not None and stopped.state.scale == 1
    older = stopped.state.to_dict()
    older["optimiser"] = older.pop("optimizer")  # the key as older checkpoints spell it
    assert RunState.from_dict(older).optimizer["budget"] == stopped.state.optimizer["budget"]
    token._event.clear()
    later: list[int] = []
    finished = stylizer.run(
        content, [style], state=stopped.state,
        on_event=lambda e: later.append(e.index) if type(e).__name__ == "ScaleStarted" else None,
    )  # fmt: skip
    assert not finished.interrupted and later == [1, 2]
    assert finished.iterations == stopped.state.total == sum(i for _, i in s.schedule())


def test_records_carry_changes_and_accept_fields_of_later_versions():
    record = Record(settings={"styles": ["a.jpg", "b.jpg"]}, output="o.png", elapsed=1.0, iterations=3,
                    interrupted=False, losses={}, weights_sha256="", device="cpu", precision="fp32",
                    changes=[[4, "style_weight", 50.0], [6, "style_blend", [0.7, 0.3]]])  # fmt: skip
    data = json.loads(json.dumps(record.to_dict())) | {"a_field_of_painterly_9": {"x": 1}}
    read = Record.from_dict(data)
    assert read.format == 2 and read.changes == record.changes
    assert [c.value for c in read.steering()] == [50.0, (0.7, 0.3)]


def test_rerun_replays_a_steered_run_to_the_same_pixels(tmp_path, images):
    from painterly.jobs import Job

    s = Settings(content=str(images / "tubingen.jpg"), styles=("starry_night",), size=64, scales=2,
                 iterations=8, coarse_iterations=6, protect_faces=False)  # fmt: skip
    job = Job(s, tmp_path / "steered.png")

    def steer(event) -> None:
        if type(event).__name__ == "Iteration" and event.iteration == 5:
            job.stylizer.update(style_weight=40.0)

    record = job.run(steer)
    assert record.changes == [[5, "style_weight", 40.0]]
    again = painterly(
        "rerun", tmp_path / "steered.png", "--trust-record", "-o", tmp_path / "again.png", cwd=tmp_path
    )
    assert again.returncode == 0, again.stderr
    assert np.array_equal(pixels(tmp_path / "steered.png"), pixels(tmp_path / "again.png"))
    assert Record.from_dict(read_metadata(tmp_path / "again.png")).changes == record.changes


def test_settings_saved_before_a_field_existed_are_still_this_runs():
    """A checkpoint (or record) written before ``keep_layout`` existed lacks the key: it compares at
    the field's default, not as another run; what is no settings at all stays itself."""
    from painterly.settings import as_saved

    settings = Settings(content="c", styles=("s",))
    full = json.loads(settings.to_json())
    older = {key: value for key, value in full.items() if key != "keep_layout"}
    assert as_saved(older) == full and as_saved({"nonsense": 1}) == {"nonsense": 1}
    owner = checkpoints.identity(settings, [])
    assert checkpoints._mismatch(owner | {"settings": older}, owner) == ""
    assert "keep_layout" in checkpoints._mismatch(owner | {"settings": older | {"keep_layout": False}}, owner)
