"""
Tests for L{poetry.client.timeouts.Timeouts}, the client's timeouts on one
timer, on a L{Clock}; and for the timeouts of L{get_poems}' downloads,
which share one.
"""

from __future__ import annotations

import gc
import weakref

from twisted.internet.testing import MemoryReactorClock
from twisted.trial.unittest import SynchronousTestCase

from poetry.client import get_poems
from poetry.client.timeouts import Timeouts
from poetry.deadline_queue import DeadlineQueue
from poetry.errors import PoemTimeout
from tests.helpers import BoundedClock

from .test_client import POEM, serve_fake


class Expiries:
    """An C{expire}: records each target and the clock time it expired at."""

    def __init__(self, clock: BoundedClock) -> None:
        self.clock = clock
        self.fired: list[tuple[object, float]] = []

    def __call__(self, target: object) -> None:
        if callable(target):
            target()
        else:
            self.fired.append((target, self.clock.seconds()))


class TimeoutsTests(SynchronousTestCase):
    """Each timeout expires exactly at its time unless cancelled."""

    def setUp(self) -> None:
        self.clock = BoundedClock()
        self.expiry = Expiries(self.clock)
        self.timeouts = Timeouts(self.clock, self.expiry)

    def test_expiresExactlyAtItsTime(self) -> None:
        """Not a moment before C{seconds}; once, at C{seconds}."""
        self.timeouts.add(5.0, "a")
        self.clock.advance(4.999)
        self.assertEqual(self.expiry.fired, [])
        self.clock.advance(0.001)
        self.assertEqual(self.expiry.fired, [("a", 5.0)])
        self.clock.advance(100)
        self.assertEqual(len(self.expiry.fired), 1)
        self.assertEqual(self.clock.getDelayedCalls(), [])
        self.assertEqual(len(self.timeouts), 0)

    def test_expiresInTheTimersOwnCall(self) -> None:
        """
        The timer's one call, at the due time, expires the timeout there and
        then, leaving no timer due now (a timer re-armed for "now" would
        make a reactor spin).
        """
        self.timeouts.add(5.0, "a")
        [call] = self.clock.getDelayedCalls()
        self.assertEqual(call.getTime(), 5.0)
        self.clock.rightNow = 5.0
        self.clock.calls.remove(call)
        call.func(*call.args, **call.kw)
        self.assertEqual(self.expiry.fired, [("a", 5.0)])
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_cancelled(self) -> None:
        """A cancelled timeout never expires, and leaves no timer behind."""
        entry = self.timeouts.add(5.0, "a")
        self.clock.advance(1)
        self.timeouts.cancel(entry)
        self.assertEqual(self.clock.getDelayedCalls(), [])
        self.clock.advance(10)
        self.assertEqual(self.expiry.fired, [])

    def test_oneTimerForMany(self) -> None:
        """
        Timeouts of one duration set one after another: one timer, and each
        expires at its own time, the cancelled ones skipped.
        """
        entries = []
        for i in range(4):
            entries.append(self.timeouts.add(5.0, str(i)))
            self.clock.advance(1)
        self.assertEqual(len(self.clock.getDelayedCalls()), 1)
        self.timeouts.cancel(entries[1])
        for _ in range(20):
            self.clock.advance(1)
        self.assertEqual(self.expiry.fired, [("0", 5.0), ("2", 7.0), ("3", 8.0)])
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_shorterAddedLaterExpiresFirst(self) -> None:
        """
        A shorter timeout set after a longer one (out of order) expires at
        its own, earlier time; the longer one still at its time.
        """
        self.timeouts.add(10.0, "long")
        self.clock.advance(1)
        self.timeouts.add(2.0, "short")
        self.assertEqual(len(self.clock.getDelayedCalls()), 1)
        self.clock.advance(1.5)
        self.assertEqual(self.expiry.fired, [])
        self.clock.advance(0.5)
        self.assertEqual(self.expiry.fired, [("short", 3.0)])
        self.clock.advance(6.5)
        self.assertEqual(len(self.expiry.fired), 1)
        self.clock.advance(0.5)
        self.assertEqual(self.expiry.fired, [("short", 3.0), ("long", 10.0)])
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_cancelTwiceCountsOnce(self) -> None:
        """
        Cancelling one timeout twice (or after it expired) changes nothing:
        the others still expire on time.
        """
        first = self.timeouts.add(5.0, "a")
        self.timeouts.add(5.0, "b")
        self.timeouts.add(6.0, "c")
        self.timeouts.cancel(first)
        self.timeouts.cancel(first)
        self.assertEqual(len(self.timeouts), 2)
        self.clock.advance(5)
        self.assertEqual(self.expiry.fired, [("b", 5.0)])
        late = self.timeouts.add(1.0, "d")
        self.clock.advance(1)
        self.assertEqual(self.expiry.fired, [("b", 5.0), ("c", 6.0), ("d", 6.0)])
        self.timeouts.cancel(late)  # expired already: nothing happens
        self.assertEqual(len(self.timeouts), 0)
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_expiryChangesOthers(self) -> None:
        """
        An expiry may cancel a timeout due at the same time, or set a new
        one: the cancelled one does not expire, the new one does, on time.
        """
        entries = {}

        def first() -> None:
            self.expiry.fired.append(("a", self.clock.seconds()))
            self.timeouts.cancel(entries["b"])
            self.timeouts.add(1.0, "c")

        self.timeouts.add(5.0, first)
        entries["b"] = self.timeouts.add(5.0, "b")
        self.clock.advance(5)
        self.assertEqual(self.expiry.fired, [("a", 5.0)])
        self.clock.advance(1)
        self.assertEqual(self.expiry.fired, [("a", 5.0), ("c", 6.0)])
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_cancelledFreedAndSwept(self) -> None:
        """
        A cancelled timeout's callable is freed at once, and cancelled
        entries behind a long-pending one are swept: what is held stays
        bounded however many come and go.
        """
        self.timeouts.add(1000.0, "pending")

        class Target:
            pass

        target = Target()
        ref = weakref.ref(target)
        entry = self.timeouts.add(5.0, target)
        self.timeouts.cancel(entry)
        del target
        gc.collect()
        self.assertIsNone(ref())
        for _ in range(1000):
            self.timeouts.cancel(self.timeouts.add(5.0, "x"))
        self.assertLessEqual(self.timeouts.held, 2 * DeadlineQueue.COMPACT_MIN + 2)
        self.assertEqual(len(self.timeouts), 1)
        self.clock.advance(1000)
        self.assertEqual(self.expiry.fired, [("pending", 1000.0)])


