"""Steering a run from the keyboard (``painterly run --interactive``): each key changes a setting the
run takes while it paints (``Stylizer.update``), and a line under the progress bar shows them.

Standard input goes into cbreak mode (keys arrive one at a time, unechoed; Ctrl-C still interrupts)
and a thread reads it; the terminal is restored however the run ends. POSIX terminals only.
"""

from __future__ import annotations

import contextlib
import os
import re
import select
import sys
import threading
from collections.abc import Iterator
from typing import Any

from ..errors import PainterlyError
from ..settings import Settings

FACTOR = 1.5  # what one key press multiplies or divides a weight by
FAVORED = 3.0  # ``b``: the favoured style's blend weight against each other style's 1
# key -> weight: lower case divides it by FACTOR, upper case multiplies it. Up from 0 starts at the
# weight's first step and down from at most that step reaches 0 (tv starts at 0; at 1 it is ~1-2 %
# of a 128-256 px run's total, measured on Tubingen + Starry Night).
WEIGHTS = {"s": "style_weight", "c": "content_weight", "t": "tv_weight", "f": "face_weight"}
FIRST_STEP = {"style_weight": 0.1, "content_weight": 0.1, "tv_weight": 1.0, "face_weight": 0.001}
LABELS = {"style_weight": "style", "content_weight": "content", "tv_weight": "tv", "face_weight": "faces"}
# What a terminal sends for arrows, function keys and Alt+key: their letters are not keys.
ESCAPES = re.compile(r"\x1b(?:\[[\x20-\x3f]*[\x40-\x7e]?|O.?|.?)", re.DOTALL)
HELP = f"""painterly: keys while it paints (each applies before the next evaluation):
  s / S   style weight down / up
  c / C   content weight down / up
  t / T   smoothness (total variation) weight down / up
  f / F   face protection down / up
          (/{FACTOR:g} or x{FACTOR:g} a press; up from 0 starts small, down from there reaches 0)
  b       favour the next style in turn ({FAVORED:g}:1), then blend them equally again
  q       stop and save the best image so far (`painterly resume` can finish it)
  ?       this list"""


def check_terminal() -> None:
    """Refuse ``--interactive`` (before any work) where keys cannot be read one at a time."""
    if not sys.stdin.isatty():
        raise PainterlyError("--interactive reads keys from a terminal, and standard input is not one")
    try:
        import termios  # noqa: F401
    except ImportError:
        raise PainterlyError("--interactive needs a POSIX terminal") from None


def stepped(asked: Settings, key: str) -> dict[str, Any] | None:
    """The change ``key`` makes to the settings ``asked`` for so far; None for a key that means none."""
    name = WEIGHTS.get(key.lower())
    if name is not None:
        value, first = getattr(asked, name), FIRST_STEP[name]
        if key.isupper():
            return {name: value * FACTOR if value else first}
        return {name: 0.0 if value <= first else value / FACTOR}
    if key == "b":
        return {"style_blend": next_blend(asked)}
    return None


def next_blend(asked: Settings) -> tuple[float, ...]:
    """The blend favouring the style after the one favoured now (from any other blend: the first),
    and after the last style an equal blend."""
    count = len(asked.styles)
    if count < 2:
        raise PainterlyError("one style: nothing to blend")
    cycle = [tuple(FAVORED if i == k else 1.0 for i in range(count)) for k in range(count)]
    cycle.append((1.0,) * count)
    now = cycle.index(asked.style_blend) if asked.style_blend in cycle else -1
    return cycle[(now + 1) % len(cycle)]


def status(asked: Settings) -> str:
    """The prompt line: the keys, and the values asked for."""
    values = "  ".join(f"{LABELS[name]} {getattr(asked, name):.3g}" for name in WEIGHTS.values())
    blend = "  blend " + "/".join(f"{w:.2g}" for w in asked.blend()) if len(asked.styles) > 1 else ""
    return f"keys s/S c/C t/T f/F b ? q | {values}{blend}"


class Keyboard:
    """Turns keys into ``update`` calls on a job's run and shows the settings asked for."""

    def __init__(self, job, asked: Settings) -> None:
        from tqdm import tqdm

        self.job, self.asked, self.note = job, asked, ""
        self.line = tqdm(
            total=0, position=1, bar_format="{desc}", leave=False, dynamic_ncols=True, file=sys.stderr
        )
        self.done = threading.Event()
        self.show()

    def press(self, key: str) -> None:
        from tqdm import tqdm

        if key == "?":
            tqdm.write(HELP, file=sys.stderr)
            return
        if key == "q":
            self.job.stop()
            self.note = "stopping; saving the best image so far"
        else:
            try:
                change = stepped(self.asked, key)
                if change is None:
                    return
                self.job.stylizer.update(**change)
                self.asked, self.note = self.asked.with_(**change), ""
            except PainterlyError as exc:
                self.note = str(exc)
        self.show()

    def show(self) -> None:
        self.line.set_description_str(status(self.asked) + (f" | {self.note}" if self.note else ""))

    def read(self, fd: int) -> None:
        """Press each key typed on ``fd`` until ``done``."""
        while not self.done.is_set():
            if not select.select([fd], [], [], 0.1)[0]:
                continue
            typed = os.read(fd, 64)
            if not typed:
                return  # the terminal went away
            for key in ESCAPES.sub("", typed.decode(errors="ignore")):
                self.press(key)


@contextlib.contextmanager
def steering(job, asked: Settings) -> Iterator[None]:
    """While inside, keys typed on standard input steer ``job``'s run (``asked``: its settings in
    force at the start); the terminal's mode is restored on the way out."""
    import termios
    import tty

    fd = sys.stdin.fileno()
    saved = termios.tcgetattr(fd)
    keyboard = Keyboard(job, asked)
    tty.setcbreak(fd)
    reader = threading.Thread(target=keyboard.read, args=(fd,), name="painterly-keys", daemon=True)
    reader.start()
    try:
        yield
    finally:
        keyboard.done.set()
        reader.join()
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)
        keyboard.line.close()
