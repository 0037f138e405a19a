"""
The timeouts of many downloads on one timer: L{Timeouts}.

Every download of a L{poetry.client.get_poems} run has a timeout, and nearly
all of them are cancelled (the poem arrives first).  One C{callLater} each
costs a L{DelayedCall}, a push onto the reactor's heap (ordered by Python
comparisons, a dozen of them with thousands in flight) and a cancellation
the reactor sweeps up later.  L{Timeouts} keeps them in one FIFO instead,
waited on by one L{IDelayedCall}: a download started later with the same
duration expires later, so the FIFO stays in deadline order without
sorting.

Why not the server's L{poetry.server.deadlines.Deadlines}: the client must
not import the server (docs/design.md, "Dependencies run one way"), and a
client's timeouts are not all of one duration (an attempt after a refused
address gets what is left of the download's); they are never renewed.
"""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Callable
from math import inf
from typing import Any
from typing import Protocol as _Interface

from twisted.internet.interfaces import IDelayedCall

__all__ = ["Timeouts"]


class Clock(_Interface):
    """What L{Timeouts} needs of a reactor: L{IReactorTime}'s two methods."""

    def seconds(self) -> float:
        """The current time in seconds."""

    def callLater(self, delay: float, f: Callable[..., object], /) -> Any:
        """Call C{f} after C{delay} seconds; return the L{IDelayedCall}."""


class Timeouts:
    """
    Timeouts on one timer.  L{add} sets one (C{expire(target)} after
    C{seconds}, unless cancelled), L{cancel} cancels it; each expires
    exactly at its time, never earlier.  One C{expire} for all, as the
    server's deadlines have: an entry holds its target, not a bound method
    made for it.

    Entries are C{[due, target]} lists.  Those added in deadline order (the
    usual case: one duration for every download) go to a FIFO; an earlier
    one (a shorter duration) goes to a heap beside it.  One L{IDelayedCall}
    waits for the earliest entry.  A cancelled entry drops its target
    (freeing it at once) and is skipped when it comes up;
    cancelled entries are swept away once they are more than half of what
    is held, and when every entry is cancelled the timer is cancelled too,
    so an idle L{Timeouts} leaves nothing on the reactor.
    """

    COMPACT_MIN = 64
    """Sweep cancelled entries only past this many."""

    def __init__(self, clock: Clock, expire: Callable[[Any], object]) -> None:
        self.clock = clock
        self.expire = expire
        self._fifo: deque[list[Any]] = deque()
        self._heap: list[tuple[float, int, list[Any]]] = []
        self._seq = 0
        self._dead = 0
        self._timer: IDelayedCall | None = None
        self._timer_due = inf

    def __len__(self) -> int:
        """Timeouts pending (cancelled ones not counted)."""
        return len(self._fifo) + len(self._heap) - self._dead

    def add(
        self, seconds: float, target: object, now: float | None = None
    ) -> list[Any]:
        """
        Call C{expire(target)} C{seconds} from now, unless L{cancel}led
        first.  C{target} must not be L{None}.

        @param now: the clock's time now, if the caller has just read it.
        @return: the entry, for L{cancel}.
        """
        due = (self.clock.seconds() if now is None else now) + seconds
        entry = [due, target]
        fifo = self._fifo
        if not fifo or fifo[-1][0] <= due:
            fifo.append(entry)
        else:
            self._seq += 1
            heapq.heappush(self._heap, (due, self._seq, entry))
        if due < self._timer_due:
            self._arm(due, seconds)
        return entry

    def cancel(self, entry: list[Any]) -> None:
        """Cancel a timeout that L{add} returned, if it has not expired."""
        if entry[1] is None:
            return  # expired or cancelled already
        entry[1] = None
        self._dead += 1
        held = len(self._fifo) + len(self._heap)
        if self._dead >= held:
            self._fifo.clear()
            self._heap.clear()
            self._dead = 0
            timer, self._timer = self._timer, None
            self._timer_due = inf
            if timer is not None:
                timer.cancel()
        elif self._dead > self.COMPACT_MIN and 2 * self._dead > held:
            self._fifo = deque(e for e in self._fifo if e[1] is not None)
            self._heap = [item for item in self._heap if item[2][1] is not None]
            heapq.heapify(self._heap)
            self._dead = 0

    def _arm(self, due: float, delay: float) -> None:
        """Wait for C{due} (C{delay} from now) instead of a later time."""
        if self._timer is not None:
            self._timer.cancel()
        self._timer_due = due
        self._timer = self.clock.callLater(max(0.0, delay), self._fire)

    def _fire(self) -> None:
        # Everything due by the time the timer was set for has expired: its
        # own entry (whatever rounding did to "now") and any at that time.
        self._timer = None
        limit = max(self.clock.seconds(), self._timer_due)
        self._timer_due = inf
        # The FIFO and heap are read afresh each turn: an expiry may add or
        # cancel timeouts, and so sweep them.
        for _ in range(len(self._fifo) + len(self._heap)):
            fifo, heap = self._fifo, self._heap
            if heap and (not fifo or heap[0][0] < fifo[0][0]):
                if heap[0][0] > limit:
                    break
                entry = heapq.heappop(heap)[2]
            elif fifo and fifo[0][0] <= limit:
                entry = fifo.popleft()
            else:
                break
            target, entry[1] = entry[1], None
            if target is None:
                self._dead -= 1
                continue
            self.expire(target)
        fifo, heap = self._fifo, self._heap
        due = min(fifo[0][0] if fifo else inf, heap[0][0] if heap else inf)
        if due < self._timer_due:
            self._arm(due, due - self.clock.seconds())