class SharedTimeoutTests(SynchronousTestCase):
    """Every download of a run keeps its own timeout on the run's one timer."""

    def test_eachDownloadItsOwnTimeout(self) -> None:
        """
        Two in flight, timeout 3: the first poem arrives at 1 and the third
        download starts then; the second times out at exactly 3, the third
        at exactly 4.
        """
        reactor = MemoryReactorClock()
        d = get_poems(["1", "2", "3"], concurrency=2, timeout=3, reactor=reactor)
        reactor.advance(1)
        serve_fake(reactor.tcpClients[0][2], POEM)
        self.assertEqual(len(reactor.tcpClients), 3)
        reactor.advance(1.999)
        self.assertNoResult(d)
        self.assertIsNotNone(reactor.tcpClients[1][2].deferred)
        reactor.advance(0.001)
        self.assertIsNone(reactor.tcpClients[1][2].deferred)
        self.assertIsNotNone(reactor.tcpClients[2][2].deferred)
        reactor.advance(0.999)
        self.assertIsNotNone(reactor.tcpClients[2][2].deferred)
        reactor.advance(0.001)
        first, second, third = self.successResultOf(d)
        self.assertTrue(first.ok)
        self.assertIsInstance(second.error, PoemTimeout)
        self.assertIsInstance(third.error, PoemTimeout)
        self.assertEqual((second.elapsed, third.elapsed), (3, 3))
        self.assertEqual(reactor.getDelayedCalls(), [])

    def test_successCancelsItsTimeout(self) -> None:
        """
        A poem that arrives cancels its download's timeout only: the other
        still times out on time, and nothing is left on the reactor.
        """
        reactor = MemoryReactorClock()
        d = get_poems(["1", "2"], timeout=3, reactor=reactor)
        timeouts = reactor.tcpClients[0][2].timeouts
        self.assertEqual(len(timeouts), 2)
        serve_fake(reactor.tcpClients[0][2], POEM)
        self.assertEqual(len(timeouts), 1)
        reactor.advance(3)
        first, second = self.successResultOf(d)
        self.assertTrue(first.ok)
        self.assertIsInstance(second.error, PoemTimeout)
        self.assertEqual(len(timeouts), 0)
        self.assertEqual(reactor.getDelayedCalls(), [])
