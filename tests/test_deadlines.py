"""
Tests for L{poetry.server.deadlines}: L{Deadlines}, many timeouts of one
duration on one timer (an insertion-ordered dict), and
L{DeadlineTimeoutMixin}, TimeoutMixin's interface on them.  More in
tests/test_wire.py (DeadlinesTests, DeadlineTimeoutMixinTests) and, for the
linger bound and idle timeout of real protocols, test_wire and test_server.
"""

from __future__ import annotations

import gc
import math
import sys
import weakref
from operator import methodcaller
from typing import Any

from twisted.trial.unittest import SynchronousTestCase

from poetry.server.deadlines import Deadlines, DeadlinesByDuration, DeadlineTimeoutMixin
from tests.helpers import BoundedClock


class Target:
    """A target that can be weakly referenced."""


class Expiries:
    """An C{expire} recording (target, time); a callable target is called."""

    def __init__(self, clock: BoundedClock) -> None:
        self.clock = clock
        self.fired: list[tuple[Any, float]] = []

    def __call__(self, target: Any) -> None:
        self.fired.append((target, self.clock.seconds()))
        if callable(target):
            target()


class DeadlinesTests(SynchronousTestCase):
    """Exact expiry, cancel, renewal and the memory held."""

    def setUp(self) -> None:
        self.clock = BoundedClock()
        self.expiries = Expiries(self.clock)
        self.deadlines = Deadlines(self.clock, 5.0, self.expiries)

    def test_expiresAtExactlyItsTime(self) -> None:
        """
        A deadline set at a time that is not a whole number expires at
        exactly that time plus C{seconds}: not one step of the clock before
        (C{nextafter}), and at it.
        """
        self.clock.advance(0.1)
        self.deadlines.add("a")
        due = 0.1 + 5.0
        self.clock.advance(math.nextafter(due, 0.0) - self.clock.seconds())
        self.assertEqual(self.expiries.fired, [])
        self.clock.advance(due - self.clock.seconds())
        self.assertEqual(self.expiries.fired, [("a", due)])
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_timersOwnCallExpiresWhatItWaitedFor(self) -> None:
        """
        The timer's call, run when the clock reads a hair before the due
        time it was set for (rounding of the reactor's own arithmetic),
        still expires that deadline and leaves no timer due now.
        """
        self.clock.advance(0.3)
        self.deadlines.add("a")
        [call] = self.clock.getDelayedCalls()
        self.clock.calls.remove(call)
        self.clock.rightNow = math.nextafter(0.3 + 5.0, 0.0)
        call.func(*call.args, **call.kw)
        self.assertEqual([t for t, _ in self.expiries.fired], ["a"])
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_cancelFreesTheTargetAtOnce(self) -> None:
        """A cancelled deadline lets go of its target there and then."""
        self.deadlines.add("kept")
        target = Target()
        ref = weakref.ref(target)
        self.deadlines.add(target)
        self.deadlines.cancel(target)
        del target
        gc.collect()
        self.assertIsNone(ref())
        self.assertEqual(list(self.deadlines.pending), ["kept"])

    def test_heldBoundedByTheLive(self) -> None:
        """
        However many deadlines come and go behind a long-pending one, what
        is held stays the size of a dict of a few entries: cancelled ones
        are not kept until they come due.
        """
        self.deadlines.add("kept")
        small = sys.getsizeof({i: 0.0 for i in range(8)})
        for i in range(5_000):
            self.deadlines.add(i)
            self.deadlines.cancel(i)
            self.assertLessEqual(sys.getsizeof(self.deadlines.pending), small)
        self.clock.advance(5.0)
        self.assertEqual(self.expiries.fired, [("kept", 5.0)])

    def test_emptiedStopsTheTimer(self) -> None:
        """
        Cancelling the last deadline cancels the timer and lets go of the
        dict's table; cancelling one of several, or one not pending, does
        not touch the timer.
        """
        for i in range(100):
            self.deadlines.add(i)
        for i in range(99):
            self.deadlines.cancel(i)
        self.deadlines.cancel("never set")
        [call] = self.clock.getDelayedCalls()
        self.deadlines.cancel(99)
        self.assertEqual(self.clock.getDelayedCalls(), [])
        self.assertFalse(call.active())
        self.assertEqual(sys.getsizeof(self.deadlines.pending), sys.getsizeof({}))
        self.clock.advance(10.0)
        self.assertEqual(self.expiries.fired, [])

    def test_wakesForACancelledFirstAndWaitsOn(self) -> None:
        """
        The timer waits for the first deadline; if that one was cancelled
        it wakes, expires nothing, and waits for the next one's time.
        """
        self.deadlines.add("a")
        self.clock.advance(2.0)
        self.deadlines.add("b")
        self.deadlines.cancel("a")
        self.clock.advance(3.0)  # t=5: a's time
        self.assertEqual(self.expiries.fired, [])
        [call] = self.clock.getDelayedCalls()
        self.assertEqual(call.getTime(), 7.0)
        self.clock.advance(2.0)
        self.assertEqual(self.expiries.fired, [("b", 7.0)])

    def test_renewMovesBehindLaterOnes(self) -> None:
        """
        A renewed deadline is due at its renewal plus C{seconds}: after one
        set before the renewal, before one set after it; renewing a target
        with no deadline pending sets none.
        """
        self.deadlines.add("a")  # t=0
        self.clock.advance(1.0)
        self.deadlines.add("b")  # t=1
        self.clock.advance(1.0)
        self.deadlines.renew("a")  # t=2: a due at 7
        self.clock.advance(0.5)
        self.deadlines.add("c")  # t=2.5
        self.deadlines.renew("never set")
        self.assertEqual(list(self.deadlines.pending), ["b", "a", "c"])
        self.clock.advance(3.5)
        self.assertEqual(self.expiries.fired, [("b", 6.0)])
        self.clock.advance(0.99)
        self.assertEqual(self.expiries.fired, [("b", 6.0)])
        self.clock.advance(0.01)
        self.assertEqual(self.expiries.fired, [("b", 6.0), ("a", 7.0)])
        self.clock.advance(0.5)
        self.assertEqual([t for t, _ in self.expiries.fired], ["b", "a", "c"])
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_expiryRenewsOneDueWithIt(self) -> None:
        """
        An expiry that renews a deadline due at the same moment (its
        connection moved data) keeps that one from expiring then: it
        expires C{seconds} after the renewal.
        """

        def first() -> None:
            self.deadlines.renew("b")

        self.deadlines.add(first)
        self.deadlines.add("b")
        self.clock.advance(5.0)
        self.assertEqual(self.expiries.fired, [(first, 5.0)])
        self.clock.advance(5.0)
        self.assertEqual(self.expiries.fired, [(first, 5.0), ("b", 10.0)])

    def test_clockSteppedBackFiresNoneEarly(self) -> None:
        """
        A deadline set after the clock stepped back waits behind those set
        before the step: it may expire late, by at most the step, never
        early; those due together expire in due order.
        """
        self.clock.advance(20.0)
        self.deadlines.add("a")  # due 25
        self.clock.advance(2.0)
        self.deadlines.add("k")  # due 27
        self.clock.rightNow = 5.0  # stepped back by 17
        self.deadlines.add("j")  # due 10
        self.deadlines.cancel("a")
        self.clock.advance(20.0)  # t=25: k is first, not due
        self.assertEqual(self.expiries.fired, [])
        self.clock.advance(2.0)  # t=27: j (17 late, the step) and k
        self.assertEqual(self.expiries.fired, [("j", 27.0), ("k", 27.0)])
        self.assertEqual(self.clock.getDelayedCalls(), [])


