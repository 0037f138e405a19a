"""
Timeouts of one fixed duration for many connections, on one timer
(L{Deadlines}); the factory's deadlines by duration (L{DeadlinesByDuration});
and L{DeadlineTimeoutMixin}, L{twisted.protocols.policies.TimeoutMixin}'s
interface on them: the one idle-timeout mechanism of every server protocol,
whatever it sends and however fast.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Any

from twisted.internet.interfaces import IDelayedCall, IReactorTime

__all__ = ["DeadlineTimeoutMixin", "Deadlines", "DeadlinesByDuration"]


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

    def renew(self, entry: list[Any]) -> list[Any]:
        """
        Restart a deadline that L{add} (or L{renew}) returned and that has
        not expired: it now expires C{seconds} from now.  Cheaper than
        L{cancel} and L{add}: the timer is left as it is.

        @return: the new entry, to renew or cancel next.
        """
        protocol = entry[1]
        entry[1] = None
        self._dead += 1
        new = [self.clock.seconds() + self.seconds, protocol]
        fifo = self._fifo
        fifo.append(new)
        if self._dead > self.COMPACT_MIN and 2 * self._dead > len(fifo):
            self._compact()
        return new

    def _compact(self) -> None:
        self._fifo = deque(e for e in self._fifo if e[1] is not None)
        self._dead = 0

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
            self._compact()

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
    in shared L{Deadlines} (L{timeout_deadlines}) rather than an
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

    def timeout_deadlines(self, seconds: float) -> Deadlines:
        """
        The shared L{Deadlines} of C{seconds} whose expiry calls this
        protocol's L{timeout_expired}.
        """
        raise NotImplementedError

    def setTimeout(self, period: float | None) -> float | None:
        """
        Change the timeout to C{period} seconds from now (L{None}: no
        timeout), as L{TimeoutMixin.setTimeout}.

        @return: the previous timeout.
        """
        previous, self.timeOut = self.timeOut, period
        entry, self._timeout_entry = self._timeout_entry, None
        if entry is not None:
            self._timeouts.cancel(entry)  # type: ignore[union-attr]
        if period is not None:
            timeouts = self._timeouts = self.timeout_deadlines(period)
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
