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

__all__ = ["DeadlineTimeoutMixin", "Deadlines", "DeadlinesByDuration"]


class Deadlines:
    """
    Timeouts of one fixed duration for many connections, on one timer.

    Every deadline is "C{seconds} from when it was set", so the order they
    were set in is the order they come due: C{pending}, a dict from each
    target (a protocol) to the clock's time when its deadline was set, kept
    in insertion order, is in due order without sorting, and one
    L{IDelayedCall} waits for its first key's time.  Setting a deadline
    (L{add}) is one dict store, not a C{callLater}; cancelling it
    (L{cancel}) is one dict removal, which drops the reference to the
    target at once and leaves nothing to count or sweep later: the dict
    compacts its freed slots when it next grows, so its table stays sized
    by the targets it holds (as the factory's C{live} set does), and when
    nothing is left the table is let go of and the timer cancelled: an idle
    L{Deadlines} leaves nothing on the reactor.  A cancelled deadline that
    was first leaves the timer waiting for its time: it wakes, expires
    nothing, and waits for the first one left.

    Renewing a deadline (L{renew}: data moved, restart it from now) moves
    its target to the end with the time now, exactly as a new deadline set
    now: its due time is the renewal plus C{seconds}, and it stays in due
    order.

    The clock stepping back (a wall clock reset) can only delay an expiry,
    never bring one forward: a deadline set after the step waits behind
    those set before it, so it expires at most the step's length late.

    A target holds one deadline at a time in a L{Deadlines} (it is a key):
    set it again only once it has expired or been cancelled.  Targets are
    told apart by identity (a protocol's default hash).

    @ivar seconds: the duration of every deadline.
    @ivar pending: each pending target, to when its deadline was set (or
        last renewed), in due order.  Change it through L{add}, L{renew}
        and L{cancel}; a hot path that stores or deletes a target itself
        (saving a call) calls L{start} before storing into an empty one and
        L{stop} when it leaves it empty.
    """

    def __init__(
        self,
        clock: IReactorTime,
        seconds: float,
        expire: Callable[[Any], object],
    ) -> None:
        self.clock = clock
        self.seconds = seconds
        self._expire = expire
        self.pending: dict[Any, float] = {}
        self._timer: IDelayedCall | None = None
        #: The due time the timer waits for.
        self._timer_due = 0.0

    def __len__(self) -> int:
        """Deadlines pending."""
        return len(self.pending)

    def add(self, target: object, now: float | None = None) -> None:
        """
        Call C{expire(target)} C{seconds} from now, unless cancelled.

        @param now: the clock's time now, if the caller has just read it (a
            read saved).
        """
        if now is None:
            now = self.clock.seconds()
        pending = self.pending
        if not pending:
            self.start(now)
        pending[target] = now

    def renew(self, target: object) -> None:
        """
        Restart C{target}'s deadline: it now expires C{seconds} from now.  A
        target with no deadline pending is left without one.
        """
        pending = self.pending
        if pending.pop(target, None) is not None:
            pending[target] = self.clock.seconds()

    def cancel(self, target: object) -> None:
        """
        Cancel C{target}'s deadline, if it has one; if none is left, stop
        the timer.
        """
        pending = self.pending
        pending.pop(target, None)
        if not pending:
            self.stop()

    def start(self, now: float) -> None:
        """
        The first deadline since nothing was pending is being set, at
        C{now}: start the timer (none runs while nothing is pending).
        (L{add} calls it; a caller setting C{pending[target] = now} itself
        calls it first.)
        """
        self._arm(now + self.seconds, self.seconds)

    def stop(self) -> None:
        """
        Nothing is pending: stop the timer and let go of the dict's table.
        (L{cancel} calls it; a caller deleting from C{pending} itself calls
        it when it leaves C{pending} empty.)
        """
        timer, self._timer = self._timer, None
        if timer is not None:
            timer.cancel()
        # An emptied dict keeps its table; clear() frees it.
        self.pending.clear()

    def _arm(self, due: float, delay: float) -> None:
        """Wait for C{due}, C{delay} from now."""
        self._timer_due = due
        self._timer = self.clock.callLater(max(0.0, delay), self._fire)

    def _fire(self) -> None:
        self._timer = None
        now = self.clock.seconds()
        # What the timer waited for is due, whatever rounding did to "now".
        limit = max(now, self._timer_due)
        pending, seconds = self.pending, self.seconds
        due = []
        last, stepped = -inf, False
        for target, set_at in pending.items():
            if set_at + seconds > limit:
                break
            due.append(target)
            if set_at < last:
                stepped = True
            last = set_at
        if stepped:
            # The clock stepped back: those due expire in due order.
            due.sort(key=pending.__getitem__)
        for target in due:
            # An expiry may have cancelled or renewed one due after it.
            when = pending.get(target)
            if when is None or when + seconds > limit:
                continue
            del pending[target]
            self._expire(target)
        if self._timer is not None:
            # An expiry set a deadline (and the timer, for it): wait for the
            # first instead.
            self._timer.cancel()
            self._timer = None
        for set_at in pending.values():
            self._arm(set_at + seconds, set_at + seconds - now)
            break