class DeadlinesTimerTests(SynchronousTestCase):
    """L{Deadlines}' one timer over its pending dict."""

    def test_expiryAddingDoesNotDelayAnEarlierDeadline(self) -> None:
        """
        An expiry that sets a new deadline (whose C{add} arms the timer for
        C{seconds} later) does not delay a deadline renewed and pushed back
        for earlier than that: it still expires exactly at its renewal plus
        C{seconds}.
        """
        clock = BoundedClock()
        fired: list[tuple[str, float]] = []

        def expire(name: str) -> None:
            fired.append((name, clock.seconds()))
            if name == "a":
                deadlines.add("later")

        deadlines = Deadlines(clock, 10.0, expire)
        deadlines.add("a")
        clock.advance(1.0)
        deadlines.add("b")
        clock.advance(8.0)
        deadlines.renew("b")  # b now expires at 19
        clock.advance(1.0)
        self.assertEqual(fired, [("a", 10.0)])
        clock.advance(1.0)  # 11: the timer wakes for b, renewed: not due
        self.assertEqual(fired, [("a", 10.0)])
        clock.advance(8.0)
        self.assertEqual(fired, [("a", 10.0), ("b", 19.0)])
        clock.advance(1.0)
        self.assertEqual(fired[-1], ("later", 20.0))
        self.assertEqual(len(deadlines), 0)
        self.assertEqual(clock.getDelayedCalls(), [])

    def test_clockSteppedBack(self) -> None:
        """
        A deadline set after the clock stepped back (a wall clock reset) is
        due before those set earlier: it expires no earlier than its time,
        and with them, in due order (the timer, like the reactor's own,
        wakes at the time it was set for).
        """
        clock = BoundedClock()
        fired: list[tuple[str, float]] = []

        def expire(name: str) -> None:
            fired.append((name, clock.seconds()))

        deadlines = Deadlines(clock, 10.0, expire)
        clock.advance(20.0)
        deadlines.add("late")  # due 30: the timer waits for it
        clock.rightNow = 5.0
        deadlines.add("early")  # due 15
        deadlines.add("moved")  # due 15 too
        clock.advance(24.99)
        self.assertEqual(fired, [])
        clock.advance(0.01)
        self.assertEqual(fired, [("early", 30.0), ("moved", 30.0), ("late", 30.0)])
        self.assertEqual(clock.getDelayedCalls(), [])


