"""
Slow mode's schedule: every slow connection of one factory in due order,
served by a single timer.
"""

from __future__ import annotations

from bisect import insort
from collections import deque
from operator import itemgetter
from typing import TYPE_CHECKING, Any

from twisted.internet.interfaces import IDelayedCall, IReactorTime

if TYPE_CHECKING:
    from poetry.server.protocol import PoetryServerProtocol

__all__ = ["SlowSchedule"]

_DUE = itemgetter(0)


class SlowSchedule:
    """
    The send schedule of every slow-mode connection of one factory.

    Each connection has an absolute due time and one L{IDelayedCall} waits
    for the earliest.  When it fires, every connection that is due is sent
    its next chunk in that one call, and gets its next due time by adding
    C{delay} to the old one, so a late tick makes that chunk late but not
    the ones after it.

    Every connection waits the same C{delay} between chunks, so due times
    come up in the order they were set, as L{poetry.server.deadlines}'
    do: two FIFOs replace a heap.  New connections join C{_fresh} (their
    first due time is "now plus C{delay}", later for each one added);
    each connection served joins C{_next} at its old due time plus
    C{delay}, and since connections are served in due order, so are those.
    The next due is the earlier of the two heads: taking a connection and
    putting it back costs two deque operations and a comparison, where a
    heap of thousands of entries compares a dozen of them each way.  (A
    due time set out of order, earlier than the last one set, is inserted
    in its place; with the reactor's clock and a fixed C{delay} that does
    not happen.)

    A connection that is lost leaves the schedule at once: L{discard} drops
    its entry's reference to it, so the protocol and its transport are
    freed then, not at their next due time.  The emptied entry (a small
    list) is skipped when it comes up; once more than half of what is held
    is emptied entries, both FIFOs are rebuilt without them (amortised O(1)
    per connection), so they never hold more memory than the live entries.

    @ivar delay: seconds between two chunks of a connection; change it only
        while no connection is scheduled (C{len(schedule) == 0}).
    """

    #: Rebuild the FIFOs only past this many emptied entries.
    COMPACT_MIN = 64

    def __init__(self, clock: IReactorTime, delay: float) -> None:
        self.clock = clock
        self.delay = delay
        # Entries are [due, protocol or None], each FIFO in due order.
        self._fresh: deque[list[Any]] = deque()
        self._next: deque[list[Any]] = deque()
        self._dead = 0
        self._call: IDelayedCall | None = None
        self._call_at = 0.0

    def add(self, protocol: PoetryServerProtocol, due: float) -> None:
        """Send C{protocol} its next chunk at C{due} (reactor seconds)."""
        entry = [due, protocol]
        protocol._entry = entry
        fresh = self._fresh
        if fresh and due < fresh[-1][0]:
            insort(fresh, entry, key=_DUE)
        else:
            fresh.append(entry)
        if self._call is None or due < self._call_at:
            self._reschedule()

    def _reschedule(self) -> None:
        if self._call is not None:
            self._call.cancel()
            self._call = None
        fresh, later = self._fresh, self._next
        if fresh and (not later or fresh[0][0] <= later[0][0]):
            due = fresh[0][0]
        elif later:
            due = later[0][0]
        else:
            return
        self._call_at = due
        self._call = self.clock.callLater(
            max(0.0, due - self.clock.seconds()), self._tick
        )

    def _tick(self) -> None:
        self._call = None
        now = self.clock.seconds()
        delay = self.delay
        # The FIFOs are read afresh at each turn: a chunk's send may lose
        # connections, and so rebuild them.
        while True:
            fresh, later = self._fresh, self._next
            if fresh and (not later or fresh[0][0] <= later[0][0]):
                if fresh[0][0] > now:
                    break
                entry = fresh.popleft()
            elif later and later[0][0] <= now:
                entry = later.popleft()
            else:
                break
            proto = entry[1]
            if proto is None:
                self._dead -= 1
                continue
            if proto.send_chunk():
                due = entry[0] = entry[0] + delay
                later = self._next
                if later and due < later[-1][0]:
                    insort(later, entry, key=_DUE)
                else:
                    later.append(entry)
            else:
                proto._entry = None
        self._reschedule()

    def discard(self, protocol: PoetryServerProtocol) -> None:
        """Forget a connection that has gone, at once."""
        entry = protocol._entry
        if entry is None:
            return
        protocol._entry = None
        entry[1] = None
        self._dead += 1
        held = len(self._fresh) + len(self._next)
        if self._dead >= held:
            self._forget()
        elif self._dead > self.COMPACT_MIN and 2 * self._dead > held:
            self._fresh = deque(e for e in self._fresh if e[1] is not None)
            self._next = deque(e for e in self._next if e[1] is not None)
            self._dead = 0

    def __len__(self) -> int:
        """Connections scheduled (emptied entries not counted)."""
        return len(self._fresh) + len(self._next) - self._dead

    def _forget(self) -> None:
        """Cancel the timer and hold nothing."""
        if self._call is not None:
            self._call.cancel()
            self._call = None
        self._fresh.clear()
        self._next.clear()
        self._dead = 0

    def stop(self) -> None:
        """Cancel the timer; pending connections are no longer served."""
        for fifo in (self._fresh, self._next):
            for entry in fifo:
                if entry[1] is not None:
                    entry[1]._entry = None
        self._forget()