class DeadlinesByDuration(dict[float, Deadlines]):
    """
    A factory's L{Deadlines} of one kind (idle timeouts, lingering
    bounds), by duration (C{timeouts[seconds]}), each made when first asked
    for: every connection of a factory usually has the same durations, so
    each kind is one dict and one timer.  A dict, so that finding one is a
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
    L{resetTimeout}, L{timeoutConnection}, C{timeOut}), its timer a
    deadline in its factory's shared L{Deadlines} (C{factory.timeouts}, a
    L{DeadlinesByDuration}: found by a lookup, not a call) rather than an
    L{IDelayedCall} of its own: setting, restarting and cancelling it cost
    a dict store or two, not a C{callLater}, C{reset} and C{cancel} on the
    reactor's heap.  That is what lets every server connection have an
    idle timeout: a small fast poem sets and cancels one per connection, a
    streamed or slow one restarts it at each drain of the transport.

    @ivar timeOut: the timeout in seconds, or L{None} (as TimeoutMixin's).
    """

    timeOut: float | None = None
    #: The L{Deadlines} holding this protocol's timeout, while one runs.
    _timeouts: Deadlines | None = None
    #: Set by the protocol's factory: its shared deadlines by duration.
    factory: Any

    def setTimeout(
        self, period: float | None, now: float | None = None
    ) -> float | None:
        """
        Change the timeout to C{period} seconds from now (L{None}: no
        timeout), as L{TimeoutMixin.setTimeout}: a deadline in
        C{self.factory.timeouts[period]}, the factory's shared L{Deadlines}
        of that duration, whose expiry calls L{timeout_expired}.

        @param now: the clock's time now, if the caller has just read it
            (as L{Deadlines.add}'s).
        @return: the previous timeout.
        """
        previous = self.timeOut
        self.timeOut = period
        timeouts = self._timeouts
        if timeouts is not None:
            # Deadlines.cancel, inline (a call saved: every fast connection
            # cancels one).  self is in timeouts.pending exactly while
            # self._timeouts is set.
            self._timeouts = None
            pending = timeouts.pending
            del pending[self]
            if not pending:
                timeouts.stop()
        if period is not None:
            timeouts = self._timeouts = self.factory.timeouts[period]
            if now is None:
                timeouts.add(self)
            else:
                # Deadlines.add, inline: a call saved per connection.
                pending = timeouts.pending
                if not pending:
                    timeouts.start(now)
                pending[self] = now
        return previous

    def resetTimeout(self) -> None:
        """Data moved: restart the timeout, if one is running."""
        timeouts = self._timeouts
        if timeouts is not None:
            timeouts.renew(self)

    def timeout_expired(self) -> None:
        """Called by the L{Deadlines}: the timeout has passed."""
        self._timeouts = None
        self.timeoutConnection()

    def timeoutConnection(self) -> None:
        """What to do when the timeout passes; override it."""
        raise NotImplementedError
