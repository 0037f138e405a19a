"""
Deadlines in due order, for timers shared by many connections: the one
structure under the server's idle timeouts and lingering bounds
(L{poetry.server.deadlines}) and the client's download timeouts
(L{poetry.client.timeouts}).  Neither side imports the other; both import
this.
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
    one (a shorter duration, a deadline renewed and pushed back) goes to a
    small heap beside the FIFO.  Pushing is an append, not a C{callLater}.

    Cancelling an entry drops its target (freeing it at once); the emptied
    entry is skipped when it comes up, and emptied entries are swept away
    once they are more than half of what is held (amortised O(1) each), so
    they never hold more memory than the live ones.

    The caller owns the timer and whatever else an entry holds after its
    target (the server notes when a deadline was renewed there).
    """

    COMPACT_MIN = 64
    """Sweep emptied entries only past this many."""

    def __init__(self) -> None:
        self._fifo: deque[list[Any]] = deque()
        self._heap: list[tuple[float, int, list[Any]]] = []
        self._seq = 0
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

    def cancel(self, entry: list[Any]) -> bool:
        """
        Cancel C{entry}: drop its target.  An entry already cancelled, or
        popped and emptied by its caller, changes nothing.

        @return: whether nothing live is left (everything held was
            cancelled and is now gone): the caller's timer has nothing to
            wait for.
        """
        if entry[1] is None:
            return not len(self)
        entry[1] = None
        self._dead += 1
        held = len(self._fifo) + len(self._heap)
        if self._dead >= held:
            self._fifo.clear()
            self._heap.clear()
            self._dead = 0
            return True
        if self._dead > self.COMPACT_MIN and 2 * self._dead > held:
            self._fifo = deque(e for e in self._fifo if e[1] is not None)
            self._heap = [item for item in self._heap if item[2][1] is not None]
            heapq.heapify(self._heap)
            self._dead = 0
        return False