class _Timed(DeadlineTimeoutMixin):
    """A L{DeadlineTimeoutMixin} on its own deadlines; records expiries."""

    def __init__(self, clock: BoundedClock) -> None:
        self.clock = clock
        self.factory = self  # the mixin's deadlines: self.factory.timeouts
        self.timeouts = DeadlinesByDuration(clock, methodcaller("timeout_expired"))
        self.events: list[tuple[str, float]] = []

    def timeoutConnection(self) -> None:
        self.events.append(("timeout", self.clock.seconds()))


class MixinClockTests(SynchronousTestCase):
    """L{DeadlineTimeoutMixin.setTimeout} given the caller's clock reading."""

    def setUp(self) -> None:
        self.clock = BoundedClock()
        self.timed = _Timed(self.clock)
        self.lingers = Deadlines(
            self.clock, 5.0, lambda t: t.events.append(("linger", self.clock.seconds()))
        )

    def test_setTimeoutWithTheCallersNow(self) -> None:
        """
        C{setTimeout(period, now)} and C{Deadlines.add(protocol, now)}, from
        a caller that has just read the clock, do not read it again; the
        deadline is still C{period} from then, exactly.
        """
        reads: list[float] = []
        clock = self.clock

        class Counted:
            def seconds(self) -> float:
                reads.append(clock.seconds())
                return clock.seconds()

            def callLater(self, delay: float, f: Any) -> Any:
                return clock.callLater(delay, f)

        self.timed.timeouts.clock = self.lingers.clock = Counted()  # type: ignore[assignment]
        clock.advance(10.0)
        self.timed.setTimeout(5.0, clock.seconds())
        self.lingers.add(self.timed, clock.seconds())
        self.assertEqual(reads, [])
        self.assertEqual(self.timed.timeouts[5.0].pending, {self.timed: 10.0})
        self.timed.setTimeout(None)
        self.timed.setTimeout(6.0)
        self.assertEqual(reads, [10.0])
        clock.advance(4.99)
        self.assertEqual(self.timed.events, [])
        clock.advance(0.01)
        self.assertEqual(self.timed.events, [("linger", 15.0)])
        clock.advance(1.0)
        self.assertEqual(self.timed.events, [("linger", 15.0), ("timeout", 16.0)])


class _Shared(DeadlineTimeoutMixin):
    """A L{DeadlineTimeoutMixin} on a factory's shared timeouts."""

    def __init__(self, factory: Any, name: str) -> None:
        self.factory = factory
        self.name = name

    def timeoutConnection(self) -> None:
        self.factory.events.append((self.name, self.factory.clock.seconds()))


class SharedMixinTests(SynchronousTestCase):
    """Protocols sharing their factory's L{Deadlines} through the mixin."""

    def setUp(self) -> None:
        self.clock = BoundedClock()
        self.factory = _Timed(self.clock)  # timeouts, clock, events
        self.a, self.b = _Shared(self.factory, "a"), _Shared(self.factory, "b")

    def test_resetMovesBehindLaterOnes(self) -> None:
        """
        C{resetTimeout} restarts a protocol's timeout from now: one set
        after it but before the reset expires first, at its own time, and
        the reset one C{period} after its reset, exactly.
        """
        self.a.setTimeout(5.0, self.clock.seconds())  # t=0
        self.clock.advance(1.0)
        self.b.setTimeout(5.0)  # t=1
        self.clock.advance(1.0)
        self.a.resetTimeout()  # t=2: a due at 7
        b_then_a = [("b", 6.0), ("a", 7.0)]
        for step, expired in ((3.99, 0), (0.01, 1), (0.99, 1), (0.01, 2)):
            self.clock.advance(step)
            self.assertEqual(self.factory.events, b_then_a[:expired])
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_cancelOneKeepsTheOther(self) -> None:
        """
        C{setTimeout(None)} on one protocol removes only its deadline: the
        other still expires on time, then no timer is left.
        """
        self.a.setTimeout(5.0)
        self.b.setTimeout(5.0)
        self.assertEqual(self.a.setTimeout(None), 5.0)
        self.assertEqual(list(self.factory.timeouts[5.0].pending), [self.b])
        self.a.resetTimeout()  # no timeout: nothing to restart
        self.clock.advance(5.0)
        self.assertEqual(self.factory.events, [("b", 5.0)])
        self.assertIsNone(self.b._timeouts)
        self.assertEqual(self.clock.getDelayedCalls(), [])
