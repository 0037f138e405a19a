"""
The timeouts of many downloads on one timer: L{Timeouts}.

Every download of a L{poetry.client.get_poems} run has a timeout, and nearly
all of them are cancelled (the poem arrives first).  One C{callLater} each
costs a L{DelayedCall}, a push onto the reactor's heap (ordered by Python
comparisons, a dozen of them with thousands in flight) and a cancellation
the reactor sweeps up later.  L{Timeouts} keeps them in one
L{poetry.deadline_queue.DeadlineQueue} instead (it is one), waited on by
one L{IDelayedCall}: a download started later
with the same duration expires later, so the queue's FIFO stays in
deadline order without sorting.

Why not the server's L{poetry.server.deadlines.Deadlines} (an
insertion-ordered dict, in due order only because all its deadlines have
one duration): the client does not import the server (docs/design.md,
"Dependencies run one way"), and a client's timeouts are not all of one
duration (an attempt after a refused address gets what is left of the
download's), so one set later may be due earlier: the queue's heap takes
those.  They are never renewed.
"""

from __future__ import annotations

from collections.abc import Callable
from math import inf
from typing import Any
from typing import Protocol as _Interface

from twisted.internet.interfaces import IDelayedCall

from poetry.deadline_queue import DeadlineQueue

__all__ = ["Timeouts"]


class Clock(_Interface):
    """What L{Timeouts} needs of a reactor: L{IReactorTime}'s two methods."""

    def seconds(self) -> float:
        """The current time in seconds."""

    def callLater(self, delay: float, f: Callable[..., object], /) -> Any:
        """Call C{f} after C{delay} seconds; return the L{IDelayedCall}."""


class Timeouts(DeadlineQueue):
    """
    Timeouts on one timer.  L{add} sets one (C{expire(target)} after
    C{seconds}, unless cancelled), L{DeadlineQueue.cancel} cancels it; each expires
    exactly at its time, never earlier.  One C{expire} for all, as the
    server's deadlines have: an entry holds its target, not a bound method
    made for it.

    Entries are C{[due, target]} lists in a L{DeadlineQueue}: those added
    in deadline order (the usual case: one duration for every download) go
    to its FIFO, an earlier one (a shorter duration) to its heap.  One
    L{IDelayedCall} waits for the earliest entry; when every entry is
    cancelled the timer is cancelled too, so an idle L{Timeouts} leaves
    nothing on the reactor.
    """

    def __init__(self, clock: Clock, expire: Callable[[Any], object]) -> None:
        DeadlineQueue.__init__(self)
        self.clock = clock
        self.expire = expire
        self._timer: IDelayedCall | None = None
        self._timer_due = inf

    def add(
        self, seconds: float, target: object, now: float | None = None
    ) -> list[Any]:
        """
        Call C{expire(target)} C{seconds} from now, unless
        L{DeadlineQueue.cancel}led first.  C{target} must not be L{None}.

        @param now: the clock's time now, if the caller has just read it.
        @return: the entry, for L{DeadlineQueue.cancel}.
        """
        due = (self.clock.seconds() if now is None else now) + seconds
        entry = [due, target]
        self.push(entry)
        if due < self._timer_due:
            self._arm(due, seconds)
        return entry

    def emptied(self) -> None:
        """Every timeout was cancelled: stop the timer."""
        timer, self._timer = self._timer, None
        self._timer_due = inf
        if timer is not None:
            timer.cancel()

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
        for _ in range(self.held):
            entry = self.pop(limit)
            if entry is None:
                break
            target, entry[1] = entry[1], None
            self.expire(target)
        due = self.first_due()
        if due < self._timer_due:
            self._arm(due, due - self.clock.seconds())
