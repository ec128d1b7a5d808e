"""A progress bar on standard error for long evaluations, drawn only when someone is watching (a terminal): a log
file or a CI job's output gets no carriage returns."""

from __future__ import annotations

import sys
import time
from typing import TextIO

WIDTH = 30
EVERY_S = 0.1  # redraw at most this often: a terminal write per scorer call would cost more than the call


class Progress:
    """``done`` of ``total`` steps as ``label [#####.....] 12/40``; silent unless standard error is a TTY."""

    def __init__(self, label: str, total: int, stream: TextIO | None = None) -> None:
        self.label = label
        self.total = max(total, 1)
        self.done = 0
        self.stream = stream or sys.stderr
        self.shown = _is_tty(self.stream)
        self._drawn_at = 0.0

    def advance(self, steps: int = 1) -> None:
        self.done += steps
        if self.shown and (self.done >= self.total or time.monotonic() - self._drawn_at >= EVERY_S):
            self._draw()

    def close(self) -> None:
        if self.shown:
            self._draw()
            self.stream.write("\n")
            self.stream.flush()

    def _draw(self) -> None:
        filled = WIDTH * min(self.done, self.total) // self.total
        self.stream.write(f"\r{self.label} [{'#' * filled}{'.' * (WIDTH - filled)}] {self.done}/{self.total}")
        self.stream.flush()
        self._drawn_at = time.monotonic()


def _is_tty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # a stream object without isatty, or one already closed
        return False
