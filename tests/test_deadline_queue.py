"""
Tests for L{poetry.deadline_queue}: the due-order structure under the
client's timeouts (the server's L{poetry.server.deadlines} has its own,
tested in tests/test_deadlines.py).
"""

from __future__ import annotations

import random
from typing import Any

from twisted.trial.unittest import SynchronousTestCase

from poetry.deadline_queue import DeadlineQueue
from tests.helpers import BoundedClock


def entry(due: float, name: str) -> list[Any]:
    return [due, name]


class Recorded(DeadlineQueue):
    """A L{DeadlineQueue} counting the calls of its L{emptied} hook."""

    emptied_calls = 0

    def emptied(self) -> None:
        self.emptied_calls += 1


class DeadlineQueueTests(SynchronousTestCase):
    """L{DeadlineQueue}."""

    def setUp(self) -> None:
        self.queue = Recorded()

    def popped(self, limit: float) -> list[str]:
        names = []
        for _ in range(self.queue.held):
            e = self.queue.pop(limit)
            if e is None:
                break
            names.append(e[1])
        return names

    def test_dueOrderFromFifoAndHeap(self) -> None:
        """
        Entries come out in due order whether pushed in order (the FIFO) or
        earlier than the last one pushed (the heap), and only those due by
        the limit.
        """
        for due, name in ((1.0, "a"), (3.0, "c"), (2.0, "b"), (5.0, "e"), (0.5, "z")):
            self.queue.push(entry(due, name))
        self.assertEqual(self.queue.first_due(), 0.5)
        self.assertEqual(self.popped(3.0), ["z", "a", "b", "c"])
        self.assertEqual(len(self.queue), 1)
        self.assertEqual(self.queue.first_due(), 5.0)
        self.assertEqual(self.popped(4.999), [])
        self.assertEqual(self.popped(5.0), ["e"])
        self.assertEqual(self.queue.first_due(), float("inf"))

    def test_equalDuesKeepTheirOrder(self) -> None:
        """Entries due at the same time come out in the order pushed."""
        for name in "abc":
            self.queue.push(entry(1.0, name))
        self.assertEqual(self.popped(1.0), ["a", "b", "c"])

    def test_cancelledSkipped(self) -> None:
        """A cancelled entry is never popped, and is not counted."""
        a, b, c = entry(1.0, "a"), entry(2.0, "b"), entry(0.5, "c")
        for e in (a, b, c):
            self.queue.push(e)
        self.queue.cancel(a)
        self.queue.cancel(c)
        self.assertEqual((a[1], c[1]), (None, None))
        self.assertEqual(len(self.queue), 1)
        self.assertEqual(self.queue.emptied_calls, 0)
        self.assertEqual(self.popped(10.0), ["b"])
        self.assertEqual(len(self.queue), 0)

    def test_cancelLastLiveCallsEmptied(self) -> None:
        """
        Cancelling the last live entry calls L{DeadlineQueue.emptied} (once:
        the owner stops its timer there), and lets go of everything held;
        cancelling one of several does not.
        """
        a, b = entry(1.0, "a"), entry(2.0, "b")
        self.queue.push(a)
        self.queue.push(b)
        self.queue.cancel(a)
        self.assertEqual(self.queue.emptied_calls, 0)
        self.queue.cancel(b)
        self.assertEqual(self.queue.emptied_calls, 1)
        self.assertEqual((len(self.queue), self.queue.held), (0, 0))
        self.queue.cancel(b)
        self.assertEqual(self.queue.emptied_calls, 1)

    def test_cancelTwiceOrAfterPopChangesNothing(self) -> None:
        """
        An entry cancelled twice, or cancelled after its caller popped and
        emptied it, is not counted again: the live count stays right.
        """
        a, b, c = entry(1.0, "a"), entry(2.0, "b"), entry(3.0, "c")
        for e in (a, b, c):
            self.queue.push(e)
        self.queue.cancel(a)
        self.queue.cancel(a)
        popped = self.queue.pop(2.0)
        assert popped is not None
        popped[1] = None
        self.queue.cancel(popped)
        self.assertEqual(len(self.queue), 1)
        self.assertEqual(self.queue.emptied_calls, 0)
        self.assertEqual(self.popped(3.0), ["c"])

    def test_sweptPastHalf(self) -> None:
        """
        Cancelled entries are swept once they outnumber the live ones (past
        COMPACT_MIN), so what is held stays bounded by the live entries.
        """
        self.queue.push(entry(10_000.0, "kept"))
        for i in range(5_000):
            e = entry(float(i), "x")
            self.queue.push(e)
            self.queue.cancel(e)
            self.assertLessEqual(self.queue.held, 2 * DeadlineQueue.COMPACT_MIN + 2)
        self.assertEqual(self.popped(20_000.0), ["kept"])

    def test_cancelLooksWhenItMust(self) -> None:
        """
        However pushes, pops and cancels interleave, a cancel calls
        L{DeadlineQueue.emptied} exactly when it leaves nothing live, and
        after every cancel the cancelled entries held are never more than
        the live ones past COMPACT_MIN: cancel's cheap check (one
        comparison, not a count of what is held) never skips a look that
        was due.
        """
        rng = random.Random(11)
        for trial in range(20):
            queue = Recorded()
            live: list[list[Any]] = []
            now = 0.0
            # Some runs grow hundreds of live entries, some stay near none.
            pushes = 0.6 if trial % 2 else 0.45
            for _ in range(3000):
                roll = rng.random()
                if roll < pushes or not live:
                    e = entry(now + rng.choice((5.0, 60.0)), "x")
                    queue.push(e)
                    live.append(e)
                elif roll < 0.97:
                    e = live.pop(rng.randrange(len(live)))
                    before = queue.emptied_calls
                    queue.cancel(e)
                    self.assertEqual(queue.emptied_calls - before, 0 if live else 1)
                    dead, pending = queue.held - len(queue), len(queue)
                    self.assertFalse(dead > Recorded.COMPACT_MIN and dead > pending)
                else:
                    now += rng.choice((1.0, 10.0))
                    for _ in range(queue.held):
                        popped = queue.pop(now)
                        if popped is None:
                            break
                        live.remove(popped)
                        popped[1] = None
                self.assertEqual(len(queue), len(live))


class BoundedClockTests(SynchronousTestCase):
    """The tests' L{BoundedClock}: a timer loop fails instead of spinning."""

    def test_timerLoopFails(self) -> None:
        """
        A call that re-arms itself for the instant it runs at fails the
        test at the LIMITth scheduling; calls spread over time do not.
        """
        clock = BoundedClock()
        ran: list[float] = []

        def again() -> None:
            ran.append(clock.seconds())
            clock.callLater(0, again)

        clock.callLater(1.0, again)
        self.assertRaises(AssertionError, clock.advance, 1.0)
        self.assertEqual(len(ran), BoundedClock.LIMIT - 1)
        spread = BoundedClock()
        for i in range(2 * BoundedClock.LIMIT):
            spread.callLater(float(i), lambda: None)
        spread.advance(2 * BoundedClock.LIMIT)
        self.assertEqual(spread.getDelayedCalls(), [])
