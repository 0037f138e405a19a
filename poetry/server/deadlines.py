"""
Timeouts of one fixed duration for many connections, on one timer
(L{Deadlines}); the factory's deadlines by duration (L{DeadlinesByDuration});
and L{DeadlineTimeoutMixin}, L{twisted.protocols.policies.TimeoutMixin}'s
interface on them: the one idle-timeout mechanism of every server protocol,
whatever it sends and however fast.
"""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Callable
from math import inf
from typing import Any

from twisted.internet.interfaces import IDelayedCall, IReactorTime

__all__ = ["DeadlineTimeoutMixin", "Deadlines", "DeadlinesByDuration"]


class Deadlines:
    """
    Timeouts of one fixed duration for many connections, on one timer.

    Every deadline is set as "now plus the same C{seconds}", so deadlines
    come up in the order they were set: a FIFO replaces the reactor's heap,
    and one L{IDelayedCall} waits for the oldest.  Setting a deadline costs
    a list and an append instead of a C{callLater}; cancelling it drops the
    entry's reference to the protocol (freed at once), emptied entries are
    skipped when they come up, and rebuilt away once they are more than
    half of what is held.

    Renewing a deadline (data moved: restart it from now) only notes the
    time in its entry, as L{IDelayedCall.reset} to a later time does: when
    the entry comes up, a deadline renewed since is re-armed for exactly
    its renewal time plus C{seconds} on a small heap beside the FIFO (one
    push per C{seconds} per connection, not one per renewal), and expires
    only if nothing renewed it by then.  A slow connection renews at every
    drain of its transport, so this is most of what its timer costs.

    @ivar seconds: the duration of every deadline.
    """

    #: Rebuild the FIFO and heap only past this many emptied entries.
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
        # Entries are [due, protocol or None, last start or renewal].
        self._fifo: deque[list[Any]] = deque()
        # Re-armed entries: (due, sequence number, entry).
        self._heap: list[tuple[float, int, list[Any]]] = []
        self._seq = 0
        self._dead = 0
        self._timer: IDelayedCall | None = None

    def add(self, protocol: object) -> list[Any]:
        """Call C{expire(protocol)} C{seconds} from now, unless cancelled."""
        now = self.clock.seconds()
        entry = [now + self.seconds, protocol, now]
        self._fifo.append(entry)
        if self._timer is None:
            self._timer = self.clock.callLater(self.seconds, self._fire)
        return entry

    def renew(self, entry: list[Any]) -> list[Any]:
        """
        Restart a deadline that L{add} returned and that has not expired:
        it now expires C{seconds} from now.

        @return: the entry, to renew or cancel next.
        """
        entry[2] = self.clock.seconds()
        return entry

    def _compact(self) -> None:
        self._fifo = deque(e for e in self._fifo if e[1] is not None)
        self._heap = [item for item in self._heap if item[2][1] is not None]
        heapq.heapify(self._heap)
        self._dead = 0

    def cancel(self, entry: list[Any]) -> None:
        """Cancel a deadline that L{add} returned and that has not expired."""
        entry[1] = None
        self._dead += 1
        held = len(self._fifo) + len(self._heap)
        if self._dead >= held:
            self._fifo.clear()
            self._heap.clear()
            self._dead = 0
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
        elif self._dead > self.COMPACT_MIN and 2 * self._dead > held:
            self._compact()

    def __len__(self) -> int:
        """Deadlines pending (cancelled ones not counted)."""
        return len(self._fifo) + len(self._heap) - self._dead

    def _fire(self) -> None:
        self._timer = None
        now = self.clock.seconds()
        seconds = self.seconds
        # self._fifo and self._heap are read afresh at each turn: an expiry
        # may cancel other deadlines, and so rebuild them.
        while True:
            fifo, heap = self._fifo, self._heap
            if heap and (not fifo or heap[0][0] < fifo[0][0]):
                if heap[0][0] > now:
                    break
                entry = heapq.heappop(heap)[2]
            elif fifo and fifo[0][0] <= now:
                entry = fifo.popleft()
            else:
                break
            protocol = entry[1]
            if protocol is None:
                self._dead -= 1
                continue
            due = entry[2] + seconds
            if due > now:  # renewed since it was set: re-arm, exactly
                entry[0] = due
                self._seq += 1
                heapq.heappush(heap, (due, self._seq, entry))
                continue
            entry[1] = None
            self._expire(protocol)
        fifo, heap = self._fifo, self._heap
        if self._timer is None and (fifo or heap):
            due = min(fifo[0][0] if fifo else inf, heap[0][0] if heap else inf)
            self._timer = self.clock.callLater(max(0.0, due - now), self._fire)


class DeadlinesByDuration(dict[float, Deadlines]):
    """
    A factory's L{Deadlines} of one kind (idle timeouts, lingering
    bounds), by duration (C{timeouts[seconds]}), each made when first asked
    for: every connection of a factory usually has the same durations, so
    each kind is one FIFO and one timer.  A dict, so that finding one is a
    lookup, not a call.

    @ivar expire: what each of them calls with an expired protocol.
    """

    def __init__(self, clock: IReactorTime, expire: Callable[[Any], object]) -> None:
        super().__init__()
        self.clock = clock
        self.expire = expire

    def __missing__(self, seconds: float) -> Deadlines:
        deadlines = self[seconds] = Deadlines(self.clock, seconds, self.expire)
        return deadlines


class DeadlineTimeoutMixin:
    """
    L{twisted.protocols.policies.TimeoutMixin}'s interface (L{setTimeout},
    L{resetTimeout}, L{timeoutConnection}, C{timeOut}), its timer an entry
    in its factory's shared L{Deadlines} (C{factory.timeouts}, a
    L{DeadlinesByDuration}: found by a lookup, not a call) rather than an
    L{IDelayedCall} of its own: setting, restarting and cancelling it cost
    a list and an append, not a C{callLater}, C{reset} and C{cancel} on the
    reactor's heap.  That is what lets every server connection have an
    idle timeout: a small fast poem sets and cancels one per connection, a
    streamed or slow one restarts it at each drain of the transport.

    @ivar timeOut: the timeout in seconds, or L{None} (as TimeoutMixin's).
    """

    timeOut: float | None = None
    _timeout_entry: list[Any] | None = None
    _timeouts: Deadlines | None = None
    #: Set by the protocol's factory: its shared deadlines by duration.
    factory: Any

    def setTimeout(self, period: float | None) -> float | None:
        """
        Change the timeout to C{period} seconds from now (L{None}: no
        timeout), as L{TimeoutMixin.setTimeout}: an entry in
        C{self.factory.timeouts[period]}, the factory's shared L{Deadlines}
        of that duration, whose expiry calls L{timeout_expired}.

        @return: the previous timeout.
        """
        previous, self.timeOut = self.timeOut, period
        entry, self._timeout_entry = self._timeout_entry, None
        if entry is not None:
            self._timeouts.cancel(entry)  # type: ignore[union-attr]
        if period is not None:
            timeouts = self._timeouts = self.factory.timeouts[period]
            self._timeout_entry = timeouts.add(self)
        return previous

    def resetTimeout(self) -> None:
        """Data moved: restart the timeout, if one is running."""
        entry = self._timeout_entry
        if entry is not None:
            self._timeout_entry = self._timeouts.renew(entry)  # type: ignore[union-attr]

    def timeout_expired(self) -> None:
        """Called by the L{Deadlines}: the timeout has passed."""
        self._timeout_entry = None
        self.timeoutConnection()

    def timeoutConnection(self) -> None:
        """What to do when the timeout passes; override it."""
        raise NotImplementedError
