"""
C{get-poetry}'s live progress bar on a terminal, drawn on the console's
L{Screen} (anything else written there erases it first), and when to draw
it.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

from twisted.internet.task import LoopingCall

from poetry.cli.console import Console, Screen
from poetry.cli.options import writes_stdout
from poetry.cli.sinks import Sink
from poetry.cli.summary import TaskResult

__all__ = ["LiveProgress", "ProgressBar", "format_size", "wants_progress"]


def format_size(n: int) -> str:
    """C{n} bytes for people: C{512 B}, C{1.5 KiB}, C{12.3 MiB}."""
    if n < 1024:
        return f"{n} B"
    value = float(n)
    for unit in ("KiB", "MiB", "GiB", "TiB"):
        value /= 1024
        if value < 1024 or unit == "TiB":
            break
    return f"{value:.1f} {unit}"


class ProgressBar:
    """
    The state and drawing of the one-line progress bar: poems done of the
    total, failures so far, bytes received and time elapsed::

        poems  3/10 [=========>                   ]  1.2 MiB  1 failed  0:03

    It draws text only; L{LiveProgress} draws it on the L{Screen}, which
    erases it before anything else is written to the terminal.
    """

    def __init__(self, total: int) -> None:
        self.total = total
        self.done = 0
        self.failed = 0
        self.received = 0

    def render(self, elapsed: float, width: int = 80) -> str:
        """The bar, fitting in C{width} columns (less one, never wrapping)."""
        digits = len(str(self.total))
        minutes, seconds = divmod(int(elapsed), 60)
        tail = f" {format_size(self.received)}"
        if self.failed:
            tail += f"  {self.failed} failed"
        tail += f"  {minutes}:{seconds:02d}"
        head = f"poems {self.done:>{digits}}/{self.total} "
        room = min(40, width - 1 - len(head) - len(tail) - 2)
        if room < 5:
            return (head + tail)[: max(0, width - 1)]
        filled = room * self.done // max(1, self.total)
        arrow = ">" if filled < room else ""
        bar = "=" * filled + arrow + " " * (room - filled - len(arrow))
        return f"{head}[{bar}]{tail}"


class LiveProgress(Sink):
    """
    The progress bar as a sink: redrawn on L{Screen} every C{interval}
    seconds of C{clock} from L{start} until the downloads end.
    """

    def __init__(self, screen: Screen, total: int, clock: Any, interval: float) -> None:
        self.bar = ProgressBar(total)
        self._screen = screen
        self._clock = clock
        self._interval = interval
        self._started = 0.0
        self._refresh: LoopingCall | None = None

    def start(self) -> None:
        """Draw the bar now, and again every C{interval} seconds."""
        self._started = self._clock.seconds()
        self._refresh = LoopingCall(self.draw)
        self._refresh.clock = self._clock
        self._refresh.start(self._interval)

    def draw(self) -> None:
        elapsed = self._clock.seconds() - self._started
        self._screen.draw(self.bar.render(elapsed, self._screen.width()))

    def stop(self) -> None:
        """Stop redrawing and erase the bar."""
        if self._refresh is not None and self._refresh.running:
            self._refresh.stop()
        self._refresh = None
        self._screen.erase()

    def on_data(self, index: int, nbytes: int) -> None:
        self.bar.received += nbytes

    def on_result(self, result: TaskResult, data: bytes | None) -> None:
        self.bar.done += 1
        self.bar.failed += result.status.failed

    def on_end(self, results: Sequence[TaskResult]) -> None:
        self.stop()


def wants_progress(options: argparse.Namespace, console: Console) -> bool:
    """
    Whether to draw the bar by default: only when stderr is a terminal,
    neither C{-v} nor C{-q} is given, and stdout is not a pipe or socket
    carrying output (which may reach the same terminal later, through
    C{cat} or C{less}, where the bar cannot be erased in time).
    """
    return (
        console.err.isatty
        and not options.verbose
        and not options.quiet
        and (
            console.merged
            or not writes_stdout(options)
            or console.out.kind not in ("fifo", "socket", "tty", "other")
        )
    )
