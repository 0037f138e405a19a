"""
Where a C{get-poetry} run writes: its stdout and stderr as one L{Console}.

When both are the same terminal they are one stream, so that the bar, the
poems and the messages reach the screen in the order they were written; the
L{Screen} is the stream the progress bar is on, and anything written there
erases the bar first.
"""

from __future__ import annotations

import os
from typing import IO, Any

from twisted.internet.defer import Deferred, gatherResults, succeed

from poetry.cli.output import OutputStream, TextWriter, as_stream, same_terminal

__all__ = ["ERASE_LINE", "Console", "Screen"]

ERASE_LINE = b"\r\x1b[K"
"""Back to the start of the line, and clear it: how the bar is erased."""


class Screen:
    """
    The stream the progress bar is on (stderr, or stdout when both are one
    terminal).  Everything written to the terminal goes through it, so that
    the bar is erased before anything is written below it.
    """

    def __init__(self, stream: OutputStream) -> None:
        self.stream = stream
        self.bar_drawn = False

    def write(self, data: bytes) -> None:
        """Write C{data}, erasing the bar first."""
        self.erase()
        self.stream.write(data)

    def write_line(self, line: str) -> None:
        """Write C{line} and a newline (characters UTF-8 cannot encode replaced)."""
        self.write(line.encode("utf-8", "replace") + b"\n")

    def draw(self, line: str) -> None:
        """Draw the bar as C{line} (no newline), replacing the one drawn."""
        self.write(ERASE_LINE + line.encode("utf-8"))
        self.bar_drawn = True

    def erase(self) -> None:
        """Erase the bar, if it is drawn."""
        if self.bar_drawn:
            self.stream.write(ERASE_LINE)
            self.bar_drawn = False

    def width(self, default: int = 80) -> int:
        """The terminal's width in columns (C{default} when unknown)."""
        fd = getattr(self.stream, "fd", None)
        if fd is not None:
            try:
                return os.get_terminal_size(fd).columns or default  # 0: unknown
            except OSError:
                pass
        return default


class Console:
    """
    A run's stdout and stderr.

    @ivar merged: whether both are one terminal (then written as one stream,
        stdout's).
    @ivar screen: the L{Screen} on stderr (on stdout when merged).
    """

    def __init__(
        self,
        stdout: OutputStream | IO[bytes] | None,
        stderr: OutputStream | IO[str] | None,
    ) -> None:
        """
        @param stdout: an L{OutputStream} or a binary file (L{None}: closed).
        @param stderr: an L{OutputStream} or a text file (L{None}: closed).
        """
        self.out = as_stream(stdout, "stdout")
        self.err = as_stream(stderr, "stderr")
        self.merged = same_terminal(self.out, self.err)
        self.screen = Screen(self.out if self.merged else self.err)

    def write_out(self, data: bytes) -> None:
        """Write C{data} (poems, the JSON) to stdout."""
        if self.merged:
            self.screen.write(data)
        else:
            self.out.write(data)

    def write_line(self, line: str) -> None:
        """Write the message C{line} to stderr."""
        self.screen.write_line(line)

    def text_err(self) -> Any:
        """Stderr as a text file (for the trace observer and the chart)."""
        return TextWriter(self.screen.write, self.err)

    def stdout_done(self) -> Deferred[None]:
        """
        No more poems: fires once stdout has taken every byte, or failed
        (at once when merged: stdout closes with stderr, in L{close}).
        """
        return succeed(None) if self.merged else self.out.close()

    def close(self) -> Deferred[Any]:
        """No more writes at all: fires once both have delivered every byte."""
        closing = [self.err.close()]
        if self.merged:
            closing.append(self.out.close())
        return gatherResults(closing)

    def abandon_stdout(self) -> None:
        """
        Stop waiting for a stdout nobody reads (unless it is stderr's
        terminal too): what it has not taken is dropped.
        """
        if not self.merged:
            self.out.abort()
