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
    one (a shorter duration, a deadline renewed and pushed back, a clock
    stepped back) goes to a small heap beside the FIFO.  Pushing is an
    append, not a C{callLater}.

    Cancelling an entry drops its target (freeing it at once); the emptied
    entry is skipped when it comes up, and emptied entries are swept away
    once they are more than half of what is held (amortised O(1) each), so
    they never hold more memory than the live ones.  Cancelling the last
    live entry lets go of everything held and calls L{emptied}.

    The owner of the timer subclasses it (the client's
    L{poetry.client.timeouts.Timeouts}) rather than wrapping it, so that
    setting or cancelling a deadline is one Python call, not two (a call
    costs about as much as everything else a cancel does); a subclass that
    knows an entry comes last may append it to C{_fifo} itself, as L{push}
    would.  Whatever an entry holds after its target is the subclass's.
    """

    COMPACT_MIN = 64
    """Sweep emptied entries only past this many."""

    def __init__(self) -> None:
        self._fifo: deque[list[Any]] = deque()
        self._heap: list[tuple[float, int, list[Any]]] = []
        self._seq = 0
        #: Cancelled entries still held.
        self._dead = 0
        #: The count of cancelled entries at which L{cancel} next looks at
        #: what is held (L{_tidy}): never later than the first cancel that
        #: could leave nothing live or cancelled entries past half, so
        #: that each cancel compares two numbers instead of counting what
        #: is held.  Pushes only put that moment off; pops bring it nearer.
        self._check_at = 0

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
            self._check_at -= 1
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
        dead = self._dead + 1
        self._dead = dead
        if dead >= self._check_at:
            self._tidy()

    def emptied(self) -> None:
        """
        The last live entry was cancelled: override it to stop the timer,
        which has nothing left to wait for.
        """

    def _tidy(self) -> None:
        """
        L{cancel}'s look at what is held: if cancelled entries are all of
        it, let go of them and call L{emptied}; if they are more than half
        of it, past L{COMPACT_MIN}, sweep them away (amortised O(1) per
        cancel); then set when to look next.
        """
        fifo, heap = self._fifo, self._heap
        dead = self._dead
        live = len(fifo) + len(heap) - dead
        if not live:
            fifo.clear()
            heap.clear()
            self._dead = self._check_at = 0
            self.emptied()
            return
        if dead > self.COMPACT_MIN and dead > live:
            kept = [e for e in fifo if e[1] is not None]
            fifo.clear()
            fifo.extend(kept)
            heap[:] = [item for item in heap if item[2][1] is not None]
            heapq.heapify(heap)
            dead = self._dead = 0
        # k more cancels (and no push) leave live - k live and dead + k
        # cancelled: nothing live at k = live at the soonest, past half and
        # past COMPACT_MIN at k > (live - dead) / 2 and k > COMPACT_MIN - dead.
        self._check_at = dead + min(
            live, max((live - dead) // 2 + 1, self.COMPACT_MIN - dead + 1)
        )
