"""``painterly run --interactive``: keys steer the run in a real terminal (tmux), every key press is
in the output's record, ``q`` stops and saves, and without a terminal the option is refused."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from painterly.cli.keyboard import ESCAPES, next_blend, status, stepped
from painterly.errors import PainterlyError
from painterly.images import read_metadata
from painterly.settings import Settings


def test_keys_step_the_weights_and_the_blend():
    one = Settings(styles=("a",))
    assert stepped(one, "S") == {"style_weight": 7.5} and stepped(one, "s") == {"style_weight": 5 / 1.5}
    assert stepped(one, "T") == {"tv_weight": 1.0}  # from 0: the first step
    assert stepped(one.with_(tv_weight=1.0), "t") == {"tv_weight": 0.0}  # and back to 0
    assert stepped(one, "f") == {"face_weight": 0.01 / 1.5}
    assert stepped(one, "x") is None and stepped(one, "[") is None
    with pytest.raises(PainterlyError, match="one style"):
        stepped(one, "b")
    two = Settings(styles=("a", "b"))
    cycle = [next_blend(two)]
    for _ in range(2):
        cycle.append(next_blend(two.with_(style_blend=cycle[-1])))
    assert cycle == [(3.0, 1.0), (1.0, 3.0), (1.0, 1.0)]
    assert status(two.with_(style_blend=(3.0, 1.0))).endswith("blend 0.75/0.25")
    # arrows, function keys and Alt+key arrive as escape sequences, maybe with keys in the same read
    assert ESCAPES.sub("", "\x1b[Cc\x1bOPS\x1b[15~t\x1bbq\x1b") == "cStq"


@pytest.mark.parametrize(
    "extra, message",
    [
        ([], "--interactive reads keys from a terminal, and standard input is not one"),
        (["--quiet"], "--interactive shows its keys under the progress bar: drop --quiet"),
    ],
)
def test_interactive_is_refused_without_a_terminal(tmp_path, images, extra, message):
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "painterly.cli", "run", images / "tubingen.jpg", "starry_night"]
        + ["--interactive", "-o", tmp_path / "out.png", *extra],
        stdin=subprocess.DEVNULL, capture_output=True, text=True, cwd=tmp_path, timeout=120,
    )  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [f"painterly: error: {message}"]
    assert list(tmp_path.iterdir()) == [] and time.perf_counter() - started < 30  # before any work


class Terminal:
    """A command in a detached tmux session of its own server (a private socket, so the server and
    the command get this process's environment)."""

    def __init__(self, command: str, cwd: Path) -> None:
        self.socket = f"painterly-test-{os.getpid()}"
        self.tmux("new-session", "-d", "-s", "run", "-x", "120", "-y", "30", "-c", str(cwd), command)

    def tmux(self, *args: str) -> str:
        return subprocess.run(
            ["tmux", "-L", self.socket, *args], capture_output=True, text=True, check=True, timeout=30
        ).stdout

    def screen(self) -> str:
        return self.tmux("capture-pane", "-p", "-t", "run")

    def wait_for(self, pattern: str, timeout: float = 180) -> str:
        """The screen once ``pattern`` (a regular expression) shows on it."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            screen = self.screen()
            if re.search(pattern, screen):
                return screen
            time.sleep(0.2)
        raise AssertionError(f"{pattern!r} never showed; the terminal:\n{self.screen()}")

    def press(self, key: str) -> None:
        self.tmux("send-keys", "-t", "run", key)

    def close(self) -> None:
        subprocess.run(["tmux", "-L", self.socket, "kill-server"], capture_output=True, timeout=30)


@pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")
def test_keys_steer_a_run_in_a_terminal_and_q_saves_it(tmp_path, images):
    run = [sys.executable, "-m", "painterly.cli", "run", images / "tubingen.jpg", "starry_night"]
    run += ["--size", "64", "--scales", "1", "--iterations", "5000", "--interactive", "-o", "out.png"]
    command = f"{shlex.join(map(str, run))}; echo $? > rc; stty -a > stty; sleep 300"
    terminal = Terminal(command, tmp_path)
    try:
        terminal.wait_for(r" [1-9]\d*/5000 \[")  # painting, under the prompt
        terminal.wait_for(r"keys s/S c/C t/T f/F b \? q \| style 5  content 1")
        terminal.press("?")
        terminal.wait_for("f / F   face protection")
        terminal.press("S")
        terminal.wait_for("style 7.5")
        terminal.press("Right")  # an escape sequence ends in C: it must not raise the content weight
        terminal.press("c")
        terminal.wait_for("content 0.667")
        terminal.press("q")
        deadline = time.time() + 120
        while not (tmp_path / "stty").is_file() and time.time() < deadline:
            time.sleep(0.2)
    finally:
        terminal.close()
    assert (tmp_path / "rc").read_text().strip() == "130"  # stopped early, as Ctrl-C does
    assert " icanon" in (tmp_path / "stty").read_text()  # the terminal's line mode is back
    record = read_metadata(tmp_path / "out.png")
    assert record["interrupted"] and 0 < record["iterations"] < 5000
    assert [change[1:] for change in record["changes"]] == [
        ["style_weight", 7.5],
        ["content_weight", 1 / 1.5],
    ]
