"""
Deadlines in due order, of several durations, for one timer shared by many
connections: the structure under the client's download timeouts
(L{poetry.client.timeouts}).  The server's deadlines
(L{poetry.server.deadlines}) are each of one duration and need less: an
insertion-ordered dict.
"""

from __future__ import annotations

import heapq
from collections import deque
from math import inf
from typing import Any

__all__ = ["DeadlineQueue"]


class DeadlineQueue:
    """
    Entries (lists C{[due, target, ...]}, C{target} never L{None}) kept in
    due order, for one timer to wait on the earliest.

    Timeouts of one duration set one after the other come due in the order
    they were set, so a FIFO holds them in due order without sorting: an
    entry due no earlier than the last one pushed is appended.  An earlier
    one (a shorter duration, a clock stepped back) goes to a small heap
    beside the FIFO.  Pushing is an append, not a C{callLater}.

    Cancelling an entry drops its target (freeing it at once); the emptied
    entry is skipped when it comes up, and emptied entries are swept away
    once they are more than half of what is held (amortised O(1) each), so
    they never hold more memory than the live ones.  Cancelling the last
    live entry lets go of everything held and calls L{emptied}.

    The owner of the timer subclasses it (the client's
    L{poetry.client.timeouts.Timeouts}) rather than wrapping it, so that
    setting or cancelling a deadline is one Python call, not two (a call
    costs about as much as everything else a cancel does).  Whatever an
    entry holds after its target is the subclass's.
    """

    COMPACT_MIN = 64
    """Sweep emptied entries only past this many."""

    def __init__(self) -> None:
        self._fifo: deque[list[Any]] = deque()
        self._heap: list[tuple[float, int, list[Any]]] = []
        self._seq = 0
        #: Cancelled entries still held.
        self._dead = 0

    def __len__(self) -> int:
        """Entries pending (cancelled ones not counted)."""
        return len(self._fifo) + len(self._heap) - self._dead

    @property
    def held(self) -> int:
        """Entries held, cancelled ones not yet swept included."""
        return len(self._fifo) + len(self._heap)

    def push(self, entry: list[Any]) -> None:
        """Hold C{entry} until it is L{pop}ped or cancelled."""
        fifo = self._fifo
        if not fifo or fifo[-1][0] <= entry[0]:
            fifo.append(entry)
        else:
            self._seq += 1
            heapq.heappush(self._heap, (entry[0], self._seq, entry))

    def first_due(self) -> float:
        """
        The earliest due time held (a cancelled entry's too: a timer set
        for it wakes early, pops nothing and waits again), or C{inf}.
        """
        fifo, heap = self._fifo, self._heap
        return min(fifo[0][0] if fifo else inf, heap[0][0] if heap else inf)

    def pop(self, limit: float) -> list[Any] | None:
        """
        Remove and return the earliest live entry due by C{limit}, or
        L{None} if there is none; cancelled entries on the way are dropped.
        """
        fifo, heap = self._fifo, self._heap
        while True:
            if heap and (not fifo or heap[0][0] < fifo[0][0]):
                if heap[0][0] > limit:
                    return None
                entry = heapq.heappop(heap)[2]
            elif fifo and fifo[0][0] <= limit:
                entry = fifo.popleft()
            else:
                return None
            if entry[1] is not None:
                return entry
            self._dead -= 1

    def cancel(self, entry: list[Any]) -> None:
        """
        Cancel C{entry}: drop its target.  An entry already cancelled, or
        popped and emptied by its owner, changes nothing.  If nothing live
        is left, everything held is let go of and L{emptied} is called.
        """
        if entry[1] is None:
            return
        entry[1] = None
        dead = self._dead = self._dead + 1
        fifo, heap = self._fifo, self._heap
        held = len(fifo) + len(heap)
        if dead >= held:
            fifo.clear()
            heap.clear()
            self._dead = 0
            self.emptied()
        elif dead > self.COMPACT_MIN and 2 * dead > held:
            # Cancelled entries outnumber the live ones: sweep them away
            # (amortised O(1) per cancel).
            kept = [e for e in fifo if e[1] is not None]
            fifo.clear()
            fifo.extend(kept)
            heap[:] = [item for item in heap if item[2][1] is not None]
            heapq.heapify(heap)
            self._dead = 0

    def emptied(self) -> None:
        """
        The last live entry was cancelled: override it to stop the timer,
        which has nothing left to wait for.
        """
