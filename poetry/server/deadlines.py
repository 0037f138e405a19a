"""
Timeouts of one fixed duration for many connections, on one timer
(L{Deadlines}); the factory's deadlines by duration (L{DeadlinesByDuration});
and L{DeadlineTimeoutMixin}, L{twisted.protocols.policies.TimeoutMixin}'s
interface on them: the one idle-timeout mechanism of every server protocol,
whatever it sends and however fast.
"""

from __future__ import annotations

from collections.abc import Callable
from math import inf
from typing import Any

from twisted.internet.interfaces import IDelayedCall, IReactorTime

from poetry.deadline_queue import DeadlineQueue

__all__ = ["DeadlineTimeoutMixin", "Deadlines", "DeadlinesByDuration"]


class Deadlines(DeadlineQueue):
    """
    Timeouts of one fixed duration for many connections, on one timer.

    Every deadline is set as "now plus the same C{seconds}", so deadlines
    come up in the order they were set: a L{DeadlineQueue}'s FIFO replaces
    the reactor's heap, and one L{IDelayedCall} waits for the oldest.
    Setting a deadline costs a list and an append instead of a
    C{callLater}; cancelling it (L{DeadlineQueue.cancel}) drops the
    entry's reference to the protocol (freed at once).

    Renewing a deadline (data moved: restart it from now) only notes the
    time in its entry, as L{IDelayedCall.reset} to a later time does: when
    the entry comes up, a deadline renewed since is pushed back for exactly
    its renewal time plus C{seconds} (one push per C{seconds} per
    connection, not one per renewal), and expires only if nothing renewed
    it by then.  A slow connection renews at every drain of its transport,
    so this is most of what its timer costs.

    @ivar seconds: the duration of every deadline.
    """

    def __init__(
        self,
        clock: IReactorTime,
        seconds: float,
        expire: Callable[[Any], object],
    ) -> None:
        DeadlineQueue.__init__(self)
        self.clock = clock
        self.seconds = seconds
        self._expire = expire
        # Entries are [due, protocol or None, set or last renewed at].
        self._timer: IDelayedCall | None = None

    def add(self, protocol: object, now: float | None = None) -> list[Any]:
        """
        Call C{expire(protocol)} C{seconds} from now, unless cancelled.

        @param now: the clock's time now, if the caller has just read it (a
            read saved: about a third of what the rest of an add costs).
        """
        if now is None:
            now = self.clock.seconds()
        due = now + self.seconds
        entry = [due, protocol, now]
        # DeadlineQueue.push, inline (a call saved per deadline): due now
        # plus the one duration, it comes last unless the clock stepped back.
        fifo = self._fifo
        if fifo and fifo[-1][0] > due:
            self.push(entry)
        else:
            fifo.append(entry)
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

    def emptied(self) -> None:
        """Nothing is pending: stop the timer."""
        timer, self._timer = self._timer, None
        if timer is not None:
            timer.cancel()

    def _fire(self) -> None:
        self._timer = None
        now = self.clock.seconds()
        seconds = self.seconds
        # Each live entry is popped at most once: one pushed back is due
        # after now.
        for _ in range(self.held):
            entry = self.pop(now)
            if entry is None:
                break
            due = entry[2] + seconds
            if due > now:  # renewed since it was set: push back, exactly
                entry[0] = due
                self.push(entry)
                continue
            protocol, entry[1] = entry[1], None
            self._expire(protocol)
        if self._timer is not None:
            # An expiry set a deadline (and the timer, for it): wait for the
            # earliest instead, which may be one pushed back above.
            self._timer.cancel()
            self._timer = None
        due = self.first_due()
        if due < inf:
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

    def setTimeout(
        self, period: float | None, now: float | None = None
    ) -> float | None:
        """
        Change the timeout to C{period} seconds from now (L{None}: no
        timeout), as L{TimeoutMixin.setTimeout}: an entry in
        C{self.factory.timeouts[period]}, the factory's shared L{Deadlines}
        of that duration, whose expiry calls L{timeout_expired}.

        @param now: the clock's time now, if the caller has just read it
            (as L{Deadlines.add}'s).
        @return: the previous timeout.
        """
        previous = self.timeOut
        self.timeOut = period
        entry = self._timeout_entry
        if entry is not None:
            self._timeout_entry = None
            self._timeouts.cancel(entry)  # type: ignore[union-attr]
        if period is not None:
            timeouts = self._timeouts = self.factory.timeouts[period]
            self._timeout_entry = timeouts.add(self, now)
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
