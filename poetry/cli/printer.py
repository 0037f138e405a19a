"""
C{get-poetry}'s default output: each poem on stdout, in command-line
order, under its C{==>} header, as soon as every earlier task has ended.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from poetry.addresses import Address
from poetry.cli.sinks import Sink
from poetry.cli.summary import TaskResult
from poetry.cli.terminal import escape_for_terminal

__all__ = ["OrderedPrinter", "poem_block"]


def poem_block(task: int, address: Address, data: bytes, *, tty: bool) -> bytes:
    """
    Task C{task}'s poem as printed: its header, the poem (on a terminal,
    escaped by L{escape_for_terminal}), ending in a newline, and a blank line.
    """
    if tty:
        data = escape_for_terminal(data)
    tail = b"" if data.endswith(b"\n") else b"\n"
    return f"==> {address} (task {task}) <==\n".encode() + data + tail + b"\n"


class OrderedPrinter(Sink):
    """
    Poems to stdout in command-line order, each as soon as every earlier
    task has ended, under its C{==>} header; on a terminal escaped by
    L{escape_for_terminal}.  A poem's bytes are held only until printed.
    """

    def __init__(self, count: int, write: Callable[[bytes], object], tty: bool) -> None:
        self._write = write
        self._tty = tty
        self._ended = [False] * count
        self._pending: dict[int, tuple[Address, bytes]] = {}
        self._next = 0

    @property
    def held(self) -> int:
        """How many poems are waiting for an earlier task."""
        return len(self._pending)

    def on_result(self, result: TaskResult, data: bytes | None) -> None:
        self.ended(result.index, result.address, data)

    def on_end(self, results: Sequence[TaskResult]) -> None:
        # Poems that arrived are never lost, interrupted or not.
        self.flush(everything=True)

    def ended(self, index: int, address: Address, data: bytes | None) -> None:
        """Task C{index} ended, with its poem C{data} (L{None}: no poem)."""
        self._ended[index] = True
        if data is not None:
            self._pending[index] = (address, data)
        self.flush()

    def flush(self, everything: bool = False) -> None:
        """Print what is ready (with C{everything}, all that is held)."""
        while self._next < len(self._ended):
            if not (self._ended[self._next] or everything):
                return
            item = self._pending.pop(self._next, None)
            self._next += 1
            if item is not None:
                address, data = item
                self._write(poem_block(self._next, address, data, tty=self._tty))
