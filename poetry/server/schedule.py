"""
Slow mode's schedule: every slow connection of one factory on a heap of
absolute due times served by a single timer.
"""

from __future__ import annotations

import heapq
from typing import TYPE_CHECKING, Any

from twisted.internet.interfaces import IDelayedCall, IReactorTime

if TYPE_CHECKING:
    from poetry.server.protocol import PoetryServerProtocol

__all__ = ["SlowSchedule"]


class SlowSchedule:
    """
    The send schedule of every slow-mode connection of one factory.

    Each connection has an absolute due time; a heap keeps the earliest on
    top and one L{IDelayedCall} waits for it.  When it fires, every
    connection that is due is sent its next chunk in that one call, and gets
    its next due time by adding C{delay} to the old one, so a late tick makes
    that chunk late but not the ones after it.

    A connection that is lost leaves the schedule at once: L{discard} drops
    the heap entry's reference to it, so the protocol and its transport are
    freed then, not at their next due time.  The emptied entry (a small
    list) is skipped when it comes up; once more than half the heap is
    emptied entries, the heap is rebuilt without them (amortised O(1) per
    connection), so they never hold more memory than the live entries.
    """

    #: Rebuild the heap only past this many emptied entries.
    COMPACT_MIN = 64

    def __init__(self, clock: IReactorTime, delay: float) -> None:
        self.clock = clock
        self.delay = delay
        # Entries are [due, seq, protocol or None]: seq is unique, so two
        # entries never compare their protocols.
        self._heap: list[list[Any]] = []
        self._seq = 0
        self._dead = 0
        self._call: IDelayedCall | None = None
        self._call_at = 0.0
        #: The clock's time at the current (or last) tick.
        self.now = 0.0

    def add(self, protocol: PoetryServerProtocol, due: float) -> None:
        """Send C{protocol} its next chunk at C{due} (reactor seconds)."""
        self._seq += 1
        entry = [due, self._seq, protocol]
        protocol._entry = entry
        heapq.heappush(self._heap, entry)
        if self._call is None or due < self._call_at:
            self._reschedule()

    def _reschedule(self) -> None:
        if self._call is not None:
            self._call.cancel()
            self._call = None
        if not self._heap:
            return
        due = self._heap[0][0]
        self._call_at = due
        self._call = self.clock.callLater(
            max(0.0, due - self.clock.seconds()), self._tick
        )

    def _tick(self) -> None:
        self._call = None
        now = self.now = self.clock.seconds()
        heap = self._heap
        delay = self.delay
        while heap and heap[0][0] <= now:
            entry = heapq.heappop(heap)
            proto = entry[2]
            if proto is None:
                self._dead -= 1
                continue
            if proto.send_chunk():
                self._seq += 1
                entry[0] += delay
                entry[1] = self._seq
                heapq.heappush(heap, entry)
            else:
                proto._entry = None
        self._reschedule()

    def discard(self, protocol: PoetryServerProtocol) -> None:
        """Forget a connection that has gone, at once."""
        entry = protocol._entry
        if entry is None:
            return
        protocol._entry = None
        entry[2] = None
        heap = self._heap
        if heap[0] is entry:
            heapq.heappop(heap)
            if not heap and self._call is not None:
                self._call.cancel()
                self._call = None
            return
        self._dead += 1
        if self._dead > self.COMPACT_MIN and 2 * self._dead > len(heap):
            self._heap = [e for e in heap if e[2] is not None]
            heapq.heapify(self._heap)
            self._dead = 0

    def __len__(self) -> int:
        """Connections scheduled (emptied entries not counted)."""
        return len(self._heap) - self._dead

    def stop(self) -> None:
        """Cancel the timer; pending connections are no longer served."""
        if self._call is not None:
            self._call.cancel()
            self._call = None
        for entry in self._heap:
            if entry[2] is not None:
                entry[2]._entry = None
        self._heap.clear()
        self._dead = 0
