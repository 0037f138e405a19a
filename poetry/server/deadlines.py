"""
Timeouts of one fixed duration for many connections, on one timer: the idle
timeout of fast-mode connections and the lingering close's bound.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Any

from twisted.internet.interfaces import IDelayedCall, IReactorTime

__all__ = ["Deadlines"]


class Deadlines:
    """
    Timeouts of one fixed duration for many connections, on one timer.

    Every deadline is "now plus the same C{seconds}", so deadlines expire in
    the order they were set: a FIFO replaces the reactor's heap, and one
    L{IDelayedCall} waits for the oldest.  Setting a deadline costs a list
    and an append instead of a C{callLater}, cancelling it drops the entry's
    reference to the protocol (freed at once); emptied entries are skipped
    when they come up, and the FIFO is rebuilt without them once they are
    more than half of it.  The fast path of every connection sets and
    cancels one or two timeouts, so this is most of their cost.

    @ivar seconds: the duration of every deadline.
    """

    #: Rebuild the FIFO only past this many emptied entries.
    COMPACT_MIN = 64

    def __init__(
        self,
        clock: IReactorTime,
        seconds: float,
        expire: Callable[[Any], object],
    ) -> None:
        self.clock = clock
        self.seconds = seconds
        self._expire = expire
        self._fifo: deque[list[Any]] = deque()
        self._dead = 0
        self._timer: IDelayedCall | None = None

    def add(self, protocol: object) -> list[Any]:
        """Call C{expire(protocol)} C{seconds} from now, unless cancelled."""
        entry = [self.clock.seconds() + self.seconds, protocol]
        self._fifo.append(entry)
        if self._timer is None:
            self._timer = self.clock.callLater(self.seconds, self._fire)
        return entry

    def cancel(self, entry: list[Any]) -> None:
        """Cancel a deadline that L{add} returned and that has not expired."""
        entry[1] = None
        self._dead += 1
        fifo = self._fifo
        if self._dead >= len(fifo):
            fifo.clear()
            self._dead = 0
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
        elif self._dead > self.COMPACT_MIN and 2 * self._dead > len(fifo):
            self._fifo = deque(e for e in fifo if e[1] is not None)
            self._dead = 0

    def __len__(self) -> int:
        """Deadlines pending (cancelled ones not counted)."""
        return len(self._fifo) - self._dead

    def _fire(self) -> None:
        self._timer = None
        now = self.clock.seconds()
        fifo = self._fifo
        while fifo and fifo[0][0] <= now:
            entry = fifo.popleft()
            protocol = entry[1]
            if protocol is None:
                self._dead -= 1
                continue
            entry[1] = None
            self._expire(protocol)
        if fifo and self._timer is None:
            self._timer = self.clock.callLater(
                max(0.0, fifo[0][0] - now), self._fire
            )
