"""Terminal progress of ``itp-adam run``: one line per stage, a bar on stages made of steps.

Stage lines go to ``say`` (``print`` on the command line, nothing with ``--quiet``). When a
terminal is given, a stage made of steps (one per dataset) is drawn as a bar that is redrawn in
place and replaced by the stage's time when it ends; without a terminal (a pipe, a CI log) only
the plain ``stage ...`` lines are written, so logs stay readable.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TextIO, TypeVar

Say = Callable[[str], None]
Tick = Callable[[str], None]
T = TypeVar("T")

BAR_WIDTH = 24


class Progress:
    """Stage timings plus what the user sees of them (see the module docstring)."""

    def __init__(self, say: Say = lambda _: None, terminal: TextIO | None = None) -> None:
        self.say = say
        self.terminal = terminal
        self.timings: dict[str, float] = {}

    def __call__(self, text: str) -> None:
        self.say(text)

    def stage(self, name: str, action: Callable[[], T]) -> T:
        """Run one stage, record its wall time and show its name."""
        return self.steps(name, 0, lambda _tick: action())

    def steps(self, name: str, total: int, action: Callable[[Tick], T]) -> T:
        """Run a stage of ``total`` steps; ``action`` calls ``tick(label)`` after each step."""
        done = 0

        def tick(label: str) -> None:
            nonlocal done
            done += 1
            self._draw(name, done, total, label)

        if self.terminal is None or total == 0:
            self.say(f"{name} ...")
        else:
            self._draw(name, 0, total, "")
        start = time.perf_counter()
        try:
            value = action(tick)
        finally:
            if self.terminal is not None and total:
                self.terminal.write("\r\033[K")
                self.terminal.flush()
        seconds = time.perf_counter() - start
        self.timings[name] = round(seconds, 3)
        if self.terminal is not None and total:
            self.say(f"{name} ... {total} done in {seconds:.1f} s")
        return value

    def _draw(self, name: str, done: int, total: int, label: str) -> None:
        if self.terminal is None or not total:
            return
        filled = BAR_WIDTH * done // total
        bar = "#" * filled + "." * (BAR_WIDTH - filled)
        self.terminal.write(f"\r\033[K{name} [{bar}] {done}/{total} {label}")
        self.terminal.flush()
